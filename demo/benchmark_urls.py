"""The portal's URLs plus a stock Django admin of the numbers table: ``benchmark_admin``'s
baseline, measured in the same run, so each page is read as a ratio to what Django's own
changelist, tuned as any team would tune it, costs on the same rows and machine."""

from django.contrib import admin
from django.urls import path

from backoffice.urls import urlpatterns as portal
from numbers.models import MobileNumber


class StockNumberAdmin(admin.ModelAdmin):
    """A few columns, the branch joined, no full count: no portal code (no branch scope,
    no audit, no capped count) between Django and the table."""

    list_display = ("msisdn", "status", "branch")
    list_select_related = ("branch",)
    list_filter = ("status",)
    search_fields = ("msisdn",)
    show_full_result_count = False


stock_site = admin.AdminSite(name="stock_admin")
stock_site.register(MobileNumber, StockNumberAdmin)

urlpatterns = [path("stock-admin/", stock_site.urls), *portal]
