"""The admin of the case's other records (blocks, restorations, offers, regulator cases
and responses, employee flags): read-only evidence."""

from __future__ import annotations

from django.contrib import admin

from backoffice.adminkit import standing_filter
from numbers.admin.kit import ScopedBranchFilter

from ..models import CompensationOffer, EmergencyBlock, EmployeeFlag, RegulatorCase, RegulatorResponse, Restoration
from .cases import REFERENCE_HELP, CaseAdmin, ComplaintBranchFilter

BlockStateFilter = standing_filter(
    field="lifted_at", title="block", standing=("active", "In force"), ended=("lifted", "Lifted")
)


@admin.register(EmergencyBlock)
class EmergencyBlockAdmin(CaseAdmin):
    msisdn_path = "number__msisdn"
    search_fields = ("complaint__reference", "number__msisdn")
    search_help_text = f"{REFERENCE_HELP}, or the MSISDN in any format."
    list_display = ("__str__", "complaint", "number", "in_force", "blocked_at", "blocked_by", "lifted_at", "lifted_by")
    list_select_related = ("complaint", "number", "blocked_by", "lifted_by")
    list_filter = (BlockStateFilter, ComplaintBranchFilter)
    ordering = ("-blocked_at", "-id")
    fieldsets = (
        (None, {"fields": ("complaint", "number")}),
        ("Blocked", {"fields": ("blocked_at", "blocked_by", "reason")}),
        ("Lifted", {"fields": ("lifted_at", "lifted_by", "lift_reason")}),
    )

    @admin.display(description="in force", boolean=True)
    def in_force(self, obj):
        return obj.is_active


@admin.register(Restoration)
class RestorationAdmin(CaseAdmin):
    msisdn_path = "number__msisdn"
    search_fields = ("complaint__reference", "number__msisdn")
    search_help_text = f"{REFERENCE_HELP}, or the MSISDN in any format."
    list_display = (
        "__str__",
        "complaint",
        "number",
        "from_holder",
        "to_subscriber",
        "state",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
    )
    list_select_related = ("complaint", "number", "from_holder", "to_subscriber", "requested_by", "decided_by")
    list_filter = ("state", ComplaintBranchFilter)
    ordering = ("-requested_at", "-id")
    fieldsets = (
        (None, {"fields": ("complaint", "number", "state")}),
        ("Holders", {"fields": ("from_holder", "to_subscriber", "opened_holding")}),
        ("Request", {"fields": ("requested_by", "requested_at", "reason")}),
        ("Decision", {"fields": ("decided_by", "cancelled_by", "decided_at", "decision_reason")}),
    )


@admin.register(CompensationOffer)
class CompensationOfferAdmin(CaseAdmin):
    list_display = (
        "__str__",
        "complaint",
        "kind",
        "state",
        "needs_approval",
        "proposed_by",
        "proposed_at",
        "approved_by",
        "valid_until",
    )
    list_select_related = ("complaint", "proposed_by", "approved_by")
    list_filter = ("state", "kind", "currency", ComplaintBranchFilter)
    ordering = ("-proposed_at", "-id")
    fieldsets = (
        (None, {"fields": ("complaint", "kind", "amount", "currency", "description", "state", "valid_until")}),
        ("Proposed", {"fields": ("proposed_by", "proposed_at", "proposal_reason", "needs_approval")}),
        ("Approved", {"fields": ("approved_by", "approved_at", "approval_reason")}),
        ("Offered", {"fields": ("offered_by", "offered_at", "offered_channel")}),
        ("Customer's answer", {"fields": ("responded_at", "response_channel", "response_note")}),
        ("Closed", {"fields": ("closed_at", "closed_by", "close_reason")}),
    )


@admin.register(RegulatorCase)
class RegulatorCaseAdmin(CaseAdmin):
    search_fields = ("complaint__reference", "case_number")
    search_help_text = f"{REFERENCE_HELP}, or the regulator's case number."
    list_display = ("__str__", "complaint", "regulator", "case_number", "notified_on", "recorded_by")
    list_select_related = ("complaint", "recorded_by")
    list_filter = ("regulator", ComplaintBranchFilter)
    ordering = ("-notified_on", "-id")
    fieldsets = (
        (None, {"fields": ("complaint", "regulator", "case_number", "notified_on", "note")}),
        ("Recorded", {"fields": ("recorded_by", "recorded_at")}),
    )

    def search_other(self, queryset, term: str):
        return queryset.filter(case_number__iexact=term)


class ResponseBranchFilter(ScopedBranchFilter):
    path = "case__complaint__branch"


@admin.register(RegulatorResponse)
class RegulatorResponseAdmin(CaseAdmin):
    branch_path = "case__complaint__branch"
    reference_path = "case__complaint__reference"
    search_fields = ("case__complaint__reference", "case__case_number")
    search_help_text = f"{REFERENCE_HELP}, or the regulator's case number."
    list_display = ("__str__", "case", "complaint", "responded_on", "recorded_by")
    list_select_related = ("case__complaint", "recorded_by")
    list_filter = (ResponseBranchFilter,)
    ordering = ("-responded_on", "-id")
    fieldsets = (
        (None, {"fields": ("case", "responded_on", "summary")}),
        ("Recorded", {"fields": ("recorded_by", "recorded_at")}),
    )

    def search_other(self, queryset, term: str):
        return queryset.filter(case__case_number__iexact=term)

    def branch_of(self, obj) -> int | None:
        return obj.case.complaint.branch_id

    @admin.display(description="complaint", ordering="case__complaint__reference")
    def complaint(self, obj):
        return obj.case.complaint


FlagStateFilter = standing_filter(
    field="withdrawn_at", title="flag", standing=("standing", "Standing"), ended=("withdrawn", "Withdrawn")
)


@admin.register(EmployeeFlag)
class EmployeeFlagAdmin(CaseAdmin):
    """Where a disciplinary review starts: who was flagged, for which change, by whom and why."""

    search_fields = ("complaint__reference", "employee__username")
    search_help_text = f"{REFERENCE_HELP}, or the flagged employee's user name."
    list_display = ("__str__", "complaint", "employee", "change_at", "flagged_by", "flagged_at", "withdrawn_at")
    list_select_related = ("complaint", "employee", "flagged_by")
    list_filter = (FlagStateFilter, ComplaintBranchFilter)
    ordering = ("-flagged_at", "-id")
    fieldsets = (
        (None, {"fields": ("complaint", "employee", "reason")}),
        ("The change", {"fields": ("change_model", "change_history_id", "change_object_id", "change_at")}),
        ("", {"fields": ("change_summary",)}),
        ("Flagged", {"fields": ("flagged_by", "flagged_at")}),
        ("Withdrawn", {"fields": ("withdrawn_at", "withdrawn_by", "withdrawal_reason")}),
    )

    def search_other(self, queryset, term: str):
        return queryset.filter(employee__username=term)
