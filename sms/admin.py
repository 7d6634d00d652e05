from django.contrib import admin

from backoffice.adminkit import CappedCountPaginator, NoDeleteAdminMixin

from .models import SmsMessage


@admin.register(SmsMessage)
class SmsMessageAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    """Read-only: the outbox is a record of what was sent."""

    list_display = ["created_at", "to_msisdn", "purpose", "body"]
    list_filter = ["purpose"]
    search_fields = ["=to_msisdn"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
