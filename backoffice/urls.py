from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Mobile operator back office"
admin.site.site_title = "Back office"
admin.site.index_title = "Numbers, subscribers and staff"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    # Staff screens outside the admin (transfers, approvals, complaints), in the admin's look.
    path("", include("numbers.urls")),
    path("", include("complaints.urls")),
    path("review/", include("audit.urls")),
]
