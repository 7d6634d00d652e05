"""Admin for complaints.

The complaint case (complaints and their numbers, timeline, blocks, restorations,
offers, regulator cases and employee flags) is evidence: read-only here for
everyone, the superuser included, scoped to the branches the user sees, with its
history. It is handled on the complaint screens (/complaints/), through
complaints.services.

The SLA configuration (working calendars and their holidays, SLA tables and their
rules) is edited here by administrators, each change with a reason kept in the
history; calendars, tables and rules are never deleted (holidays may be). A table
is made active with the "Make this the active table" box (sla_table_activate);
complaints already received keep their deadlines.
"""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from backoffice.adminkit import PortalModelAdmin, ReasonModelForm, screen_url, standing_filter
from backoffice.history import stamp_change
from numbers.admin.kit import EvidenceAdmin, ScopedBranchFilter, search_by_msisdn

from . import services
from .choices import SlaStatus
from .models import (
    CompensationOffer,
    Complaint,
    ComplaintEvent,
    ComplaintNumber,
    EmergencyBlock,
    EmployeeFlag,
    Holiday,
    RegulatorCase,
    RegulatorResponse,
    Restoration,
    SlaRule,
    SlaTable,
    WorkingCalendar,
)
from .selectors import complaint_search, sla_filter

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


@admin.register(Complaint)
class ComplaintAdmin(CaseAdmin):
    branch_path = "branch"
    reference_path = "reference"
    list_display = (
        "reference",
        "received_at",
        "state",
        "sla",
        "category",
        "severity",
        "branch",
        "complainant",
        "assigned_to",
    )
    list_select_related = ("branch", "complainant", "assigned_to")
    list_filter = ("state", ComplaintSlaFilter, "category", "severity", "channel", ScopedBranchFilter)
    search_fields = ("reference",)
    search_help_text = f"{REFERENCE_HELP}, an MSISDN concerned, or the complainant's document or name beginning."
    ordering = ("-received_at", "-id")
    inlines = [
        ComplaintNumberInline,
        EmergencyBlockInline,
        RestorationInline,
        OfferInline,
        RegulatorCaseInline,
        EmployeeFlagInline,
    ]
    fieldsets = (
        (None, {"fields": ("reference", "handling_link", "timeline_link", "state", "branch", "assigned_to")}),
        (
            "Complaint",
            {"fields": ("complainant", "category", "severity", "channel", "description", "received_at")},
        ),
        (
            "SLA clocks (fixed at intake; a reopening restarts the resolution clock)",
            {
                "fields": (
                    "sla_rule",
                    "sla",
                    "acknowledge_due_at",
                    "acknowledge_breached_at",
                    "block_due_at",
                    "block_breached_at",
                    "resolve_due_at",
                    "resolve_breached_at",
                )
            },
        ),
        (
            "Handling",
            {
                "fields": (
                    "acknowledged_at",
                    "acknowledged_by",
                    "first_blocked_at",
                    "time_to_block_shown",
                    "resolved_at",
                    "resolved_by",
                    "resolution",
                    "closed_at",
                    "closed_by",
                    "reopen_count",
                )
            },
        ),
        ("Record", {"fields": ("created_by", "created_at")}),
    )

    def get_object(self, request, object_id, from_field=None):
        """The change page shows every person on the complaint: one query, not one each."""
        queryset = self.get_queryset(request).select_related(
            "branch",
            "complainant",
            "assigned_to",
            "sla_rule",
            "created_by",
            "acknowledged_by",
            "resolved_by",
            "closed_by",
        )
        try:
            return queryset.get(pk=self.model._meta.pk.to_python(object_id))
        except (Complaint.DoesNotExist, ValidationError, ValueError):
            return None

    def get_search_results(self, request, queryset, search_term):
        return complaint_search(queryset=queryset, term=search_term), False

    def branch_of(self, obj) -> int | None:
        return obj.branch_id

    @admin.display(description="complaint handling")
    def handling_link(self, obj):
        url = handling_url(obj.pk)
        if url is None:
            return "—"
        return format_html('<a href="{}" class="complaint-screen-link">Open in complaint handling</a>', url)

    @admin.display(description="timeline")
    def timeline_link(self, obj):
        # A link, not an inline: a long timeline is read on the complaint screen, with
        # the numbers' history beside the complaint's own events.
        url = reverse("admin:complaints_complaintevent_changelist")
        return format_html('<a href="{}?complaint__id__exact={}">The complaint\'s events</a>', url, obj.pk)

    @admin.display(description="SLA")
    def sla(self, obj):
        return SlaStatus(obj.sla_status(timezone.now())).label

    @admin.display(description="time to block")
    def time_to_block_shown(self, obj):
        return format_duration(obj.time_to_block)


@admin.register(ComplaintNumber)
class ComplaintNumberAdmin(CaseAdmin):
    msisdn_path = "number__msisdn"
    search_fields = ("complaint__reference", "number__msisdn")
    search_help_text = f"{REFERENCE_HELP}, or the MSISDN in any format."
    list_display = ("__str__", "complaint", "number", "added_at", "added_by")
    list_select_related = ("complaint", "number", "added_by")
    list_filter = (ComplaintBranchFilter,)
    ordering = ("-added_at", "-id")
    fieldsets = ((None, {"fields": ("complaint", "number", "added_at", "added_by")}),)


@admin.register(ComplaintEvent)
class ComplaintEventAdmin(CaseAdmin):
    list_display = ("__str__", "complaint", "at", "kind", "actor", "number", "text")
    list_select_related = ("complaint", "actor", "number")
    list_filter = ("kind", ComplaintBranchFilter)
    # The newest first, on the primary key: events are the largest complaint table.
    ordering = ("-id",)
    fieldsets = ((None, {"fields": ("complaint", "kind", "at", "actor", "number", "text")}),)


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


# --- SLA configuration: edited by administrators, with a reason ----------------------


class ConfigurationAdmin(PortalModelAdmin):
    """The reason asked on the page is stamped on every row it saves, inline rows
    (and deleted holidays) included, so the history says who changed what and why."""

    def save_formset(self, request, form, formset, change):
        reason = form.cleaned_data["change_reason"]
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            stamp_change(obj, actor=request.user, reason=reason)
            obj.delete()
        for obj in instances:
            stamp_change(obj, actor=request.user, reason=reason)
            obj.save()
        formset.save_m2m()


class ConfigurationInline(admin.TabularInline):
    extra = 1
    show_change_link = False


class HolidayInline(ConfigurationInline):
    """Removable by whoever may delete holidays (administrators)."""

    model = Holiday
    fields = ("date", "name")
    ordering = ("date",)


class SlaRuleInline(ConfigurationInline):
    model = SlaRule
    fields = ("category", "severity", "acknowledge_within", "acknowledge_unit", "resolve_within", "resolve_unit")
    can_delete = False


@admin.register(WorkingCalendar)
class WorkingCalendarAdmin(ConfigurationAdmin):
    list_display = ("code", "name", "timezone", "weekdays", "day_start", "day_end")
    search_fields = ("code", "name")
    ordering = ("code",)
    inlines = [HolidayInline]
    fields = ("code", "name", "timezone", "weekdays", "day_start", "day_end", "change_reason")

    def get_readonly_fields(self, request, obj=None):
        # The code names the calendar for load_holidays and the presets.
        return ("code",) if obj is not None else ()


class SlaTableForm(ReasonModelForm):
    activate = forms.BooleanField(
        label="Make this the active table",
        required=False,
        help_text="New complaints take their clocks from the active table; the table active now is "
        "deactivated. Complaints already received keep their deadlines.",
    )


@admin.register(SlaTable)
class SlaTableAdmin(ConfigurationAdmin):
    form = SlaTableForm
    list_display = ("code", "name", "is_active", "calendar", "warn_percent")
    list_select_related = ("calendar",)
    list_filter = ("is_active",)
    search_fields = ("code", "name")
    ordering = ("-is_active", "code")
    inlines = [SlaRuleInline]

    def get_fields(self, request, obj=None):
        fields = ["code", "name", "description", "calendar", "warn_percent", "is_active"]
        if obj is None or not obj.is_active:
            fields.append("activate")
        return [*fields, "change_reason"]

    def get_readonly_fields(self, request, obj=None):
        # Active is set only by activating another table: there is always exactly one.
        if obj is None:
            return ("is_active",)
        # The active table has no box to tick: read-only and not in its fieldset, it leaves the form.
        return ("code", "is_active", "activate") if obj.is_active else ("code", "is_active")

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.cleaned_data.get("activate"):
            # After the rules: a new table is activated with the rules it was saved with.
            services.sla_table_activate(
                table=form.instance, actor=request.user, reason=form.cleaned_data["change_reason"]
            )


class ConfigurationHistoryAdmin(PortalModelAdmin):
    """Rules and holidays are edited on their table's or calendar's page (with its
    reason); here each can be looked up and its history read."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return self.fields


@admin.register(SlaRule)
class SlaRuleAdmin(ConfigurationHistoryAdmin):
    list_display = ("__str__", "table", "category", "severity")
    list_select_related = ("table",)
    list_filter = ("table", "category", "severity")
    ordering = ("table", "category", "severity")
    fields = (
        "table",
        "category",
        "severity",
        "acknowledge_within",
        "acknowledge_unit",
        "resolve_within",
        "resolve_unit",
    )


@admin.register(Holiday)
class HolidayAdmin(ConfigurationHistoryAdmin):
    list_display = ("date", "name", "calendar")
    list_select_related = ("calendar",)
    list_filter = ("calendar",)
    ordering = ("calendar", "date")
    fields = ("calendar", "date", "name")
