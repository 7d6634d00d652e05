"""What every admin of the complaint case shares: read-only evidence, scoped to the
branches the user sees, found by reference or MSISDN, with the case's inlines."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin

from backoffice.screens import screen_url
from numbers.admin.kit import EvidenceAdmin, ScopedBranchFilter, search_by_msisdn

from ..choices import SlaStatus
from ..models import CompensationOffer, ComplaintNumber, EmergencyBlock, EmployeeFlag, RegulatorCase, Restoration
from ..selectors import sla_filter

REFERENCE_HELP = "A complaint reference (C-2026-000123, or its beginning)"


def handling_url(complaint_id: int) -> str | None:
    """The complaint's page on the complaint screens, or None while they are not installed."""
    return screen_url("complaints:complaint_detail", complaint_id)


def format_duration(delta: timedelta | None) -> str:
    if delta is None:
        return "—"
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days} d"] if days else []
    if hours or days:
        parts.append(f"{hours} h")
    parts.append(f"{minutes:02d} min" if parts else f"{minutes} min")
    return " ".join(parts)


# --- The case: read-only evidence ----------------------------------------------------


class ComplaintBranchFilter(ScopedBranchFilter):
    path = "complaint__branch"


class ComplaintSlaFilter(admin.SimpleListFilter):
    """The SLA status the queue shows, as one WHERE clause (complaints.selectors.sla_filter)."""

    title = "SLA"
    parameter_name = "sla"

    def lookups(self, request, model_admin):
        return SlaStatus.choices

    def queryset(self, request, queryset):
        if self.value() in SlaStatus.values:
            return queryset.filter(sla_filter(self.value()))
        return queryset


class CaseAdmin(EvidenceAdmin):
    """A part of a complaint case: read-only, in the complaint's branch, found by the
    complaint's reference (or the number's MSISDN where it names one)."""

    branch_path = "complaint__branch"
    reference_path = "complaint__reference"
    msisdn_path: str | None = None
    search_fields = ("complaint__reference",)
    search_help_text = f"{REFERENCE_HELP}."

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if term.upper().startswith("C-"):
            return queryset.filter(**{f"{self.reference_path}__startswith": term.upper()}), False
        if self.msisdn_path:
            return search_by_msisdn(queryset, term, self.msisdn_path), False
        return self.search_other(queryset, term), False

    def search_other(self, queryset, term: str):
        return queryset.none()

    def branch_of(self, obj) -> int | None:
        return obj.complaint.branch_id


class CaseInline(admin.TabularInline):
    """One part of the case on the complaint's page: read-only, every row, one query."""

    extra = 0
    can_delete = False
    show_change_link = True
    related: tuple[str, ...] = ()

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*self.related)

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ComplaintNumberInline(CaseInline):
    model = ComplaintNumber
    fields = ("number", "added_at", "added_by")
    related = ("number", "added_by")
    verbose_name_plural = "numbers concerned"


class EmergencyBlockInline(CaseInline):
    model = EmergencyBlock
    fields = ("number", "blocked_at", "blocked_by", "reason", "lifted_at", "lifted_by", "lift_reason")
    related = ("number", "blocked_by", "lifted_by")
    ordering = ("blocked_at", "id")


class RestorationInline(CaseInline):
    model = Restoration
    fields = ("number", "from_holder", "to_subscriber", "state", "requested_by", "requested_at", "decided_by")
    related = ("number", "from_holder", "to_subscriber", "requested_by", "decided_by")
    ordering = ("requested_at", "id")


class OfferInline(CaseInline):
    model = CompensationOffer
    fields = ("kind", "amount_shown", "state", "proposed_by", "proposed_at", "approved_by", "responded_at")
    related = ("proposed_by", "approved_by")

    @admin.display(description="amount")
    def amount_shown(self, obj):
        return obj.amount_display


class RegulatorCaseInline(CaseInline):
    model = RegulatorCase
    fields = ("regulator", "case_number", "notified_on", "recorded_by", "note")
    related = ("recorded_by",)


class EmployeeFlagInline(CaseInline):
    model = EmployeeFlag
    fields = ("employee", "change_summary", "flagged_by", "flagged_at", "reason", "withdrawn_at")
    related = ("employee", "flagged_by")
