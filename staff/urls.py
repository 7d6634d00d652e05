"""Staff account pages outside the admin: the password confirmation before sensitive actions."""

from django.urls import path

from . import reauth

app_name = "staff"

urlpatterns = [
    path("confirm/", reauth.reauth_view, name="reauth"),
]
