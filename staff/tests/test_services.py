"""Employee records and the branch authority derived from them."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import PermissionDenied, ValidationError

from numbers.models import BranchUserObjectPermission
from staff import services
from staff.choices import EmploymentStatus, Role
from staff.models import Employee
from staff.roles import ROLE_MODEL_PERMS
from staff.selectors import branch_scope

# Personas are loaded lazily (request.getfixturevalue): the mark opens the database first.
pytestmark = pytest.mark.django_db

User = get_user_model()


def fresh(user):
    """The user as the next request sees them (no cached scope or employee)."""
    return User.objects.get(pk=user.pk)


def grants(user) -> set[tuple[str, str]]:
    """(permission, branch code) pairs of the user's branch object permissions."""
    rows = BranchUserObjectPermission.objects.filter(user=user).values_list(
        "permission__codename", "content_object__code"
    )
    return set(rows)


def scope_codes(user, perm: str) -> set[str] | str:
    scope = branch_scope(fresh(user), perm)
    if scope.everywhere:
        return "everywhere"
    from numbers.models import Branch

    return set(Branch.objects.filter(pk__in=scope.branch_ids).values_list("code", flat=True))


def group_perms(group: Group) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


# --- Role groups ----------------------------------------------------------------


def test_roles_ensure_groups_creates_each_role_with_its_permissions(db):
    groups = services.roles_ensure_groups()
    assert set(groups) == set(Role.values)
    for role, group in groups.items():
        assert group.name == role
        assert group_perms(group) == set(ROLE_MODEL_PERMS[role])


def test_roles_ensure_groups_is_idempotent(db):
    first = services.roles_ensure_groups()
    snapshot = {role: (group.pk, group_perms(group)) for role, group in first.items()}
    group_count = Group.objects.count()

    second = services.roles_ensure_groups()

    assert Group.objects.count() == group_count == len(Role.values)
    assert {role: (group.pk, group_perms(group)) for role, group in second.items()} == snapshot


def test_roles_ensure_groups_repairs_a_tampered_group(db):
    groups = services.roles_ensure_groups()
    agent = groups[Role.AGENT]
    agent.permissions.add(Permission.objects.get(codename="delete_mobilenumber"))
    agent.permissions.remove(Permission.objects.get(codename="view_mobilenumber"))
    assert group_perms(agent) != set(ROLE_MODEL_PERMS[Role.AGENT])

    services.roles_ensure_groups()

    assert group_perms(agent) == set(ROLE_MODEL_PERMS[Role.AGENT])


# --- employee_create (personas are made by it) --------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("agent_a", {("view_branch_numbers", "branch-a"), ("operate_branch", "branch-a")}),
        ("agent_c", {("view_branch_numbers", "branch-b"), ("operate_branch", "branch-b")}),
        (
            "supervisor_b",
            {("view_branch_numbers", "branch-b"), ("operate_branch", "branch-b"), ("supervise_branch", "branch-b")},
        ),
        ("handler_a", {("view_branch_numbers", "branch-a"), ("handle_branch_complaints", "branch-a")}),
        ("auditor", set()),
    ],
)
def test_employee_create_grants_the_roles_branch_perms_only_on_its_branches(request, persona, expected):
    user = request.getfixturevalue(persona)
    assert grants(user) == expected
    employee = user.employee
    assert employee.employment_status == EmploymentStatus.ACTIVE
    assert {code for _, code in expected} <= set(employee.branches.values_list("code", flat=True))


def test_employee_create_records_who_and_why(agent_a, admin_user):
    created = agent_a.employee.history.earliest("history_date")
    assert created.history_type == "+"
    assert (created.history_user, created.history_change_reason) == (admin_user, "Demo and test persona")


@pytest.mark.parametrize("actor_name", ["agent_a", "supervisor_a", "auditor"])
def test_only_administrators_create_employees(request, admin_user, branch_a, actor_name):
    actor = request.getfixturevalue(actor_name)
    users = User.objects.count()
    with pytest.raises(PermissionDenied):
        services.employee_create(
            username="agent_a2",
            employee_code="E-AGENT_A2",
            roles=[Role.AGENT],
            branches=[branch_a],
            actor=actor,
            reason="Hire",
        )
    assert User.objects.count() == users
    assert not User.objects.filter(username="agent_a2").exists()


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_employee_create_needs_a_reason(admin_user, branch_a, reason):
    users = User.objects.count()
    with pytest.raises(ValidationError):
        services.employee_create(
            username="agent_a2",
            employee_code="E-AGENT_A2",
            roles=[Role.AGENT],
            branches=[branch_a],
            actor=admin_user,
            reason=reason,
        )
    assert User.objects.count() == users


# --- employee_set_branches ------------------------------------------------------------


def test_set_branches_moves_authority(admin_user, agent_a, branch_a, branch_b):
    services.employee_set_branches(employee=agent_a.employee, branches=[branch_b], actor=admin_user, reason="Moved")

    assert grants(agent_a) == {("view_branch_numbers", "branch-b"), ("operate_branch", "branch-b")}
    assert scope_codes(agent_a, "operate_branch") == {"branch-b"}

    services.employee_set_branches(
        employee=agent_a.employee, branches=[branch_a, branch_b], actor=admin_user, reason="Covers both"
    )
    assert scope_codes(agent_a, "view_branch_numbers") == {"branch-a", "branch-b"}

    services.employee_set_branches(employee=agent_a.employee, branches=[], actor=admin_user, reason="Between posts")
    assert grants(agent_a) == set()
    assert scope_codes(agent_a, "view_branch_numbers") == set()


def test_set_branches_leaves_other_employees_alone(admin_user, agent_a, agent_b, branch_b):
    before = grants(agent_b)
    services.employee_set_branches(employee=agent_a.employee, branches=[branch_b], actor=admin_user, reason="Moved")
    assert grants(agent_b) == before == {("view_branch_numbers", "branch-a"), ("operate_branch", "branch-a")}


def test_set_branches_is_recorded_with_the_branches(admin_user, agent_a, branch_b):
    services.employee_set_branches(
        employee=agent_a.employee, branches=[branch_b], actor=admin_user, reason="Moved to Siem Reap"
    )
    latest = agent_a.employee.history.first()
    assert (latest.history_user, latest.history_change_reason) == (admin_user, "Moved to Siem Reap")
    assert list(latest.branches.values_list("branch_id", flat=True)) == [branch_b.pk]
    earliest = agent_a.employee.history.last()
    assert earliest.history_change_reason == "Demo and test persona"


# --- employee_set_roles ---------------------------------------------------------------


def test_set_roles_changes_authority(admin_user, agent_a):
    services.employee_set_roles(employee=agent_a.employee, roles=[Role.SUPERVISOR], actor=admin_user, reason="Promoted")
    assert grants(agent_a) == {
        ("view_branch_numbers", "branch-a"),
        ("operate_branch", "branch-a"),
        ("supervise_branch", "branch-a"),
    }
    assert scope_codes(agent_a, "supervise_branch") == {"branch-a"}
    assert fresh(agent_a).has_perm("staff.view_employee")

    services.employee_set_roles(
        employee=agent_a.employee, roles=[Role.COMPLAINT_HANDLER], actor=admin_user, reason="Complaints desk"
    )
    assert grants(agent_a) == {("view_branch_numbers", "branch-a"), ("handle_branch_complaints", "branch-a")}
    assert scope_codes(agent_a, "operate_branch") == set()
    assert not fresh(agent_a).has_perm("numbers.add_subscriber")
    assert set(fresh(agent_a).groups.values_list("name", flat=True)) == {Role.COMPLAINT_HANDLER}


def test_set_roles_keeps_groups_that_are_not_roles(admin_user, agent_a):
    other = Group.objects.create(name="newsletter")
    agent_a.groups.add(other)
    services.employee_set_roles(employee=agent_a.employee, roles=[Role.SUPERVISOR], actor=admin_user, reason="Promoted")
    assert set(fresh(agent_a).groups.values_list("name", flat=True)) == {"newsletter", Role.SUPERVISOR}


def test_set_roles_refuses_an_unknown_role(admin_user, agent_a):
    before = grants(agent_a)
    with pytest.raises(ValidationError):
        services.employee_set_roles(employee=agent_a.employee, roles=["superhero"], actor=admin_user, reason="Try")
    assert grants(agent_a) == before
    assert set(fresh(agent_a).groups.values_list("name", flat=True)) == {Role.AGENT}


def test_set_roles_is_recorded(admin_user, agent_a):
    records = agent_a.employee.history.count()
    services.employee_set_roles(employee=agent_a.employee, roles=[Role.SUPERVISOR], actor=admin_user, reason="Promoted")
    assert agent_a.employee.history.count() == records + 1
    latest = agent_a.employee.history.first()
    assert (latest.history_user, latest.history_change_reason) == (admin_user, "Promoted")


# --- employee_set_status --------------------------------------------------------------


def test_suspension_removes_all_branch_authority_and_reinstating_restores_it(admin_user, supervisor_a):
    before = grants(supervisor_a)
    assert before

    services.employee_set_status(
        employee=supervisor_a.employee, status=EmploymentStatus.SUSPENDED, actor=admin_user, reason="Investigation"
    )
    assert grants(supervisor_a) == set()
    for perm in ("view_branch_numbers", "operate_branch", "supervise_branch"):
        assert scope_codes(supervisor_a, perm) == set()

    services.employee_set_status(
        employee=supervisor_a.employee, status=EmploymentStatus.ACTIVE, actor=admin_user, reason="Cleared"
    )
    assert grants(supervisor_a) == before
    assert scope_codes(supervisor_a, "supervise_branch") == {"branch-a"}


def test_status_changes_are_recorded(admin_user, agent_a):
    services.employee_set_status(
        employee=agent_a.employee, status=EmploymentStatus.SUSPENDED, actor=admin_user, reason="Investigation"
    )
    latest = agent_a.employee.history.first()
    assert latest.employment_status == EmploymentStatus.SUSPENDED
    assert (latest.history_user, latest.history_change_reason) == (admin_user, "Investigation")


def test_unknown_status_is_refused(admin_user, agent_a):
    with pytest.raises(ValidationError):
        services.employee_set_status(employee=agent_a.employee, status="retired", actor=admin_user, reason="Try")
    assert Employee.objects.get(user=agent_a).employment_status == EmploymentStatus.ACTIVE


def test_nobody_changes_their_own_status(admin_user, agent_a):
    with pytest.raises(PermissionDenied):
        services.employee_set_status(
            employee=admin_user.employee, status=EmploymentStatus.SUSPENDED, actor=admin_user, reason="Holiday"
        )
    assert Employee.objects.get(user=admin_user).employment_status == EmploymentStatus.ACTIVE
    # The same administrator may change somebody else's.
    services.employee_set_status(
        employee=agent_a.employee, status=EmploymentStatus.SUSPENDED, actor=admin_user, reason="Holiday"
    )
    assert Employee.objects.get(user=agent_a).employment_status == EmploymentStatus.SUSPENDED


# --- Who may call these, and a reason every time --------------------------------------


def _calls(employee, branch):
    return {
        "set_branches": lambda actor, reason: services.employee_set_branches(
            employee=employee, branches=[branch], actor=actor, reason=reason
        ),
        "set_roles": lambda actor, reason: services.employee_set_roles(
            employee=employee, roles=[Role.SUPERVISOR], actor=actor, reason=reason
        ),
        "set_status": lambda actor, reason: services.employee_set_status(
            employee=employee, status=EmploymentStatus.SUSPENDED, actor=actor, reason=reason
        ),
    }


def _snapshot(user):
    user = fresh(user)
    return (
        grants(user),
        set(user.groups.values_list("name", flat=True)),
        set(user.employee.branches.values_list("code", flat=True)),
        user.employee.employment_status,
        user.employee.history.count(),
    )


CALLS = ["set_branches", "set_roles", "set_status"]


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("actor_name", ["agent_a", "supervisor_b", "auditor"])
def test_only_administrators_change_employees(request, agent_b, branch_b, call, actor_name):
    actor = request.getfixturevalue(actor_name)
    before = _snapshot(agent_b)
    with pytest.raises(PermissionDenied):
        _calls(agent_b.employee, branch_b)[call](actor, "Because")
    assert _snapshot(agent_b) == before


@pytest.mark.parametrize("call", CALLS)
def test_administrator_changes_employees(admin_user, agent_b, branch_b, call):
    before = _snapshot(agent_b)
    _calls(agent_b.employee, branch_b)[call](admin_user, "Because")
    assert _snapshot(agent_b) != before


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("reason", ["", "  \n ", None])
def test_blank_reason_is_refused(admin_user, agent_b, branch_b, call, reason):
    before = _snapshot(agent_b)
    with pytest.raises(ValidationError):
        _calls(agent_b.employee, branch_b)[call](admin_user, reason)
    assert _snapshot(agent_b) == before


@pytest.mark.parametrize("call", CALLS)
def test_a_suspended_administrator_changes_nobody(admin_user, agent_a, agent_b, branch_b, call):
    """agent_b made an administrator may act; suspended, they keep the role but not the power."""
    services.employee_set_roles(
        employee=agent_b.employee, roles=[Role.ADMINISTRATOR], actor=admin_user, reason="Second administrator"
    )
    deputy = fresh(agent_b)
    services.employee_set_branches(employee=agent_a.employee, branches=[branch_b], actor=deputy, reason="Works")
    assert grants(agent_a) == {("view_branch_numbers", "branch-b"), ("operate_branch", "branch-b")}

    services.employee_set_status(
        employee=agent_b.employee, status=EmploymentStatus.SUSPENDED, actor=admin_user, reason="Investigation"
    )
    deputy = fresh(agent_b)
    assert deputy.has_perm("staff.change_employee")  # the role is still there
    before = _snapshot(agent_a)
    with pytest.raises(PermissionDenied):
        _calls(agent_a.employee, branch_b)[call](deputy, "Still working?")
    assert _snapshot(agent_a) == before
