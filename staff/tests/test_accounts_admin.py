"""Accounts in the admin: authority is never granted around the employee record,
it can be reviewed, and repeated failed logins lock an account."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from numbers.models import BranchUserObjectPermission
from staff.choices import Role
from staff.personas import demo_password

pytestmark = pytest.mark.django_db
User = get_user_model()


def user_change_data(user, **changes) -> dict:
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "is_active": "on",
        "is_staff": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "09:00:00",
    }
    data.update(changes)
    return data


def test_user_admin_cannot_grant_roles_permissions_or_superuser(client, admin_user, agent_a):
    client.force_login(admin_user)
    supervisor_group = Group.objects.get(name=Role.SUPERVISOR)
    operate_anywhere = Permission.objects.get(codename="operate_branch")
    response = client.post(
        reverse("admin:auth_user_change", args=[agent_a.pk]),
        user_change_data(
            agent_a,
            first_name="Renamed",
            groups=[supervisor_group.pk],
            user_permissions=[operate_anywhere.pk],
            is_superuser="on",
        ),
    )
    assert response.status_code == 302, response.content[:2000]
    agent_a.refresh_from_db()
    assert agent_a.first_name == "Renamed"  # the allowed part of the form saved
    assert list(agent_a.groups.values_list("name", flat=True)) == [Role.AGENT]
    assert not agent_a.user_permissions.exists()
    assert agent_a.is_superuser is False


def test_users_are_never_deleted_from_the_admin(client, admin_user, agent_a):
    client.force_login(admin_user)
    assert client.get(reverse("admin:auth_user_delete", args=[agent_a.pk])).status_code == 403
    action_form = client.get(reverse("admin:auth_user_changelist")).context["action_form"]
    assert action_form is None or "delete_selected" not in dict(action_form.fields["action"].choices)
    assert User.objects.filter(pk=agent_a.pk).exists()


def test_branch_authority_is_reviewable_by_supervisors_and_auditors(client, supervisor_a, auditor, agent_a):
    url = reverse("admin:numbers_branchuserobjectpermission_changelist")
    for reviewer in (supervisor_a, auditor):
        client.force_login(reviewer)
        response = client.get(url)
        assert response.status_code == 200
        shown = {(row.user.username, row.permission.codename) for row in response.context["cl"].result_list}
        assert ("agent_a", "operate_branch") in shown
        assert ("supervisor_a", "supervise_branch") in shown


def test_branch_authority_is_not_shown_to_agents_nor_editable_by_anyone(client, admin_user, agent_a):
    client.force_login(agent_a)
    assert client.get(reverse("admin:numbers_branchuserobjectpermission_changelist")).status_code == 403
    client.force_login(admin_user)
    row = BranchUserObjectPermission.objects.filter(user=agent_a).first()
    assert client.get(reverse("admin:numbers_branchuserobjectpermission_add")).status_code == 403
    assert client.get(reverse("admin:numbers_branchuserobjectpermission_delete", args=[row.pk])).status_code == 403
    before = BranchUserObjectPermission.objects.count()
    client.post(
        reverse("admin:numbers_branchuserobjectpermission_change", args=[row.pk]),
        {"user": admin_user.pk, "permission": row.permission_id, "content_object": row.content_object_id},
    )
    row.refresh_from_db()
    assert row.user_id == agent_a.pk and BranchUserObjectPermission.objects.count() == before


def test_login_works_with_the_right_password(client, supervisor_a):
    response = client.post(
        reverse("admin:login"), {"username": "supervisor_a", "password": demo_password(), "next": "/admin/"}
    )
    assert response.status_code == 302 and response.url == "/admin/"


def test_repeated_failed_logins_lock_the_account(client, supervisor_a, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        refused = client.post(reverse("admin:login"), {"username": "supervisor_a", "password": "wrong"})
        assert refused.status_code == 200  # the form again, with an error
    last_try = client.post(reverse("admin:login"), {"username": "supervisor_a", "password": "wrong"})
    assert last_try.status_code == 429
    # Locked: even the right password is refused now.
    locked = client.post(reverse("admin:login"), {"username": "supervisor_a", "password": demo_password()})
    assert locked.status_code == 429
    assert "_auth_user_id" not in client.session
