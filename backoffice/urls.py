from django.conf import settings
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
    path("review/", include("review.urls")),
    # Second factor (verify, enrol, backup codes) and the password confirmation before
    # approving, suspending or exporting (staff.views_twofactor, staff.reauth).
    path("account/", include("staff.urls")),
    # The SMS gateway posts subscribers' replies here (token-authenticated).
    path("sms/", include("sms.urls")),
]

if settings.DEBUG:
    # The development phone (sms.dev_phone): what each handset received, codes included.
    # Not routed at all without DEBUG, so production has no such page.
    urlpatterns.append(path("dev/phone/", include("sms.dev_phone")))
