"""Which branches a user may see or act on: the base of every scoped read."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from .choices import EmploymentStatus


@dataclass(frozen=True)
class BranchScope:
    """Either every branch or a set of branch ids; filters any queryset by a branch path."""

    everywhere: bool
    branch_ids: frozenset[int]

    def filter(self, queryset: QuerySet, path: str = "branch") -> QuerySet:
        if self.everywhere:
            return queryset
        return queryset.filter(**{f"{path}__in": sorted(self.branch_ids)})

    def allows(self, branch_id: int | None) -> bool:
        return self.everywhere or (branch_id is not None and branch_id in self.branch_ids)


NOWHERE = BranchScope(everywhere=False, branch_ids=frozenset())
EVERYWHERE = BranchScope(everywhere=True, branch_ids=frozenset())


def is_working(user) -> bool:
    """An account acts only while it is active and, if it is an employee, not suspended."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    employee = getattr(user, "employee", None) if _has_employee(user) else None
    return employee is None or employee.employment_status == EmploymentStatus.ACTIVE


def _has_employee(user) -> bool:
    try:
        user.employee  # noqa: B018 - cached by Django after the first access
    except Exception:  # RelatedObjectDoesNotExist
        return False
    return True


def branch_scope(user, perm: str) -> BranchScope:
    """Branches where ``user`` holds ``numbers.<perm>``, globally or on the branch object.

    Cached on the user object for the request: list pages ask it once.
    """
    cache = user.__dict__.setdefault("_branch_scope_cache", {})
    if perm in cache:
        return cache[perm]
    scope = _compute_branch_scope(user, perm)
    cache[perm] = scope
    return scope


def _compute_branch_scope(user, perm: str) -> BranchScope:
    if not is_working(user):
        return NOWHERE
    if user.is_superuser or user.has_perm(f"numbers.{perm}"):
        return EVERYWHERE
    from guardian.shortcuts import get_objects_for_user

    from numbers.models import Branch

    branches = get_objects_for_user(
        user, f"numbers.{perm}", klass=Branch, with_superuser=False, accept_global_perms=False
    )
    return BranchScope(everywhere=False, branch_ids=frozenset(branches.values_list("pk", flat=True)))


def has_branch_perm(user, perm: str, branch_id: int | None) -> bool:
    return branch_scope(user, perm).allows(branch_id)


def clear_scope_cache(user) -> None:
    user.__dict__.pop("_branch_scope_cache", None)
    for attr in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(attr, None)
