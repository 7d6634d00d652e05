"""branch_scope: which branches a user may see or act on."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from guardian.models import GroupObjectPermission, UserObjectPermission

from numbers import services as number_services
from numbers.choices import NumberStatus
from numbers.models import Branch, BranchGroupObjectPermission, BranchUserObjectPermission, MobileNumber
from numbers.selectors import number_list
from staff import services
from staff.choices import EmploymentStatus
from staff.selectors import BranchScope, branch_scope, clear_scope_cache, has_branch_perm, is_working
from tests.factories import MobileNumberFactory, number_in_state

# Personas are loaded lazily (request.getfixturevalue): the mark opens the database first.
pytestmark = pytest.mark.django_db

User = get_user_model()


BRANCH_PERMS = ("view_branch_numbers", "operate_branch", "supervise_branch", "handle_branch_complaints")


def fresh(user):
    return User.objects.get(pk=user.pk)


def codes(scope: BranchScope) -> set[str] | str:
    if scope.everywhere:
        return "everywhere"
    return set(Branch.objects.filter(pk__in=scope.branch_ids).values_list("code", flat=True))


# persona -> perm -> branches ("everywhere" or a set of branch codes)
EXPECTED = {
    "agent_a": {
        "view_branch_numbers": {"branch-a"},
        "operate_branch": {"branch-a"},
        "supervise_branch": set(),
        "handle_branch_complaints": set(),
    },
    "agent_c": {
        "view_branch_numbers": {"branch-b"},
        "operate_branch": {"branch-b"},
        "supervise_branch": set(),
        "handle_branch_complaints": set(),
    },
    "supervisor_b": {
        "view_branch_numbers": {"branch-b"},
        "operate_branch": {"branch-b"},
        "supervise_branch": {"branch-b"},
        "handle_branch_complaints": set(),
    },
    "handler_a": {
        "view_branch_numbers": {"branch-a"},
        "operate_branch": set(),
        "supervise_branch": set(),
        "handle_branch_complaints": {"branch-a"},
    },
    # Auditors read everywhere and act nowhere.
    "auditor": {
        "view_branch_numbers": "everywhere",
        "operate_branch": set(),
        "supervise_branch": set(),
        "handle_branch_complaints": set(),
    },
    "admin_user": dict.fromkeys(BRANCH_PERMS, "everywhere"),
}


@pytest.mark.parametrize("persona", sorted(EXPECTED))
@pytest.mark.parametrize("perm", BRANCH_PERMS)
def test_branch_scope_of_each_persona(request, branches, persona, perm):
    user = fresh(request.getfixturevalue(persona))
    assert codes(branch_scope(user, perm)) == EXPECTED[persona][perm]


def test_has_branch_perm_both_ways(agent_a, auditor, branch_a, branch_b):
    assert has_branch_perm(fresh(agent_a), "operate_branch", branch_a.pk)
    assert not has_branch_perm(fresh(agent_a), "operate_branch", branch_b.pk)
    assert not has_branch_perm(fresh(agent_a), "operate_branch", None)
    assert has_branch_perm(fresh(auditor), "view_branch_numbers", branch_b.pk)
    assert not has_branch_perm(fresh(auditor), "operate_branch", branch_b.pk)


def test_inactive_user_is_nowhere(agent_a, admin_user, branch_a):
    assert codes(branch_scope(fresh(agent_a), "view_branch_numbers")) == {"branch-a"}
    User.objects.filter(pk__in=[agent_a.pk, admin_user.pk]).update(is_active=False)
    for user in (agent_a, admin_user):
        user = fresh(user)
        assert not is_working(user)
        for perm in BRANCH_PERMS:
            assert codes(branch_scope(user, perm)) == set()


def test_suspended_employee_is_nowhere_even_with_a_stray_grant(admin_user, agent_a, branch_a):
    services.employee_set_status(
        employee=agent_a.employee, status=EmploymentStatus.SUSPENDED, actor=admin_user, reason="Investigation"
    )
    # Even if a grant were left behind, the suspension alone stops the account.
    from guardian.shortcuts import assign_perm

    assign_perm("numbers.operate_branch", fresh(agent_a), branch_a)
    user = fresh(agent_a)
    assert not is_working(user)
    assert codes(branch_scope(user, "operate_branch")) == set()


def test_is_working_both_ways(agent_a, auditor, admin_user):
    for user in (agent_a, auditor, admin_user):
        assert is_working(fresh(user))


def test_scope_is_cached_per_user_object_and_cleared_on_demand(admin_user, agent_a, branch_b):
    user = fresh(agent_a)
    assert codes(branch_scope(user, "operate_branch")) == {"branch-a"}
    services.employee_set_branches(employee=agent_a.employee, branches=[branch_b], actor=admin_user, reason="Moved")
    # Within one request the answer does not change under the user's feet...
    assert codes(branch_scope(user, "operate_branch")) == {"branch-a"}
    # ...the next request (or a cleared cache) sees the new branch.
    clear_scope_cache(user)
    assert codes(branch_scope(user, "operate_branch")) == {"branch-b"}
    assert codes(branch_scope(fresh(agent_a), "operate_branch")) == {"branch-b"}


def test_scope_filters_querysets_by_branch(admin_user, agent_a, agent_c, auditor, branch_a, branch_b):
    in_a = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    in_b = MobileNumberFactory(branch=branch_b)
    assert set(number_list(user=fresh(agent_a))) == {in_a}
    assert set(number_list(user=fresh(agent_c))) == {in_b}
    assert set(number_list(user=fresh(auditor))) == {in_a, in_b}
    assert set(number_list(user=fresh(auditor), perm="operate_branch")) == set()


def _permission_rows() -> dict[str, int]:
    return {
        "branch user": BranchUserObjectPermission.objects.count(),
        "branch group": BranchGroupObjectPermission.objects.count(),
        "generic user": UserObjectPermission.objects.count(),
        "generic group": GroupObjectPermission.objects.count(),
    }


def test_no_permission_row_exists_per_number(admin_user, agent_a, agent_c, supervisor_a, handler_a, branch_a, branch_b):
    before = _permission_rows()
    assert before["branch user"] > 0  # the personas' branch grants are there...
    assert before["generic user"] == before["generic group"] == 0  # ...on the direct foreign-key tables

    for index in range(3):
        number_services.number_create(
            msisdn=f"+8551299000{index}", branch=branch_a, actor=admin_user, reason="New stock"
        )
    number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    number_in_state(NumberStatus.SUSPENDED, actor=agent_c, branch=branch_b)
    blocked = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    number_services.number_block(number=blocked, actor=handler_a, reason="Complaint")
    number_in_state(NumberStatus.AGING, actor=supervisor_a, branch=branch_a)

    assert MobileNumber.objects.count() == 7
    assert _permission_rows() == before
