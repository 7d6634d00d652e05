"""Employee records and the authority derived from them.

Branch object permissions are never granted by hand: they follow from an
employee's roles and branches, recomputed here whenever either changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.db.models import Model
from django.utils import timezone
from guardian.shortcuts import assign_perm

from audit.context import audited
from backoffice.delivery import Outcome, create_once, deliver, deliver_due, dispatch_after_commit
from backoffice.history import require_reason, stamp_change

from .branches import branch_user_permission_model
from .choices import EmploymentStatus, Role
from .models import Employee, StaffNotice, Suspension
from .roles import BRANCH_PERMS, ROLE_BRANCH_PERMS, ROLE_MODEL_PERMS
from .selectors import clear_scope_cache, is_working

User = get_user_model()


def roles_ensure_groups() -> dict[str, Group]:
    """Create or refresh the role groups with their model permissions (idempotent).

    The permissions are read in one query, not one each: this runs for every account
    made, and ~170 lookups were most of a test's queries on PostgreSQL."""
    names = {name for perm_names in ROLE_MODEL_PERMS.values() for name in perm_names}
    codenames = {name.split(".", 1)[1] for name in names}
    found = {
        f"{perm.content_type.app_label}.{perm.codename}": perm
        for perm in Permission.objects.filter(codename__in=codenames).select_related("content_type")
    }
    groups = {}
    for role, perm_names in ROLE_MODEL_PERMS.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = []
        for name in perm_names:
            if name not in found:
                raise Permission.DoesNotExist(f"Permission {name} does not exist.")
            perms.append(found[name])
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
    branch_user_permission_model().objects.filter(user=user, permission__codename__in=BRANCH_PERMS).delete()
    if employee.employment_status == EmploymentStatus.ACTIVE:
        perms = {perm for role in _roles_of(user) for perm in ROLE_BRANCH_PERMS.get(role, ())}
        branches = list(employee.branches.all())
        # One grant at a time: guardian's bulk assign uses bulk_create, which history never sees.
        for perm in sorted(perms):
            for branch in branches:
                assign_perm(f"numbers.{perm}", user, branch)
    clear_scope_cache(user)


@audited
def employee_create(
    *,
    username: str,
    employee_code: str,
    roles: Iterable[str],
    branches: Iterable[Model],
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


@audited
def employee_set_branches(*, employee: Employee, branches: Iterable[Model], actor, reason: str) -> Employee:
    reason = require_reason(reason)
    _require_staff_admin(actor)
    employee = Employee.objects.select_for_update().get(pk=employee.pk)
    stamp_change(employee, actor=actor, reason=reason)
    employee.branches.set(list(branches))
    _sync_branch_authority(employee)
    return employee


@audited
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


@audited
def employee_set_status(*, employee: Employee, status: str, actor, reason: str) -> Employee:
    reason = require_reason(reason)
    _require_staff_admin(actor)
    if status not in EmploymentStatus.values:
        raise ValidationError("Unknown employment status %(status)s.", params={"status": status})
    if employee.user_id == actor.pk:
        raise PermissionDenied("Nobody changes their own employment status.")
    employee = Employee.objects.select_for_update().get(pk=employee.pk)
    if status == EmploymentStatus.ACTIVE and Suspension.objects.filter(
        user_id=employee.user_id, reinstated_at__isnull=True
    ):
        raise ValidationError(
            "%(name)s is suspended pending review: only a reinstatement from the review gives the work back.",
            params={"name": employee.user.get_username()},
            code="suspended_pending_review",
        )
    employee.employment_status = status
    stamp_change(employee, actor=actor, reason=reason)
    employee.save()
    _sync_branch_authority(employee)
    if status != EmploymentStatus.ACTIVE:
        # Whoever stops working is signed out everywhere now (the login is refused too:
        # staff.backends and staff.middleware), not at the end of their sessions.
        end_sessions(employee.user)
    return employee


# --- Suspension ---------------------------------------------------------------


def _user_object_permission_tables():
    """Every table where guardian keeps a user's object permissions here: each app's
    direct table (branches', complaints'...; found by guardian, in app order), then its generic one."""
    from guardian.models import UserObjectPermission, UserObjectPermissionBase
    from guardian.utils import get_direct_obj_perms_models

    return [*get_direct_obj_perms_models(UserObjectPermissionBase, UserObjectPermission), UserObjectPermission]


# Whether an object grant taken by a suspension still applies at reinstatement, by the
# label of the object's model: a reason it does not, or None. The app that owns the
# model registers its rule at start-up (complaints: "reassigned while suspended").
RegrantCheck = Callable[[Model, Model], "str | None"]
_regrant_checks: dict[str, RegrantCheck] = {}


def register_regrant_check(model_label: str, check: RegrantCheck) -> None:
    """``check(target, user)`` for grants on ``model_label`` objects ("app_label.model")."""
    _regrant_checks[model_label] = check


def _why_not_regranted(grant: dict, target, user) -> str | None:
    check = _regrant_checks.get(grant["model"])
    return None if check is None else check(target, user)


def _grant_record(row) -> dict:
    ct = row.permission.content_type
    object_pk = row.object_pk if hasattr(row, "object_pk") else row.content_object_id
    return {
        "table": row._meta.label_lower,
        "model": f"{ct.app_label}.{ct.model}",
        "object_pk": str(object_pk),
        "perm": row.permission.codename,
    }


def _require_reviewer(actor, user) -> None:
    if not is_working(actor) or not (actor.is_superuser or actor.has_perm("audit.review_audit")):
        raise PermissionDenied("Only auditors and administrators suspend or reinstate employees.")
    if user.pk == actor.pk:
        raise PermissionDenied("Nobody suspends or reinstates themselves.")
    if user.is_superuser and not actor.is_superuser:
        raise PermissionDenied("Only a superuser suspends or reinstates a superuser.")


def end_sessions(user) -> int:
    """Sign the user out everywhere: delete their stored sessions. Returns how many."""
    from django.contrib.sessions.models import Session

    ended = 0
    for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator(chunk_size=500):
        if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
            session.delete()
            ended += 1
    return ended


@audited
def employee_suspend(*, user, actor, reason: str, case=None) -> Suspension:
    """Take every power away from an employee under review, and keep what was taken.

    The login is disabled and every session ended; groups, direct permissions
    and object permissions are removed; the employee record goes to suspended.
    Their history stays as it was: it is the evidence.
    """
    reason = require_reason(reason)
    _require_reviewer(actor, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    if Suspension.objects.filter(user=user, reinstated_at__isnull=True).exists():
        raise ValidationError("%(name)s is already suspended.", params={"name": user.get_username()})
    employee = Employee.objects.select_for_update().filter(user=user).first()

    removed = []
    for table in _user_object_permission_tables():
        for row in table.objects.filter(user=user).select_related("permission__content_type"):
            removed.append(_grant_record(row))
            stamp_change(row, actor=actor, reason=reason)
            row.delete()

    suspension = Suspension(
        user=user,
        case=case,
        reason=reason,
        suspended_by=actor,
        was_active=user.is_active,
        employment_status_before=employee.employment_status if employee else "",
        object_permissions_removed=removed,
        sessions_ended=end_sessions(user),
    )
    stamp_change(suspension, actor=actor, reason=reason)
    suspension.save()
    suspension.groups_removed.set(list(user.groups.all()))
    suspension.permissions_removed.set(list(user.user_permissions.all()))

    stamp_change(user, actor=actor, reason=reason)
    user.groups.clear()
    user.user_permissions.clear()
    user.is_active = False
    user.save(update_fields=["is_active"])
    if employee is not None:
        employee.employment_status = EmploymentStatus.SUSPENDED
        stamp_change(employee, actor=actor, reason=reason)
        employee.save()
        _sync_branch_authority(employee)
    clear_scope_cache(user)
    return suspension


@audited
def employee_reinstate(*, user, actor, reason: str) -> Suspension:
    """Give back what the open suspension took, where it still applies.

    Branch authority is derived again from the restored roles and branches; a
    complaint grant comes back only if the complaint is still assigned to them.
    What no longer applies is listed on the suspension as not restored.
    """
    from django.utils import timezone
    from guardian.shortcuts import assign_perm

    reason = require_reason(reason)
    _require_reviewer(actor, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    suspension = Suspension.objects.select_for_update().filter(user=user, reinstated_at__isnull=True).first()
    if suspension is None:
        raise ValidationError("%(name)s is not suspended.", params={"name": user.get_username()})

    stamp_change(user, actor=actor, reason=reason)
    user.groups.add(*suspension.groups_removed.all())
    user.user_permissions.add(*suspension.permissions_removed.all())
    user.is_active = suspension.was_active
    user.save(update_fields=["is_active"])
    employee = Employee.objects.select_for_update().filter(user=user).first()
    if employee is not None and suspension.employment_status_before:
        employee.employment_status = suspension.employment_status_before
        stamp_change(employee, actor=actor, reason=reason)
        employee.save()
        _sync_branch_authority(employee)

    not_restored = []
    for grant in suspension.object_permissions_removed:
        if grant["table"] == branch_user_permission_model()._meta.label_lower:
            continue  # derived again from roles and branches above
        target = _grant_target(grant)
        if target is None:
            not_restored.append({**grant, "why": "the object no longer exists"})
        elif (why := _why_not_regranted(grant, target, user)) is not None:
            not_restored.append({**grant, "why": why})
        else:
            assign_perm(f"{grant['model'].split('.')[0]}.{grant['perm']}", user, target)

    suspension.reinstated_by = actor
    suspension.reinstated_at = timezone.now()
    suspension.reinstate_reason = reason
    suspension.not_restored = not_restored
    stamp_change(suspension, actor=actor, reason=reason)
    suspension.save()
    clear_scope_cache(user)
    return suspension


def _grant_target(grant: dict):
    from django.apps import apps

    model = apps.get_model(grant["model"])
    return model._default_manager.filter(pk=grant["object_pk"]).first()


# --- Staff notices ------------------------------------------------------------


def notice_send(*, recipients: Iterable, subject: str, body: str, dedupe_key: str) -> list[StaffNotice]:
    """Store an email to each recipient with an address, at most once per key and
    recipient, for delivery after the current transaction commits."""
    from .tasks import deliver_notice

    stored = []
    for user in recipients:
        if not user.email:
            continue
        notice = create_once(
            StaffNotice,
            dedupe_key=f"{dedupe_key}:user{user.pk}",
            reason=f"Notice to {user.get_username()}: {subject}"[:200],
            recipient=user,
            to_email=user.email,
            subject=subject[:200],
            body=body,
        )
        if notice is not None:
            dispatch_after_commit(deliver_notice, notice.pk)
            stored.append(notice)
    return stored


def notice_deliver(*, notice_id: int) -> Outcome:
    """Hand one notice to Django's email backend, at most once; run by the delivery task."""

    def send(notice: StaffNotice) -> None:
        EmailMessage(subject=notice.subject, body=notice.body, to=[notice.to_email]).send(fail_silently=False)

    return deliver(StaffNotice, notice_id, send)


def notice_deliver_due(*, now=None, limit: int = 1000) -> int:
    """Retry notices that failed (after their backoff) or never left; returns how many were sent."""
    return deliver_due(StaffNotice, lambda pk: notice_deliver(notice_id=pk), now=now, limit=limit)
