"""The regulator's case references and answers, and flags on the employee whose
change caused a complaint. Every rule both ways; a refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from complaints import services as cs
from complaints.choices import ComplaintCategory, ComplaintState, EventKind, Regulator
from complaints.models import EmployeeFlag, RegulatorCase, RegulatorResponse
from complaints.selectors import complaint_flags, complaint_regulator_cases, flaggable_changes
from complaints.tests.casework import (
    bring_to,
    complaint_snapshot,
    events_of,
    last_history,
    new_complaint,
    wrongful_transfer,
)
from numbers.choices import NumberStatus
from numbers.models import Holding, MobileNumber, TransferRequest
from tests.factories import number_in_state
from tests.helpers import refused

pytestmark = pytest.mark.django_db


@pytest.fixture
def complaint(handler_a, holder, active):
    return new_complaint(
        actor=handler_a, complainant=holder, numbers=[active], received_at=timezone.now() - timedelta(days=10)
    )


def record_case(complaint, actor, **changes):
    fields = {
        "regulator": Regulator.TRC,
        "case_number": "TRC-2026-0042",
        "notified_on": timezone.localdate(),
        "reason": "letter from the regulator",
    } | changes
    return cs.regulator_case_record(complaint=complaint, actor=actor, **fields)


# --- Regulator cases ----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["handler_a", "supervisor_a"])
def test_the_handler_or_a_supervisor_records_the_regulators_case(request, persona, complaint):
    actor = request.getfixturevalue(persona)
    notified = timezone.localdate() - timedelta(days=2)
    case = record_case(complaint, actor, case_number="  TRC-2026-0042 ", notified_on=notified, note=" by post ")
    case = RegulatorCase.objects.get(pk=case.pk)
    assert (case.regulator, case.case_number, case.notified_on, case.note) == (
        "TRC",
        "TRC-2026-0042",
        notified,
        "by post",
    )
    assert case.recorded_by == actor
    assert events_of(complaint)[-1] == (
        EventKind.REGULATOR,
        f"TRC case TRC-2026-0042, notified {notified:%d %b %Y}. letter from the regulator",
    )
    assert complaint_regulator_cases(complaint) == [case]
    record = last_history(RegulatorCase, case.pk)
    assert (record.history_user, record.history_change_reason) == (actor, "letter from the regulator")


def test_a_case_may_be_recorded_after_the_complaint_is_closed(handler_a, supervisor_a, complaint):
    bring_to(complaint, ComplaintState.CLOSED, handler=handler_a)
    assert record_case(complaint, supervisor_a).complaint == complaint


@pytest.mark.parametrize("persona", ["agent_a", "supervisor_b", "auditor", "agent_c"])
def test_others_do_not_record_regulator_cases(request, persona, complaint):
    actor = request.getfixturevalue(persona)
    before = complaint_snapshot(complaint)
    refused(PermissionDenied, lambda: record_case(complaint, actor))
    assert complaint_snapshot(complaint) == before


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"regulator": "NSA"}, "regulator"),
        ({"case_number": "   "}, "case_number"),
        ({"notified_on": 1}, "notified_future"),  # days from today, worked out when the test runs
        ({"notified_on": -11}, "notified_before"),  # the complaint came in 10 days ago
    ],
)
def test_a_case_needs_a_known_regulator_a_number_and_a_believable_date(changes, code, handler_a, complaint):
    if "notified_on" in changes:
        changes = {"notified_on": timezone.localdate() + timedelta(days=changes["notified_on"])}
    before = complaint_snapshot(complaint)
    assert refused(ValidationError, lambda: record_case(complaint, handler_a, **changes)).code == code
    assert complaint_snapshot(complaint) == before


def test_the_day_of_the_complaint_is_a_believable_notice_date(handler_a, complaint):
    received_on = timezone.localtime(complaint.received_at).date()
    assert record_case(complaint, handler_a, notified_on=received_on).notified_on == received_on


def test_a_regulators_case_number_is_recorded_once(handler_a, holder, active, complaint):
    record_case(complaint, handler_a)
    other = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    for target in (complaint, other):
        before = complaint_snapshot(target)
        error = refused(ValidationError, lambda target=target: record_case(target, handler_a))
        assert error.messages == ["TRC case TRC-2026-0042 is already recorded."]
        assert complaint_snapshot(target) == before
    # The same number at another regulator is another case.
    assert record_case(other, handler_a, regulator=Regulator.ACMA).regulator == "ACMA"


# --- Answers to the regulator ----------------------------------------------------------------


@pytest.fixture
def case(handler_a, complaint):
    return record_case(complaint, handler_a, notified_on=timezone.localdate() - timedelta(days=5))


@pytest.mark.parametrize("persona", ["handler_a", "supervisor_a"])
def test_answers_to_the_regulator_are_recorded(request, persona, complaint, case):
    actor = request.getfixturevalue(persona)
    for days_ago in (5, 0):
        day = timezone.localdate() - timedelta(days=days_ago)
        cs.regulator_response_record(case=case, responded_on=day, summary=f" sent on {day} ", actor=actor, reason="x")
    assert list(case.responses.values_list("responded_on", "summary", "recorded_by")) == [
        (timezone.localdate() - timedelta(days=5), f"sent on {timezone.localdate() - timedelta(days=5)}", actor.pk),
        (timezone.localdate(), f"sent on {timezone.localdate()}", actor.pk),
    ]
    assert events_of(complaint)[-1][1].startswith("Response to TRC case TRC-2026-0042 on ")


@pytest.mark.parametrize(
    ("responded_days_ago", "summary", "code"),
    [(6, "our answer", "responded_on"), (-1, "our answer", "responded_on"), (0, "  ", "summary")],
)
def test_an_answer_needs_a_summary_and_a_date_between_the_notice_and_today(
    responded_days_ago, summary, code, handler_a, complaint, case
):
    before = complaint_snapshot(complaint)
    error = refused(
        ValidationError,
        lambda: cs.regulator_response_record(
            case=case,
            responded_on=timezone.localdate() - timedelta(days=responded_days_ago),
            summary=summary,
            actor=handler_a,
            reason="x",
        ),
    )
    assert error.code == code
    assert complaint_snapshot(complaint) == before


@pytest.mark.parametrize("persona", ["agent_a", "supervisor_b"])
def test_others_do_not_record_answers_to_the_regulator(request, persona, complaint, case):
    actor = request.getfixturevalue(persona)
    before = complaint_snapshot(complaint)
    refused(
        PermissionDenied,
        lambda: cs.regulator_response_record(
            case=case,
            responded_on=timezone.localdate(),
            summary="our answer",
            actor=actor,
            reason="x",
        ),
    )
    assert complaint_snapshot(complaint) == before
    assert not RegulatorResponse.objects.exists()


# --- Employee flags --------------------------------------------------------------------------------


@pytest.fixture
def incident(agent_b, supervisor_a, handler_a, holder, newcomer, active):
    """agent_b pushed the transfer through; supervisor_a approved it; the holder complains."""
    request = wrongful_transfer(number=active, to=newcomer, agent=agent_b, supervisor=supervisor_a)
    complaint = new_complaint(
        actor=handler_a, complainant=holder, numbers=[active], category=ComplaintCategory.UNAUTHORISED_TRANSFER
    )
    return complaint, request


def change_key(model, user, **filters) -> str:
    record = model.history.filter(history_user=user, **filters).order_by("history_id").first()
    label = f"numbers.{model._meta.model_name}"
    return f"{label}:{record.history_id}"


def test_the_flagged_employee_is_the_one_who_made_the_change(handler_a, agent_b, supervisor_a, incident):
    complaint, request = incident
    key = change_key(TransferRequest, agent_b, id=request.pk, history_type="+")
    assert key in dict(flaggable_changes(complaint))

    flag = cs.employee_flag(complaint=complaint, change=key, actor=handler_a, reason="pushed the transfer through")
    flag = EmployeeFlag.objects.get(pk=flag.pk)
    record = TransferRequest.history.get(history_id=int(key.split(":")[1]))
    assert flag.employee == record.history_user == agent_b
    assert (flag.change_model, flag.change_history_id, flag.change_object_id) == (
        "numbers.transferrequest",
        record.history_id,
        request.pk,
    )
    assert flag.change_at == record.history_date
    assert f"T-{request.pk}" in flag.change_summary and "agent_b" in flag.change_summary
    assert (flag.flagged_by, flag.reason, flag.withdrawn_at) == (handler_a, "pushed the transfer through", None)
    assert events_of(complaint)[-1] == (
        EventKind.EMPLOYEE_FLAGGED,
        f"agent_b flagged for: {flag.change_summary}. pushed the transfer through",
    )
    assert list(complaint_flags(complaint)) == [flag]

    # A supervisor flags the approver's change to the ledger: the approver is flagged.
    holding_key = change_key(Holding, supervisor_a, number=request.number, start_reason="transfer", history_type="+")
    other = cs.employee_flag(complaint=complaint, change=holding_key, actor=handler_a, reason="approved it blind")
    assert other.employee == supervisor_a and other.change_model == "numbers.holding"


def test_a_supervisor_flags_too(supervisor_a, agent_b, incident):
    complaint, request = incident
    key = change_key(TransferRequest, agent_b, id=request.pk, history_type="+")
    assert cs.employee_flag(complaint=complaint, change=key, actor=supervisor_a, reason="x").flagged_by == supervisor_a


@pytest.mark.parametrize("persona", ["agent_a", "supervisor_b", "auditor"])
def test_others_do_not_flag(request, persona, agent_b, incident):
    actor = request.getfixturevalue(persona)
    complaint, transfer = incident
    key = change_key(TransferRequest, agent_b, id=transfer.pk, history_type="+")
    before = complaint_snapshot(complaint)
    refused(
        PermissionDenied,
        lambda: cs.employee_flag(complaint=complaint, change=key, actor=actor, reason="x"),
    )
    assert complaint_snapshot(complaint) == before


def test_a_change_to_another_number_is_not_flagged_here(handler_a, agent_a, agent_b, branch_a, incident):
    complaint, _ = incident
    elsewhere = number_in_state(NumberStatus.ACTIVE, actor=agent_b, branch=branch_a)
    key = change_key(MobileNumber, agent_b, id=elsewhere.pk)
    before = complaint_snapshot(complaint)
    error = refused(
        ValidationError, lambda: cs.employee_flag(complaint=complaint, change=key, actor=handler_a, reason="x")
    )
    assert error.code == "change_unknown"
    assert complaint_snapshot(complaint) == before
    # Once that number is on the complaint, its changes are.
    cs.complaint_add_number(complaint=complaint, number=elsewhere, actor=handler_a, reason="also affected")
    assert cs.employee_flag(complaint=complaint, change=key, actor=handler_a, reason="x").employee == agent_b


@pytest.mark.parametrize(
    "change", ["", "numbers.holding", "numbers.holding:abc", "auth.user:1", "numbers.holding:999999"]
)
def test_an_unknown_change_is_not_flagged(change, handler_a, incident):
    complaint, _ = incident
    before = complaint_snapshot(complaint)
    error = refused(
        ValidationError, lambda: cs.employee_flag(complaint=complaint, change=change, actor=handler_a, reason="x")
    )
    assert error.code == "change_unknown"
    assert complaint_snapshot(complaint) == before


def test_a_change_made_by_no_employee_is_not_flagged(handler_a, incident):
    """The number's creation by the test factory has no user (like a data import)."""
    complaint, request = incident
    record = MobileNumber.history.filter(id=request.number_id, history_user__isnull=True).first()
    assert record is not None
    error = refused(
        ValidationError,
        lambda: cs.employee_flag(
            complaint=complaint, change=f"numbers.mobilenumber:{record.history_id}", actor=handler_a, reason="x"
        ),
    )
    assert error.code == "change_unknown"


def test_nobody_flags_their_own_change(handler_a, supervisor_a, incident, active):
    complaint, request = incident
    cs.complaint_block_number(complaint=complaint, number=active, actor=handler_a, reason="stop misuse")
    own = {
        handler_a: change_key(MobileNumber, handler_a, id=active.pk, status=NumberStatus.BLOCKED),
        supervisor_a: change_key(Holding, supervisor_a, number=active, start_reason="transfer", history_type="+"),
    }
    for actor, key in own.items():
        before = complaint_snapshot(complaint)
        error = refused(
            ValidationError,
            lambda actor=actor, key=key: cs.employee_flag(complaint=complaint, change=key, actor=actor, reason="x"),
        )
        assert (error.code, error.messages) == ("own_change", ["You cannot flag your own change; ask a supervisor."])
        assert complaint_snapshot(complaint) == before
    # The other one may.
    assert (
        cs.employee_flag(complaint=complaint, change=own[handler_a], actor=supervisor_a, reason="x").employee
        == handler_a
    )


def test_a_change_is_flagged_once_until_the_flag_is_withdrawn(handler_a, supervisor_a, agent_b, incident):
    complaint, request = incident
    key = change_key(TransferRequest, agent_b, id=request.pk, history_type="+")
    flag = cs.employee_flag(complaint=complaint, change=key, actor=handler_a, reason="pushed it")
    before = complaint_snapshot(complaint)
    error = refused(
        ValidationError, lambda: cs.employee_flag(complaint=complaint, change=key, actor=supervisor_a, reason="x")
    )
    assert error.code == "already_flagged"
    assert complaint_snapshot(complaint) == before

    cs.employee_flag_withdraw(flag=flag, actor=supervisor_a, reason="the holder had consented after all")
    flag = EmployeeFlag.objects.get(pk=flag.pk)
    assert (flag.withdrawn_by, flag.withdrawal_reason) == (supervisor_a, "the holder had consented after all")
    assert flag.withdrawn_at is not None
    assert events_of(complaint)[-1] == (
        EventKind.FLAG_WITHDRAWN,
        "Flag on agent_b withdrawn: the holder had consented after all",
    )
    again = cs.employee_flag(complaint=complaint, change=key, actor=handler_a, reason="new evidence")
    assert list(EmployeeFlag.objects.filter(complaint=complaint).order_by("pk")) == [flag, again]


def test_a_flag_is_withdrawn_once_and_only_by_the_handler_or_a_supervisor(
    handler_a, agent_a, supervisor_b, agent_b, incident
):
    complaint, request = incident
    key = change_key(TransferRequest, agent_b, id=request.pk, history_type="+")
    flag = cs.employee_flag(complaint=complaint, change=key, actor=handler_a, reason="pushed it")
    before = complaint_snapshot(complaint)
    for actor in (agent_a, supervisor_b, agent_b):
        refused(PermissionDenied, lambda actor=actor: cs.employee_flag_withdraw(flag=flag, actor=actor, reason="x"))
    assert complaint_snapshot(complaint) == before
    cs.employee_flag_withdraw(flag=flag, actor=handler_a, reason="my mistake")
    before = complaint_snapshot(complaint)
    error = refused(ValidationError, lambda: cs.employee_flag_withdraw(flag=flag, actor=handler_a, reason="again"))
    assert error.code == "already_withdrawn"
    assert complaint_snapshot(complaint) == before
