from django.contrib import admin
from django.core.exceptions import ValidationError

from backoffice.adminkit import CappedCountPaginator, NoDeleteAdminMixin
from backoffice.msisdn import normalize_msisdn
from staff.selectors import is_working

from .models import InboundSms, SmsMessage


@admin.register(SmsMessage)
class SmsMessageAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    """Read-only: the outbox is a record of what was sent.

    Only roles given ``sms.view_smsmessage`` (administrators and auditors) see it.
    One-time codes are masked in every body here and in the history; the sealed
    code waiting for delivery is never shown.
    """

    exclude = ["sealed_secret"]

    list_display = ["created_at", "to_msisdn", "purpose", "status", "attempts", "sent_at", "body"]
    list_filter = ["status", "purpose"]
    readonly_fields = ["last_error", "next_attempt_at", "dedupe_key"]
    search_fields = ["to_msisdn"]
    search_help_text = "The recipient's number in any format (012 345 678, +855 12 345 678, 85512345678)."
    ordering = ["-created_at", "-id"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def get_search_results(self, request, queryset, search_term):
        """An exact match on the recipient index, whatever format was typed; never icontains."""
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            msisdn = normalize_msisdn(term)
        except ValidationError:
            return queryset.none(), False
        return queryset.filter(to_msisdn=msisdn), False

    def has_view_permission(self, request, obj=None) -> bool:
        # The view permission itself: add/change grants do not open it, nor does a suspended account.
        return is_working(request.user) and request.user.has_perm("sms.view_smsmessage")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(InboundSms)
class InboundSmsAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    """Read-only: what subscribers sent to the portal and what it did (sms.inbound)."""

    list_display = ["received_at", "sender", "keyword", "status", "text", "answer"]
    list_filter = ["status", "keyword"]
    readonly_fields = ["gateway_message_id", "sender", "text", "keyword", "received_at", "status", "answer"]
    ordering = ["-received_at", "-id"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50

    def has_view_permission(self, request, obj=None) -> bool:
        return is_working(request.user) and request.user.has_perm("sms.view_inboundsms")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
