"""Suspending an employee under review takes every power away in one call and
records it; reinstating gives back what still applies. Every rule both ways; a
refused call changes nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from guardian.models import UserObjectPermission
from guardian.shortcuts import assign_perm

from audit.chain import AuditedHistoricalRecord, chained_models
from audit.choices import AccessKind
from audit.models import AccessEvent, RefusedAttempt
from complaints import services as cs
from complaints.models import ComplaintUserObjectPermission
from complaints.tests.casework import make_handler, new_complaint
from numbers.exceptions import DeletionRefused
from numbers.models import BranchUserObjectPermission
from staff import services
from staff.choices import EmploymentStatus, Role
from staff.models import Employee, Suspension
from staff.personas import demo_password
from tests.helpers import refused

pytestmark = pytest.mark.django_db

User = get_user_model()

REASON = "under review: transfers pushed through without consent"


def fresh(user):
    return User.objects.get(pk=user.pk)


def sessions_of(user) -> int:
    return sum(1 for s in Session.objects.all() if str(s.get_decoded().get("_auth_user_id")) == str(user.pk))


def chained_record_count() -> int:
    """Audit records, the refusals' own aside: a refused call is recorded on purpose."""
    return sum(model._base_manager.count() for model in chained_models() if model is not RefusedAttempt)


def made_by(user) -> int:
    """History records the user made, on every audited table."""
    return sum(
        model._base_manager.filter(history_user_id=user.pk).count()
        for model in chained_models()
        if issubclass(model, AuditedHistoricalRecord)
    )


def authority(user) -> dict:
    """Everything suspension takes away or records, read fresh."""
    user = fresh(user)
    return {
        "is_active": user.is_active,
        "groups": sorted(user.groups.values_list("name", flat=True)),
        "permissions": sorted(user.user_permissions.values_list("codename", flat=True)),
        "branch": sorted(
            BranchUserObjectPermission.objects.filter(user=user).values_list("permission__codename", "content_object")
        ),
        "complaint": sorted(
            ComplaintUserObjectPermission.objects.filter(user=user).values_list(
                "permission__codename", "content_object"
            )
        ),
        "generic": sorted(
            UserObjectPermission.objects.filter(user=user).values_list("permission__codename", "object_pk")
        ),
        "status": Employee.objects.get(user=user).employment_status,
        "suspensions": list(Suspension.objects.filter(user=user).order_by("pk").values()),
        "sessions": sessions_of(user),
    }


def unchanged(user) -> dict:
    return {"authority": authority(user), "records": chained_record_count()}


def suspend(user, actor, reason=REASON):
    return services.employee_suspend(user=user, actor=actor, reason=reason)


def reinstate(user, actor, reason="cleared by the review"):
    return services.employee_reinstate(user=user, actor=actor, reason=reason)


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- Who may suspend and reinstate ---------------------------------------------------------------


@pytest.mark.parametrize("persona", ["auditor", "admin_user"])
def test_auditors_and_administrators_suspend_and_reinstate(request, persona, agent_b):
    actor = request.getfixturevalue(persona)
    suspension = suspend(agent_b, actor)
    assert (suspension.suspended_by, suspension.reason) == (actor, REASON)
    assert not fresh(agent_b).is_active

    reinstated = reinstate(agent_b, actor)
    assert (reinstated.pk, reinstated.reinstated_by, reinstated.reinstate_reason) == (
        suspension.pk,
        actor,
        "cleared by the review",
    )
    assert fresh(agent_b).is_active


@pytest.mark.parametrize("persona", ["agent_a", "handler_a", "supervisor_a"])
def test_others_do_not_suspend(request, persona, agent_b):
    actor = request.getfixturevalue(persona)
    logged_in(agent_b)
    before = unchanged(agent_b)
    refused(PermissionDenied, lambda: suspend(agent_b, actor))
    assert unchanged(agent_b) == before


@pytest.mark.parametrize("persona", ["agent_a", "handler_a", "supervisor_a"])
def test_others_do_not_reinstate(request, persona, auditor, agent_b):
    actor = request.getfixturevalue(persona)
    suspend(agent_b, auditor)
    before = unchanged(agent_b)
    refused(PermissionDenied, lambda: reinstate(agent_b, actor))
    assert unchanged(agent_b) == before


@pytest.mark.parametrize("persona", ["auditor", "admin_user"])
def test_nobody_suspends_themselves(request, persona):
    actor = request.getfixturevalue(persona)
    before = unchanged(actor)
    error = refused(PermissionDenied, lambda: suspend(actor, actor))
    assert "themselves" in str(error)
    assert unchanged(actor) == before


def test_only_a_superuser_suspends_a_superuser(auditor, admin_user):
    before = unchanged(admin_user)
    refused(PermissionDenied, lambda: suspend(admin_user, auditor))
    assert unchanged(admin_user) == before

    other = User.objects.create_superuser(username="admin2", password="x", email="admin2@backoffice.invalid")
    Employee.objects.create(user=other, employee_code="E-ADMIN2")
    assert suspend(other, admin_user).user == other
    assert not fresh(other).is_active


def test_a_suspended_reviewer_suspends_nobody(auditor, admin_user, agent_b):
    suspend(auditor, admin_user)
    before = unchanged(agent_b)
    refused(PermissionDenied, lambda: suspend(agent_b, fresh(auditor)))
    assert unchanged(agent_b) == before


# --- Once, with a reason --------------------------------------------------------------------------


def test_an_employee_is_suspended_once(auditor, admin_user, agent_b):
    suspend(agent_b, auditor)
    before = unchanged(agent_b)
    error = refused(ValidationError, lambda: suspend(agent_b, admin_user))
    assert error.messages == ["agent_b is already suspended."]
    assert unchanged(agent_b) == before


def test_only_a_suspended_employee_is_reinstated(auditor, agent_b):
    before = unchanged(agent_b)
    error = refused(ValidationError, lambda: reinstate(agent_b, auditor))
    assert error.messages == ["agent_b is not suspended."]
    assert unchanged(agent_b) == before

    suspend(agent_b, auditor)
    reinstate(agent_b, auditor)
    before = unchanged(agent_b)
    refused(ValidationError, lambda: reinstate(agent_b, auditor))
    assert unchanged(agent_b) == before


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_suspending_and_reinstating_need_a_reason(reason, auditor, agent_b):
    before = unchanged(agent_b)
    assert refused(ValidationError, lambda: suspend(agent_b, auditor, reason)).code == "reason_required"
    assert unchanged(agent_b) == before

    suspend(agent_b, auditor)
    before = unchanged(agent_b)
    assert refused(ValidationError, lambda: reinstate(agent_b, auditor, reason)).code == "reason_required"
    assert unchanged(agent_b) == before


def test_suspensions_are_never_deleted(auditor, agent_b):
    suspension = suspend(agent_b, auditor)
    refused(DeletionRefused, suspension.delete)
    refused(DeletionRefused, lambda: Suspension.objects.filter(pk=suspension.pk).delete())
    assert Suspension.objects.filter(pk=suspension.pk).exists()


# --- What suspending takes, and what it records ---------------------------------------------------


@pytest.fixture
def busy_handler(handler_a, holder, active):
    """handler_a with a complaint assigned, a direct permission, an object permission in
    guardian's generic table, and signed in on two browsers."""
    complaint = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    handler_a.user_permissions.add(Permission.objects.get(codename="add_subscriber"))
    assign_perm("numbers.view_subscriber", handler_a, holder)
    clients = [logged_in(handler_a), logged_in(handler_a)]
    return handler_a, complaint, clients


def test_suspending_takes_every_power_away_and_keeps_what_was_taken(auditor, branch_a, holder, busy_handler):
    handler, complaint, clients = busy_handler
    for client in clients:
        assert client.get(reverse("admin:index")).status_code == 200
    before = authority(handler)
    assert before["branch"] == [("handle_branch_complaints", branch_a.pk), ("view_branch_numbers", branch_a.pk)]
    assert before["complaint"] == [("handle_complaint", complaint.pk)]

    suspension = suspend(handler, auditor)

    after = authority(handler)
    assert {key: after[key] for key in ("is_active", "groups", "permissions", "branch", "complaint", "generic")} == {
        "is_active": False,
        "groups": [],
        "permissions": [],
        "branch": [],
        "complaint": [],
        "generic": [],
    }
    assert after["status"] == EmploymentStatus.SUSPENDED
    assert after["sessions"] == 0

    suspension = Suspension.objects.get(pk=suspension.pk)
    assert (suspension.user, suspension.suspended_by, suspension.reason, suspension.case) == (
        handler,
        auditor,
        REASON,
        None,
    )
    assert (suspension.was_active, suspension.employment_status_before) == (True, EmploymentStatus.ACTIVE)
    assert suspension.sessions_ended == 2
    assert list(suspension.groups_removed.values_list("name", flat=True)) == [Role.COMPLAINT_HANDLER]
    assert list(suspension.permissions_removed.values_list("codename", flat=True)) == ["add_subscriber"]
    removed = {(g["table"], g["model"], g["object_pk"], g["perm"]) for g in suspension.object_permissions_removed}
    assert removed == {
        ("numbers.branchuserobjectpermission", "numbers.branch", str(branch_a.pk), "view_branch_numbers"),
        ("numbers.branchuserobjectpermission", "numbers.branch", str(branch_a.pk), "handle_branch_complaints"),
        ("complaints.complaintuserobjectpermission", "complaints.complaint", str(complaint.pk), "handle_complaint"),
        ("guardian.userobjectpermission", "numbers.subscriber", str(holder.pk), "view_subscriber"),
    }
    # The complaint stays assigned to them: the supervisor decides whether to reassign it.
    complaint.refresh_from_db()
    assert complaint.assigned_to == handler


def test_a_suspended_employee_is_signed_out_and_cannot_sign_in(auditor, busy_handler):
    handler, _, clients = busy_handler
    suspend(handler, auditor)

    for client in clients:
        response = client.get(reverse("admin:index"))
        assert response.status_code == 302 and response.url.startswith(reverse("admin:login"))
        assert "_auth_user_id" not in client.session

    client = Client()
    response = client.post(reverse("admin:login"), {"username": handler.username, "password": demo_password()})
    assert response.status_code == 200  # the form again
    assert "_auth_user_id" not in client.session
    assert AccessEvent.objects.filter(kind=AccessKind.LOGIN_FAILED, username=handler.username).exists()


def test_every_change_of_a_suspension_is_recorded_with_who_and_why(auditor, busy_handler):
    handler, complaint, _ = busy_handler
    made = made_by(handler)
    assert made > 0  # taking the complaint in

    suspension = suspend(handler, auditor)

    stamped = {"history_user": auditor, "history_change_reason": REASON}
    users = User.history.filter(id=handler.pk, **stamped).order_by("history_id")
    assert users.exists() and not users.last().is_active
    assert all(record.actor_label == "auditor" for record in users)
    # The groups and direct permissions as they were after each recorded change: none at the end.
    last = users.last()
    assert not last.historicaluser_groups_set.exists() and not last.historicaluser_user_permissions_set.exists()
    assert any(record.historicaluser_groups_set.exists() for record in User.history.filter(id=handler.pk))

    branch_removals = BranchUserObjectPermission.history.filter(user_id=handler.pk, history_type="-", **stamped)
    assert sorted(branch_removals.values_list("permission__codename", flat=True)) == [
        "handle_branch_complaints",
        "view_branch_numbers",
    ]
    complaint_removals = ComplaintUserObjectPermission.history.filter(
        user_id=handler.pk, content_object_id=complaint.pk, history_type="-", **stamped
    )
    assert complaint_removals.count() == 1

    employee = Employee.history.filter(id=handler.employee.pk, **stamped).order_by("history_id").last()
    assert employee.employment_status == EmploymentStatus.SUSPENDED
    assert Suspension.history.filter(id=suspension.pk, history_type="+", **stamped).exists()
    record = Suspension.history.filter(id=suspension.pk).order_by("history_id").last()
    removed_groups = record.historicalsuspension_groups_removed_set.values_list("group__name", flat=True)
    assert list(removed_groups) == [Role.COMPLAINT_HANDLER]

    # The evidence stays: every record they made is still there, none added in their name.
    assert made_by(handler) == made


# --- Reinstating ------------------------------------------------------------------------------------


def test_reinstating_gives_back_what_was_taken(auditor, busy_handler):
    handler, _, _ = busy_handler
    before = authority(handler)
    suspension = suspend(handler, auditor)

    reinstated = reinstate(handler, auditor)

    after = authority(handler)
    for key in ("is_active", "groups", "permissions", "branch", "complaint", "generic", "status"):
        assert after[key] == before[key], key
    reinstated = Suspension.objects.get(pk=suspension.pk)
    assert (reinstated.reinstated_by, reinstated.reinstate_reason, reinstated.not_restored) == (
        auditor,
        "cleared by the review",
        [],
    )
    assert reinstated.reinstated_at is not None
    stamped = {"history_user": auditor, "history_change_reason": "cleared by the review"}
    assert User.history.filter(id=handler.pk, is_active=True, **stamped).exists()
    assert Employee.history.filter(id=handler.employee.pk, employment_status=EmploymentStatus.ACTIVE, **stamped)
    assert Suspension.history.filter(id=suspension.pk, history_type="~", **stamped).exists()

    # And they sign in again.
    response = Client().post(reverse("admin:login"), {"username": handler.username, "password": demo_password()})
    assert response.status_code == 302


def test_a_complaint_reassigned_meanwhile_is_not_given_back(auditor, admin_user, supervisor_a, branch_a, busy_handler):
    handler, complaint, _ = busy_handler
    suspension = suspend(handler, auditor)
    handler_a2 = make_handler("handler_a2", branch=branch_a, admin=admin_user)
    cs.complaint_assign(complaint=complaint, assignee=handler_a2, actor=supervisor_a, reason="handler_a is suspended")

    reinstate(handler, auditor)

    after = authority(handler)
    assert after["complaint"] == []
    assert after["is_active"] and after["groups"] == [Role.COMPLAINT_HANDLER]
    assert ComplaintUserObjectPermission.objects.filter(user=handler_a2, content_object=complaint).exists()
    suspension.refresh_from_db()
    assert suspension.not_restored == [
        {
            "table": "complaints.complaintuserobjectpermission",
            "model": "complaints.complaint",
            "object_pk": str(complaint.pk),
            "perm": "handle_complaint",
            "why": "the complaint was reassigned while they were suspended",
        }
    ]


def test_a_second_suspension_after_reinstatement_is_its_own_record(auditor, agent_b):
    first = suspend(agent_b, auditor)
    reinstate(agent_b, auditor)
    second = suspend(agent_b, auditor, "new evidence")
    assert second.pk != first.pk
    assert list(Suspension.objects.filter(user=agent_b).order_by("pk").values_list("reason", flat=True)) == [
        REASON,
        "new evidence",
    ]
    assert not fresh(agent_b).is_active
