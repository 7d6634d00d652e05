"""Which branches a user may see or act on: the base of every scoped read."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from .branches import branch_group_permission_model, branch_user_permission_model
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

    @property
    def anywhere(self) -> bool:
        """Whether the user holds the permission in at least one branch."""
        return self.everywhere or bool(self.branch_ids)

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


def can_review(user) -> bool:
    """Auditors and administrators, while they may work; nobody else sees /review/."""
    return is_working(user) and (user.is_superuser or user.has_perm("audit.review_audit"))


def _has_employee(user) -> bool:
    try:
        user.employee  # noqa: B018 - cached by Django after the first access
    except Exception:  # RelatedObjectDoesNotExist
        return False
    return True


def branch_scope(user, perm: str) -> BranchScope:
    """Branches where ``user`` holds ``numbers.<perm>``, globally or on the branch object.

    All of a user's branch permissions are read in one query and cached on the
    user object for the request, so a page asking about several costs one.
    """
    cache = user.__dict__.setdefault("_branch_scope_cache", {})
    if perm not in cache:
        cache[perm] = _compute_branch_scope(user, perm, cache)
    return cache[perm]


def _compute_branch_scope(user, perm: str, cache: dict) -> BranchScope:
    if not is_working(user):
        return NOWHERE
    if user.is_superuser or user.has_perm(f"numbers.{perm}"):
        return EVERYWHERE
    if "_object_grants" not in cache:
        cache["_object_grants"] = _branch_object_grants(user)
    return BranchScope(everywhere=False, branch_ids=frozenset(cache["_object_grants"].get(perm, ())))


def _branch_object_grants(user) -> dict[str, set[int]]:
    """guardian's branch object permissions of the user, direct and through groups."""
    from .roles import BRANCH_PERMS

    direct = branch_user_permission_model().objects.filter(user=user, permission__codename__in=BRANCH_PERMS)
    via_groups = branch_group_permission_model().objects.filter(
        group__in=user.groups.values("pk"), permission__codename__in=BRANCH_PERMS
    )
    grants: dict[str, set[int]] = {}
    rows = direct.values_list("permission__codename", "content_object_id").union(
        via_groups.values_list("permission__codename", "content_object_id")
    )
    for codename, branch_id in rows:
        grants.setdefault(codename, set()).add(branch_id)
    return grants


def has_branch_perm(user, perm: str, branch_id: int | None) -> bool:
    return branch_scope(user, perm).allows(branch_id)


def clear_scope_cache(user) -> None:
    user.__dict__.pop("_branch_scope_cache", None)
    for attr in ("_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(attr, None)


def display_name(user) -> str:
    """A person as staff read them in messages and timelines; a job has no user."""
    if user is None:
        return "system"
    return user.get_full_name() or user.get_username()


def branch_supervisors(branch_id: int) -> QuerySet:
    """Working employees who supervise the branch: those an SLA breach is escalated to."""
    from django.contrib.auth import get_user_model

    holders = (
        branch_user_permission_model()
        .objects.filter(content_object_id=branch_id, permission__codename="supervise_branch")
        .values("user_id")
    )
    return (
        get_user_model()
        .objects.filter(pk__in=holders, is_active=True, employee__employment_status=EmploymentStatus.ACTIVE)
        .order_by("pk")
    )
