"""Suspension by any path ends the sessions and refuses the login: the review's
service, the Employee admin, the command, and a status written to the database
behind all of them (then the backend and the middleware stop the account)."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from audit.choices import AccessKind
from audit.models import AccessEvent, RefusedAttempt
from staff import services
from staff.choices import EmploymentStatus
from staff.models import Employee, Suspension
from staff.personas import demo_password

pytestmark = pytest.mark.django_db

User = get_user_model()
LOGIN = "/admin/login/"
REASON = "under review: transfers pushed through without consent"


def signed_in(username: str) -> Client:
    client = Client()
    response = client.post(LOGIN, {"username": username, "password": demo_password(), "next": "/admin/"})
    assert response.status_code == 302 and response.url == "/admin/", f"{username} could not sign in"
    return client


def sessions_of(user) -> int:
    return sum(1 for s in Session.objects.all() if str(s.get_decoded().get("_auth_user_id")) == str(user.pk))


def is_signed_out(client: Client) -> bool:
    response = client.get("/admin/")
    return response.status_code == 302 and response.url.startswith(LOGIN)


def login_refused(username: str) -> bool:
    client = Client()
    response = client.post(LOGIN, {"username": username, "password": demo_password(), "next": "/admin/"})
    return response.status_code == 200 and "_auth_user_id" not in client.session


def test_the_review_service_ends_the_sessions_and_refuses_the_login(auditor, agent_b):
    client = signed_in("agent_b")
    services.employee_suspend(user=agent_b, actor=auditor, reason=REASON)
    assert sessions_of(agent_b) == 0
    assert is_signed_out(client)
    assert login_refused("agent_b")


def test_the_employee_admin_suspends_through_the_service(auditor, admin_user, agent_b):
    client = signed_in("agent_b")
    admin = Client()
    admin.force_login(admin_user)
    response = admin.post(
        "/admin/staff/employee/",
        {"action": "suspend_selected", "_selected_action": [agent_b.employee.pk], "reason": REASON},
        follow=True,
    )
    assert response.status_code == 200
    suspension = Suspension.objects.get(user=agent_b, reinstated_at__isnull=True)
    assert (suspension.suspended_by, suspension.reason, suspension.sessions_ended) == (admin_user, REASON, 1)
    assert is_signed_out(client)
    assert login_refused("agent_b")

    # And back, through the service again.
    admin.post(
        "/admin/staff/employee/",
        {"action": "reinstate_selected", "_selected_action": [agent_b.employee.pk], "reason": "cleared"},
    )
    assert Suspension.objects.get(pk=suspension.pk).reinstated_by == admin_user
    signed_in("agent_b")


def test_the_employee_admin_action_needs_a_reason_and_the_authority(agent_b, agent_c, admin_user, supervisor_a):
    admin = Client()
    admin.force_login(admin_user)
    admin.post("/admin/staff/employee/", {"action": "suspend_selected", "_selected_action": [agent_b.employee.pk]})
    assert not Suspension.objects.exists()

    # A supervisor may open the employee list only if the admin lets them; the service says no either way.
    other = Client()
    other.force_login(supervisor_a)
    other.post(
        "/admin/staff/employee/",
        {"action": "suspend_selected", "_selected_action": [agent_b.employee.pk], "reason": REASON},
    )
    assert not Suspension.objects.exists()
    assert login_refused("agent_b") is False


def test_the_employee_admin_does_not_write_the_status(admin_user, agent_b):
    client = signed_in("agent_b")
    admin = Client()
    admin.force_login(admin_user)
    url = f"/admin/staff/employee/{agent_b.employee.pk}/change/"
    page = admin.get(url).content.decode()
    assert 'name="employment_status"' not in page
    admin.post(
        url,
        {
            "employee_code": agent_b.employee.employee_code,
            "roles": [g.name for g in agent_b.groups.all()],
            "branches": [b.pk for b in agent_b.employee.branches.all()],
            "employment_status": EmploymentStatus.SUSPENDED,
            "change_reason": "suspend by the form",
        },
    )
    assert Employee.objects.get(pk=agent_b.employee.pk).employment_status == EmploymentStatus.ACTIVE
    assert not is_signed_out(client)


def test_the_command_suspends_through_the_service(auditor, agent_b):
    client = signed_in("agent_b")
    call_command("employee", "suspend", "agent_b", "--actor", "auditor", "--reason", REASON)
    assert Suspension.objects.get(user=agent_b).suspended_by == auditor
    assert is_signed_out(client)
    assert login_refused("agent_b")

    call_command("employee", "reinstate", "agent_b", "--actor", "auditor", "--reason", "cleared")
    signed_in("agent_b")


def test_the_command_refuses_who_may_not_and_the_attempt_is_kept(agent_a, agent_b):
    client = signed_in("agent_b")
    with pytest.raises(CommandError, match="Refused, nothing changed"):
        call_command("employee", "suspend", "agent_b", "--actor", "agent_a", "--reason", "payback")
    assert not Suspension.objects.exists()
    assert not is_signed_out(client)
    attempt = RefusedAttempt.objects.get()
    assert (attempt.actor, attempt.service, attempt.target_pk) == (agent_a, "employee_suspend", str(agent_b.pk))


def test_a_superuser_is_suspended_only_by_a_superuser(auditor, admin_user, agent_b):
    with pytest.raises(PermissionDenied):
        services.employee_suspend(user=admin_user, actor=auditor, reason=REASON)
    assert User.objects.get(pk=admin_user.pk).is_active
    services.employee_suspend(user=agent_b, actor=admin_user, reason=REASON)
    assert login_refused("agent_b")


def test_setting_the_status_to_suspended_signs_out_too(admin_user, agent_b):
    client = signed_in("agent_b")
    services.employee_set_status(
        employee=agent_b.employee, status=EmploymentStatus.SUSPENDED, actor=admin_user, reason="parental leave"
    )
    assert sessions_of(agent_b) == 0
    assert is_signed_out(client)
    assert login_refused("agent_b")


def test_a_suspension_pending_review_is_not_lifted_by_a_status_change(auditor, admin_user, agent_b):
    services.employee_suspend(user=agent_b, actor=auditor, reason=REASON)
    with pytest.raises(Exception, match="only a reinstatement"):
        services.employee_set_status(
            employee=Employee.objects.get(user=agent_b), status=EmploymentStatus.ACTIVE, actor=admin_user, reason="x"
        )
    assert Employee.objects.get(user=agent_b).employment_status == EmploymentStatus.SUSPENDED


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE staff_employee SET employment_status = 'suspended' WHERE user_id = %s",
        "UPDATE auth_user SET is_active = FALSE WHERE id = %s",
    ],
    ids=["employee-suspended", "account-disabled"],
)
def test_a_raw_database_write_signs_out_on_the_next_request_and_refuses_the_login(agent_b, sql):
    client = signed_in("agent_b")
    assert sessions_of(agent_b) == 1
    with connection.cursor() as cursor:
        cursor.execute(sql, [agent_b.pk])
    assert is_signed_out(client)
    assert sessions_of(agent_b) == 0
    assert AccessEvent.objects.filter(user=agent_b, kind=AccessKind.LOGOUT).exists()
    assert login_refused("agent_b")


def test_a_working_employee_still_signs_in_and_stays_in(agent_b):
    client = signed_in("agent_b")
    assert not is_signed_out(client)
