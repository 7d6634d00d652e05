"""The admin of complaints, their numbers and their timeline (read-only evidence)."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from numbers.admin.kit import ScopedBranchFilter

from ..choices import SlaStatus
from ..models import Complaint, ComplaintEvent, ComplaintNumber
from ..selectors import complaint_search
from .cases import (
    REFERENCE_HELP,
    CaseAdmin,
    ComplaintBranchFilter,
    ComplaintNumberInline,
    ComplaintSlaFilter,
    EmergencyBlockInline,
    EmployeeFlagInline,
    OfferInline,
    RegulatorCaseInline,
    RestorationInline,
    format_duration,
    handling_url,
)


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
