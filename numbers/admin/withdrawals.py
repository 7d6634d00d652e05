"""Withdrawal requests: evidence, read-only here; asked and decided on the withdrawal screens."""

from __future__ import annotations

from django.contrib import admin

from ..models import WithdrawalRequest
from .kit import EvidenceAdmin, ScopedBranchFilter


@admin.register(WithdrawalRequest)
class WithdrawalRequestAdmin(EvidenceAdmin):
    """Withdrawal requests of held numbers, read-only: asked and decided on the
    withdrawal screens (/withdrawals/), never edited or deleted here."""

    list_display = ("__str__", "number", "holder", "ground", "state", "branch", "requested_by", "created_at")
    list_select_related = ("number", "holder", "branch", "requested_by")
    list_filter = ("state", "ground", ScopedBranchFilter)
    search_fields = ("number__msisdn",)
    ordering = ("-created_at", "-id")
    fieldsets = (
        (None, {"fields": ("number", "holder", "branch", "ground", "state", "reason", "document_on_file")}),
        ("Request", {"fields": ("requested_by", "created_at", "holder_notified_at", "holder_consented_at")}),
        ("Decision", {"fields": ("decided_by", "decided_at", "decision_reason")}),
        ("Cancelled", {"fields": ("closed_by", "closed_at", "close_reason")}),
    )

    @admin.display(description="order or evidence on file", boolean=True)
    def document_on_file(self, obj):
        # Never a link: the document is served only by the withdrawal screen, which checks authority.
        return bool(obj.document)
