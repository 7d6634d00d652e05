"""Refused attempts are evidence: a refusal on authority or a rule is kept, with who,
what, which rule, which service and which request; bad input is not.

These tests call the services without ``tests.helpers.refused``: its savepoint would
roll the record back together with the refused call.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from audit.chain import verify_table
from audit.choices import RefusalKind
from audit.context import audited, request_scope
from audit.models import RefusedAttempt
from numbers import services
from numbers.choices import NumberStatus
from numbers.exceptions import IllegalMove
from numbers.models import ConsentCode, MobileNumber
from tests.factories import number_in_state, transfer_awaiting_approval
from tests.snapshots import number_snapshot

pytestmark = pytest.mark.django_db


def only_refusal() -> RefusedAttempt:
    [attempt] = RefusedAttempt.objects.all()
    return attempt


def test_an_agent_withdrawing_a_held_number_is_refused_and_the_attempt_kept(agent_a, active):
    before = number_snapshot(active)
    with request_scope("a" * 32), pytest.raises(PermissionDenied):
        services.number_transition(
            number=active, to_status=NumberStatus.WITHDRAWN, actor=agent_a, reason="customer asked"
        )

    assert number_snapshot(active) == before
    attempt = only_refusal()
    assert attempt.actor == agent_a
    assert attempt.actor_label == "agent_a"
    assert attempt.kind == RefusalKind.AUTHORITY
    assert attempt.rule == "permission_denied"
    assert attempt.service == "number_transition"
    assert (attempt.target_model, attempt.target_pk) == ("numbers.mobilenumber", str(active.pk))
    assert attempt.target_label == active.msisdn
    assert "authority" in attempt.message.lower() or "may not" in attempt.message.lower()
    assert attempt.history_request_id == "a" * 32
    assert verify_table(RefusedAttempt) == (1, None)


def test_an_illegal_move_by_a_supervisor_is_kept_as_a_rule(supervisor_a, active):
    with pytest.raises(IllegalMove):
        services.number_transition(number=active, to_status=NumberStatus.AVAILABLE, actor=supervisor_a, reason="x")

    attempt = only_refusal()
    assert (attempt.actor, attempt.kind, attempt.rule) == (supervisor_a, RefusalKind.RULE, "illegal_move")
    assert len(attempt.history_request_id) == 32


def test_approving_ones_own_request_is_kept(supervisor_a, branch_a):
    own = transfer_awaiting_approval(actor=supervisor_a, branch=branch_a)
    with pytest.raises(ValidationError):
        services.transfer_approve(request=own, actor=supervisor_a, reason="approving my own")

    attempt = only_refusal()
    assert (attempt.service, attempt.rule) == ("transfer_approve", "approval_refused")
    assert (attempt.target_model, attempt.target_pk) == ("numbers.transferrequest", str(own.pk))
    assert "You made this request" in attempt.message


def test_a_superuser_is_refused_and_kept_like_anyone(admin_user, agent_a, branch_a):
    request = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    with pytest.raises(ValidationError):
        services.transfer_approve(request=request, actor=admin_user, reason="I can do anything")

    attempt = only_refusal()
    assert (attempt.actor, attempt.rule) == (admin_user, "approval_refused")
    assert "Superuser accounts do not approve" in attempt.message


def test_a_wrong_one_time_code_is_kept_with_its_counted_try(agent_b, open_request, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.consent_code_send(request=open_request, actor=agent_b, reason="holder on the phone")
    with pytest.raises(ValidationError) as exc:
        services.consent_code_verify(request=open_request, code="abcdef", actor=agent_b, reason="read back")

    assert exc.value.code == "wrong_code"
    assert ConsentCode.objects.get(request=open_request).attempts == 1
    attempt = only_refusal()
    assert (attempt.actor, attempt.rule, attempt.service) == (agent_b, "wrong_code", "_consent_code_check")
    assert (attempt.target_model, attempt.target_pk) == ("numbers.transferrequest", str(open_request.pk))


def test_the_view_records_the_request_id_it_answers_with(client, supervisor_a, branch_a):
    own = transfer_awaiting_approval(actor=supervisor_a, branch=branch_a)
    client.force_login(supervisor_a)
    response = client.post(f"/approvals/{own.pk}/approve/", {"approve-reason": "approving my own"})

    assert response.status_code == 302
    attempt = only_refusal()
    assert attempt.history_request_id == response["X-Request-ID"]
    assert attempt.rule == "approval_refused"


@pytest.mark.parametrize(
    "call",
    [
        # A reason left out, a malformed number: typing mistakes, not attempts.
        lambda number, actor: services.number_transition(
            number=number, to_status=NumberStatus.SUSPENDED, actor=actor, reason=""
        ),
        lambda number, actor: services.number_create(
            msisdn="not a number", branch=number.branch, actor=actor, reason="x"
        ),
        lambda number, actor: services.number_transition(number=number, to_status="somewhere", actor=actor, reason="x"),
    ],
    ids=["missing-reason", "malformed-msisdn", "unknown-status"],
)
def test_bad_input_is_not_an_attempt(admin_user, active, call):
    with pytest.raises(ValidationError):
        call(active, admin_user)
    assert not RefusedAttempt.objects.exists()


def test_an_allowed_call_records_no_refusal(agent_a, active):
    services.number_transition(number=active, to_status=NumberStatus.SUSPENDED, actor=agent_a, reason="stolen phone")
    assert not RefusedAttempt.objects.exists()


@audited
def _outer_service(*, number: MobileNumber, actor, reason: str, swallow: bool):
    """A service calling another, as complaints call the number services."""
    try:
        services.number_transition(number=number, to_status=NumberStatus.WITHDRAWN, actor=actor, reason=reason)
    except PermissionDenied:
        if not swallow:
            raise


def test_only_the_outermost_service_records_a_refusal(agent_a, active):
    with pytest.raises(PermissionDenied):
        _outer_service(number=active, actor=agent_a, reason="x", swallow=False)
    assert only_refusal().service == "_outer_service"


def test_a_refusal_the_calling_service_handles_is_not_an_attempt(agent_a, active):
    _outer_service(number=active, actor=agent_a, reason="x", swallow=True)
    assert not RefusedAttempt.objects.exists()


def test_refused_attempts_are_append_only(agent_a, active):
    with pytest.raises(PermissionDenied):
        services.number_transition(number=active, to_status=NumberStatus.WITHDRAWN, actor=agent_a, reason="x")
    attempt = only_refusal()
    for write in (
        lambda: RefusedAttempt.objects.filter(pk=attempt.pk).update(message="nothing happened"),
        lambda: RefusedAttempt.objects.filter(pk=attempt.pk).delete(),
        attempt.save,
        attempt.delete,
    ):
        with pytest.raises(ValidationError), transaction.atomic():
            write()
    assert RefusedAttempt.objects.get().message == attempt.message


@pytest.mark.django_db(transaction=True)
def test_the_attempt_outlives_the_rollback_of_the_refused_call(agent_a, branch_a):
    """Outside any test transaction: the service rolled back, its refusal is committed."""
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    with pytest.raises(PermissionDenied):
        services.number_transition(number=number, to_status=NumberStatus.WITHDRAWN, actor=agent_a, reason="x")
    number.refresh_from_db()
    assert number.status == NumberStatus.ACTIVE
    assert RefusedAttempt.objects.filter(actor=agent_a, target_pk=str(number.pk)).count() == 1


# --- Where reviewers read them ----------------------------------------------------------


@pytest.fixture
def refused_withdrawal(agent_a, active):
    with pytest.raises(PermissionDenied):
        services.number_transition(number=active, to_status=NumberStatus.WITHDRAWN, actor=agent_a, reason="sell it on")
    return only_refusal()


def test_the_review_shows_the_employees_refused_attempts(client, auditor, agent_a, refused_withdrawal, active):
    client.force_login(auditor)
    page = client.get(f"/review/?employee={agent_a.pk}").content.decode()
    section = page[page.index('id="refused-attempts"') :]
    assert "number_transition" in section and "permission_denied" in section and active.msisdn in section
    assert f"/review/request/{refused_withdrawal.history_request_id}/" in section

    request_page = client.get(f"/review/request/{refused_withdrawal.history_request_id}/")
    assert request_page.status_code == 200
    assert 'id="request-refusals"' in request_page.content.decode()


def test_another_employees_review_does_not_show_them(client, auditor, agent_b, refused_withdrawal):
    client.force_login(auditor)
    page = client.get(f"/review/?employee={agent_b.pk}").content.decode()
    assert "No refused attempt recorded." in page


def test_the_csv_and_the_dossier_carry_them(client, auditor, agent_a, refused_withdrawal, active):
    import csv
    import io

    from pypdf import PdfReader

    client.force_login(auditor)
    response = client.get(f"/review/export.csv?employee={agent_a.pk}")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    [row] = [r for r in rows if r["action"] == "refused"]
    assert row["model"] == "numbers.mobilenumber" and row["object id"] == str(active.pk)
    assert row["after"] == "permission_denied" and row["actor"] == "agent_a"
    assert row["request id"] == refused_withdrawal.history_request_id

    response = client.get(f"/review/dossier.pdf?employee={agent_a.pk}")
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(" ".join(page.extract_text().split()) for page in reader.pages)
    assert "Attempts refused to agent_a" in text and "permission_denied" in text
    assert "audit_refusedattempt" in text and "BROKEN" not in text


# --- Refusals of the model guards: the shell and the admin ------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_guard_refusal_in_the_shell_is_kept(agent_a, branch_a):
    """Outside any transaction, as in ``manage.py shell``: the guard's refusal is kept."""
    from numbers.exceptions import GuardedFieldChange, HolderChangeRefused
    from numbers.models import Holding
    from tests.factories import SubscriberFactory

    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    stranger = SubscriberFactory()
    number.holder = stranger
    with pytest.raises(HolderChangeRefused):
        number.save()
    with pytest.raises(GuardedFieldChange):
        Holding.objects.create(number=number, subscriber=stranger, start_reason="sale")

    rules = list(RefusedAttempt.objects.order_by("pk").values_list("service", "rule", "target_pk"))
    assert rules == [
        ("numbers.mobilenumber save", "holder_change_refused", str(number.pk)),
        ("numbers.holding save", "ledger_write_refused", ""),
    ]
    assert MobileNumber.objects.get(pk=number.pk).holder_id != stranger.pk


def test_a_guard_refusal_in_an_admin_form_is_kept_after_the_rollback(rf, admin_user, active):
    """A change form that let ``holder`` through (none does): the guard refuses, the
    admin rolls back, says why, and the attempt is kept with who made it."""
    from django.contrib import admin
    from django.contrib.messages.storage.fallback import FallbackStorage

    from backoffice.adminkit import PortalModelAdmin
    from tests.factories import SubscriberFactory

    class ForgedNumberAdmin(PortalModelAdmin):
        fields = ("holder", "change_reason")

    stranger = SubscriberFactory()
    request = rf.post("/admin/numbers/mobilenumber/", {"holder": stranger.pk, "change_reason": "give it away"})
    request.user, request.session, request._dont_enforce_csrf_checks = admin_user, {}, True
    request._messages = FallbackStorage(request)
    before = number_snapshot(active)

    response = ForgedNumberAdmin(MobileNumber, admin.site).changeform_view(request, str(active.pk))

    assert response.status_code == 302
    assert number_snapshot(active) == before
    attempt = only_refusal()
    assert (attempt.actor, attempt.service, attempt.rule) == (
        admin_user,
        "admin: numbers.mobilenumber",
        "holder_change_refused",
    )
    assert attempt.target_pk == str(active.pk)


def test_a_refusal_in_an_admin_action_is_kept_once_by_the_service(client, admin_user, agent_b):
    """The Employee admin's suspension of oneself: refused by the service, kept once."""
    client.force_login(admin_user)
    client.post(
        "/admin/staff/employee/",
        {"action": "suspend_selected", "_selected_action": [admin_user.employee.pk], "reason": "me"},
    )
    assert only_refusal().service == "employee_suspend"
