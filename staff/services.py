"""Employee records and the authority derived from them.

Branch object permissions are never granted by hand: they follow from an
employee's roles and branches, recomputed here whenever either changes.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from guardian.shortcuts import assign_perm

from backoffice.history import require_reason, stamp_change
from numbers.models import Branch, BranchUserObjectPermission

from .choices import EmploymentStatus, Role
from .models import Employee
from .roles import BRANCH_PERMS, ROLE_BRANCH_PERMS, ROLE_MODEL_PERMS
from .selectors import clear_scope_cache, is_working

User = get_user_model()


def roles_ensure_groups() -> dict[str, Group]:
    """Create or refresh the role groups with their model permissions (idempotent)."""
    groups = {}
    for role, perm_names in ROLE_MODEL_PERMS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = []
        for name in perm_names:
            app_label, codename = name.split(".", 1)
            perms.append(Permission.objects.get(content_type__app_label=app_label, codename=codename))
        group.permissions.set(perms)
        groups[role] = group
    return groups


def _require_staff_admin(actor) -> None:
    # A suspended administrator keeps their groups but may not act.
    if not is_working(actor) or not (actor.is_superuser or actor.has_perm("staff.change_employee")):
        raise PermissionDenied("Only administrators change employee records.")


def _roles_of(user) -> list[str]:
    return [name for name in user.groups.values_list("name", flat=True) if name in Role.values]


def _sync_branch_authority(employee: Employee) -> None:
    """Recompute the user's branch object permissions from roles, branches and status."""
    user = employee.user
    BranchUserObjectPermission.objects.filter(user=user, permission__codename__in=BRANCH_PERMS).delete()
    if employee.employment_status == EmploymentStatus.ACTIVE:
        perms = {perm for role in _roles_of(user) for perm in ROLE_BRANCH_PERMS.get(role, ())}
        branches = list(employee.branches.all())
        for perm in sorted(perms):
            if branches:
                assign_perm(f"numbers.{perm}", user, branches)
    clear_scope_cache(user)


@transaction.atomic
def employee_create(
    *,
    username: str,
    employee_code: str,
    roles: Iterable[str],
    branches: Iterable[Branch],
    actor,
    reason: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
) -> Employee:
    reason = require_reason(reason)
    _require_staff_admin(actor)
    roles = list(roles)
    unknown = sorted(set(roles) - set(Role.values))
    if unknown:
        raise ValidationError("Unknown role(s): %(roles)s.", params={"roles": ", ".join(unknown)})
    if User.objects.filter(username=username).exists():
        raise ValidationError("User name %(name)s is taken.", params={"name": username})
    user = User(username=username, first_name=first_name, last_name=last_name, email=email, is_staff=True)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    groups = roles_ensure_groups()
    user.groups.set([groups[role] for role in roles])
    employee = Employee(user=user, employee_code=employee_code)
    stamp_change(employee, actor=actor, reason=reason)
    employee.full_clean(exclude=["user"])
    employee.save()
    employee.branches.set(list(branches))
    _sync_branch_authority(employee)
    return employee


@transaction.atomic
def employee_set_branches(*, employee: Employee, branches: Iterable[Branch], actor, reason: str) -> Employee:
    reason = require_reason(reason)
    _require_staff_admin(actor)
    employee = Employee.objects.select_for_update().get(pk=employee.pk)
    stamp_change(employee, actor=actor, reason=reason)
    employee.branches.set(list(branches))
    _sync_branch_authority(employee)
    return employee


@transaction.atomic
def employee_set_roles(*, employee: Employee, roles: Iterable[str], actor, reason: str) -> Employee:
    reason = require_reason(reason)
    _require_staff_admin(actor)
    roles = list(roles)
    unknown = sorted(set(roles) - set(Role.values))
    if unknown:
        raise ValidationError("Unknown role(s): %(roles)s.", params={"roles": ", ".join(unknown)})
    employee = Employee.objects.select_for_update().get(pk=employee.pk)
    groups = roles_ensure_groups()
    user = employee.user
    other_groups = [g for g in user.groups.all() if g.name not in Role.values]
    user.groups.set(other_groups + [groups[role] for role in roles])
    # Roles live on the user's groups, which keep no history: record who and why here.
    stamp_change(employee, actor=actor, reason=reason)
    employee.save()
    _sync_branch_authority(employee)
    return employee


@transaction.atomic
def employee_set_status(*, employee: Employee, status: str, actor, reason: str) -> Employee:
    reason = require_reason(reason)
    _require_staff_admin(actor)
    if status not in EmploymentStatus.values:
        raise ValidationError("Unknown employment status %(status)s.", params={"status": status})
    if employee.user_id == actor.pk:
        raise PermissionDenied("Nobody changes their own employment status.")
    employee = Employee.objects.select_for_update().get(pk=employee.pk)
    employee.employment_status = status
    stamp_change(employee, actor=actor, reason=reason)
    employee.save()
    _sync_branch_authority(employee)
    return employee
