"""Branches and the rows about a number that only services and jobs write (holdings,
inactivity warnings): read here, scoped to the user's branches."""

from __future__ import annotations

from django.contrib import admin

from backoffice.adminkit import PortalModelAdmin, ReasonModelForm

from ..models import Branch, Holding, InactivityWarning
from ..selectors import holding_list, inactivity_warning_list
from .kit import ScopedBranchFilter, search_by_msisdn


class HoldingBranchFilter(ScopedBranchFilter):
    path = "number__branch"


class NumberRecordAdmin(PortalModelAdmin):
    """Rows about a number that only the services or jobs write: read here, scoped
    to the user's branches by ``selector``, found by the number in any format."""

    selector = None
    search_fields = ("number__msisdn",)
    search_help_text = "An MSISDN in any format."

    def get_queryset(self, request):
        return type(self).selector(user=request.user)

    def get_search_results(self, request, queryset, search_term):
        return search_by_msisdn(queryset, search_term, "number__msisdn"), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Holding)
class HoldingAdmin(NumberRecordAdmin):
    """The ledger is read here, written only by the services."""

    selector = staticmethod(holding_list)
    list_display = ("number", "subscriber", "started_at", "start_reason", "ended_at", "end_reason", "started_by")
    list_select_related = ("number", "subscriber", "started_by")
    list_filter = ("start_reason", "end_reason", HoldingBranchFilter)
    ordering = ("-started_at", "-id")


@admin.register(InactivityWarning)
class InactivityWarningAdmin(NumberRecordAdmin):
    """What the lifecycle job warned, and when: written only by the job."""

    selector = staticmethod(inactivity_warning_list)
    list_display = ("number", "subscriber", "warning_day", "period_start", "withdrawal_on", "sent_at")
    list_select_related = ("number", "subscriber")
    list_filter = ("warning_day",)
    ordering = ("-sent_at", "-id")


@admin.register(Branch)
class BranchAdmin(PortalModelAdmin):
    form = ReasonModelForm
    list_display = ("code", "name", "is_active", "created_at")
    search_fields = ("code", "name")
    fields = ("code", "name", "is_active", "change_reason")
