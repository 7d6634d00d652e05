"""Scoped reads of numbers, holdings and subscribers.

Every list a user sees passes through here, so branch scoping is decided once.
"""

from __future__ import annotations

from django.db.models import QuerySet

from staff.selectors import branch_scope

from .models import Holding, MobileNumber, Subscriber
from .msisdn import msisdn_search_query


def number_list(*, user, perm: str = "view_branch_numbers") -> QuerySet[MobileNumber]:
    queryset = MobileNumber.objects.select_related("holder", "branch")
    return branch_scope(user, perm).filter(queryset)


def number_search(*, queryset: QuerySet[MobileNumber], term: str) -> QuerySet[MobileNumber] | None:
    """Exact or prefix lookup on the msisdn index; None when the term is not a number."""
    query = msisdn_search_query(term)
    if query is None:
        return None
    if query.exact:
        return queryset.filter(msisdn=query.value)
    return queryset.filter(msisdn__startswith=query.value)


def holding_list(*, user) -> QuerySet[Holding]:
    queryset = Holding.objects.select_related("number", "subscriber", "started_by", "ended_by")
    return branch_scope(user, "view_branch_numbers").filter(queryset, path="number__branch")


def subscriber_list(*, user) -> QuerySet[Subscriber]:
    """Subscribers are customers of the operator, not of a branch: any working
    employee may look one up (identity shown masked) to sell or serve."""
    if (
        not branch_scope(user, "view_branch_numbers").everywhere
        and not branch_scope(user, "view_branch_numbers").branch_ids
    ):
        return Subscriber.objects.none()
    return Subscriber.objects.select_related("registered_branch", "created_by")
