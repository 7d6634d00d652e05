"""Staff account pages outside the admin: the second factor (staff.views_twofactor)
and the password confirmation before sensitive actions (staff.reauth), under /account/."""

from django.urls import path

from . import reauth, views_twofactor

app_name = "staff"

urlpatterns = [
    path("confirm/", reauth.reauth_view, name="reauth"),
    path("second-factor/", views_twofactor.two_factor_verify, name="two_factor_verify"),
    path("second-factor/enrol/", views_twofactor.two_factor_enrol, name="two_factor_enrol"),
    path("second-factor/enrol/qr.svg", views_twofactor.two_factor_qr, name="two_factor_qr"),
    path("second-factor/backup-codes/", views_twofactor.two_factor_backup_codes, name="two_factor_backup_codes"),
]
