"""The numbers admin's kit, shared with complaints' admin: MSISDN search on the index,
the branch filter and the read-only evidence admin, all scoped to the user's branches.
(The domain-free pieces are in backoffice.adminkit; these know branches and MSISDNs.)"""

from __future__ import annotations

from django.contrib import admin

from backoffice.adminkit import PortalModelAdmin
from backoffice.msisdn import msisdn_search_query
from staff.selectors import branch_scope, has_branch_perm

from ..models import Branch


def search_by_msisdn(queryset, term: str, path: str):
    """An MSISDN in any format: exact on the index when whole, else its beginning; never icontains."""
    term = term.strip()
    if not term:
        return queryset
    query = msisdn_search_query(term)
    if query is None:
        return queryset.none()
    lookup = path if query.exact else f"{path}__startswith"
    return queryset.filter(**{lookup: query.value})


class ScopedBranchFilter(admin.SimpleListFilter):
    """Branch filter listing only the branches the user may see (no DISTINCT scan)."""

    title = "branch"
    parameter_name = "branch"
    path = "branch"

    def lookups(self, request, model_admin):
        branches = branch_scope(request.user, "view_branch_numbers").filter(Branch.objects.all(), path="pk")
        return [(str(branch.pk), str(branch)) for branch in branches]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{f"{self.path}__pk": self.value()})
        return queryset


class EvidenceAdmin(PortalModelAdmin):
    """Read-only for everyone, the superuser included: transfer requests, consents
    and locks are made by the services on the staff screens and kept as evidence.
    Each is scoped to the branches the user may see, by ``branch_path``."""

    branch_path = "branch"
    # Where the number's MSISDN is: search takes it in any format, on its index.
    msisdn_path = "number__msisdn"
    search_help_text = "The number's MSISDN in any format (whole number or its beginning)."

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return branch_scope(request.user, "view_branch_numbers").filter(queryset, path=self.branch_path)

    def get_search_results(self, request, queryset, search_term):
        return search_by_msisdn(queryset, search_term, self.msisdn_path), False

    def branch_of(self, obj) -> int | None:
        return obj.branch_id

    def has_view_permission(self, request, obj=None) -> bool:
        if not super().has_view_permission(request, obj):
            return False
        # Also guards the history pages, which look objects up without get_queryset.
        return obj is None or has_branch_perm(request.user, "view_branch_numbers", self.branch_of(obj))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field for _, options in self.get_fieldsets(request, obj) for field in options["fields"]]
