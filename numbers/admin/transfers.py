"""Transfer requests, consents and locks: evidence, read-only here; made by the
services on the transfer screens."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect

from backoffice.adminkit import standing_filter
from backoffice.screens import screen_url
from staff.selectors import branch_scope, has_branch_perm

from ..models import TransferConsent, TransferLock, TransferRequest
from .kit import EvidenceAdmin, ScopedBranchFilter


class TransferConsentBranchFilter(ScopedBranchFilter):
    path = "request__branch"


class NumberBranchFilter(ScopedBranchFilter):
    path = "number__branch"


class SignedFormOnFile:
    @admin.display(description="signed form", boolean=True)
    def signed_form_on_file(self, obj):
        # Whether a scan is on file, never a link: the scan itself is served only by
        # the transfer screen, which checks authority.
        return bool(obj.signed_form)

    @admin.display(description="document photo", boolean=True)
    def document_photo_on_file(self, obj):
        # Never a link either: reviewers open it through the transfer screen's checked view.
        return bool(obj.document_photo)


class TransferConsentInline(SignedFormOnFile, admin.TabularInline):
    """Both parties' consents on the request page, read-only; documents only masked."""

    model = TransferConsent
    fk_name = "request"
    extra = 0
    can_delete = False
    fields = (
        "party",
        "subscriber",
        "method",
        "document_type",
        "document_reference",
        "signed_form_on_file",
        "document_photo_on_file",
        "captured_by",
        "captured_at",
        "confirmed_by",
        "confirmed_at",
        "lapses_at",
        "revoked_at",
        "revoked_by",
        "revocation_reason",
    )
    readonly_fields = fields
    ordering = ("captured_at", "id")
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("subscriber", "captured_by", "revoked_by")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TransferRequest)
class TransferRequestAdmin(EvidenceAdmin):
    list_display = (
        "__str__",
        "number",
        "from_holder",
        "to_subscriber",
        "branch",
        "requested_by",
        "state",
        "created_at",
        "expires_at",
        "decided_by",
    )
    list_select_related = ("number", "from_holder", "to_subscriber", "branch", "requested_by", "decided_by")
    list_filter = ("state", ScopedBranchFilter)
    search_fields = ("number__msisdn",)
    ordering = ("-created_at", "-id")
    inlines = [TransferConsentInline]
    fieldsets = (
        (None, {"fields": ("number", "state", "branch", "reason")}),
        ("Parties", {"fields": ("from_holder", "to_subscriber")}),
        ("Request", {"fields": ("requested_by", "created_at", "expires_at", "holder_notified_at")}),
        (
            "First approval (two supervisors for a high risk flag)",
            {"fields": ("second_approval_required", "first_approved_by", "first_approved_at", "first_approval_reason")},
        ),
        ("Decision", {"fields": ("decided_by", "decided_at", "decision_reason")}),
        ("Closed without a decision", {"fields": ("closed_by", "closed_at", "close_reason")}),
    )

    def _create_screen_url(self, request) -> str | None:
        """The transfer screen, for those who may request transfers somewhere."""
        scope = branch_scope(request.user, "operate_branch")
        if not scope.anywhere or not request.user.has_perm("numbers.add_transferrequest"):
            return None
        return screen_url("numbers:transfer_create")

    def add_view(self, request, form_url="", extra_context=None):
        """No admin form makes a request: "add" leads to the transfer screen, which
        asks for both consents and a supervisor's approval."""
        url = self._create_screen_url(request)
        if url is None:
            raise PermissionDenied
        return HttpResponseRedirect(url)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "request_transfer_url": self._create_screen_url(request)}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        transfer = self.get_object(request, object_id)
        if transfer is not None:
            extra_context["transfer_screen_url"] = screen_url("numbers:transfer_detail", transfer.pk)
            if has_branch_perm(request.user, "supervise_branch", transfer.branch_id):
                extra_context["approval_screen_url"] = screen_url("numbers:approval_detail", transfer.pk)
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(TransferConsent)
class TransferConsentAdmin(SignedFormOnFile, EvidenceAdmin):
    """Consents as captured: the document checked is only ever shown masked."""

    branch_path = "request__branch"
    msisdn_path = "request__number__msisdn"
    list_display = (
        "__str__",
        "request",
        "request_number",
        "party",
        "subscriber",
        "method",
        "document_type",
        "document_reference",
        "captured_by",
        "captured_at",
        "lapses_at",
        "revoked_at",
    )
    list_select_related = ("request__number", "subscriber", "captured_by")
    list_filter = ("party", "method", TransferConsentBranchFilter)
    search_fields = ("request__number__msisdn",)
    ordering = ("-captured_at", "-id")
    fieldsets = (
        (None, {"fields": ("request", "party", "subscriber", "method")}),
        (
            "Evidence",
            {
                "fields": (
                    "document_type",
                    "document_reference",
                    "signed_form_on_file",
                    "document_photo_on_file",
                    "note",
                )
            },
        ),
        ("Captured", {"fields": ("captured_by", "captured_at", "lapses_at")}),
        ("Confirmed by a second employee", {"fields": ("confirmed_by", "confirmed_at")}),
        ("Revoked", {"fields": ("revoked_at", "revoked_by", "revocation_reason")}),
    )

    def branch_of(self, obj) -> int | None:
        return obj.request.branch_id

    @admin.display(description="number", ordering="request__number__msisdn")
    def request_number(self, obj):
        return obj.request.number


TransferLockStateFilter = standing_filter(
    field="lifted_at", title="lock", standing=("active", "In force"), ended=("lifted", "Lifted")
)


@admin.register(TransferLock)
class TransferLockAdmin(EvidenceAdmin):
    """Holders' locks against transfers; placed and lifted on the number's page."""

    branch_path = "number__branch"
    list_display = (
        "__str__",
        "number",
        "subscriber",
        "in_force",
        "placed_at",
        "placed_by",
        "place_reason",
        "lifted_at",
        "lifted_by",
    )
    list_select_related = ("number", "subscriber", "placed_by", "lifted_by")
    list_filter = (TransferLockStateFilter, NumberBranchFilter)
    search_fields = ("number__msisdn",)
    ordering = ("-placed_at", "-id")
    fieldsets = (
        (None, {"fields": ("number", "subscriber")}),
        ("Placed", {"fields": ("placed_at", "placed_by", "place_reason")}),
        ("Lifted", {"fields": ("lifted_at", "lifted_by", "lift_reason", "lift_evidence")}),
    )

    def branch_of(self, obj) -> int | None:
        return obj.number.branch_id

    @admin.display(description="in force", boolean=True)
    def in_force(self, obj):
        return obj.is_active
