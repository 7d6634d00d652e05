"""Disciplinary cases: opened by a reviewer on the grounds of complaints and flagged
changes, noted, suspending the employee pending review, closed with an outcome.
Every rule both ways; a refused call changes nothing; every change is recorded with
who and why; cases and notes are never deleted."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.utils import timezone

from audit.chain import chained_models
from audit.choices import CaseOutcome, CaseState
from audit.models import CaseNote, DisciplinaryCase, RefusedAttempt
from complaints import services as cs
from complaints.choices import ComplaintCategory
from complaints.tests.casework import new_complaint, wrongful_transfer
from numbers.exceptions import DeletionRefused
from numbers.models import TransferRequest
from review import services
from staff import services as staff_services
from staff.choices import EmploymentStatus
from staff.models import Suspension
from tests.helpers import refused

pytestmark = pytest.mark.django_db

User = get_user_model()

SUMMARY = "Pushed a transfer through without the holder's consent"
REASON = "complaint about an unauthorised transfer"


def fresh(user):
    return User.objects.get(pk=user.pk)


def chained_record_count() -> int:
    """Audit records, the refusals' own aside: a refused call is recorded on purpose."""
    return sum(model._base_manager.count() for model in chained_models() if model is not RefusedAttempt)


def everything() -> dict:
    """Every case, note and suspension, and how many audit records there are."""
    return {
        "cases": list(DisciplinaryCase.objects.order_by("pk").values()),
        "case_complaints": sorted(DisciplinaryCase.complaints.through.objects.values_list("pk", flat=True)),
        "case_flags": sorted(DisciplinaryCase.flags.through.objects.values_list("pk", flat=True)),
        "notes": list(CaseNote.objects.order_by("pk").values()),
        "suspensions": list(Suspension.objects.order_by("pk").values()),
        "users": list(User.objects.order_by("pk").values("pk", "is_active")),
        "records": chained_record_count(),
    }


def last_history(model, pk: int):
    return model.history.filter(id=pk).order_by("-history_id").first()


def assert_recorded(record, actor, reason: str) -> None:
    assert (record.history_user, record.history_change_reason, record.actor_label) == (
        actor,
        reason,
        actor.get_username(),
    )
    assert len(record.record_hash) == 64


@pytest.fixture
def incident(agent_b, supervisor_a, handler_a, holder, newcomer, active):
    """agent_b pushed the transfer through; the holder complains to handler_a."""
    transfer = wrongful_transfer(number=active, to=newcomer, agent=agent_b, supervisor=supervisor_a)
    complaint = new_complaint(
        actor=handler_a, complainant=holder, numbers=[active], category=ComplaintCategory.UNAUTHORISED_TRANSFER
    )
    return complaint, transfer


def flag_on(complaint, model, **filters):
    record = model.history.filter(**filters).order_by("history_id").first()
    label = model._meta.label_lower
    handler = User.objects.get(username="handler_a")
    return cs.employee_flag(complaint=complaint, change=f"{label}:{record.history_id}", actor=handler, reason="flagged")


@pytest.fixture
def flag(agent_b, incident):
    """handler_a's flag on agent_b's request that gave the number away."""
    complaint, transfer = incident
    return flag_on(complaint, TransferRequest, id=transfer.pk, history_type="+", history_user=agent_b)


def open_case(employee, actor, **kwargs):
    fields = {"summary": SUMMARY, "reason": REASON} | kwargs
    return services.case_open(employee=employee, actor=actor, **fields)


@pytest.fixture
def case(auditor, agent_b, flag):
    return open_case(agent_b, auditor, flags=[flag])


@pytest.fixture
def suspended_case(auditor, case):
    services.case_suspend_employee(case=case, actor=auditor, reason="pending review")
    case.refresh_from_db()
    return case


# --- Opening a case ----------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["auditor", "admin_user"])
def test_a_reviewer_opens_a_case_on_the_grounds_of_a_flag(request, persona, agent_b, handler_a, holder, active, flag):
    actor = request.getfixturevalue(persona)
    other = new_complaint(actor=handler_a, complainant=holder, numbers=[active], description="Billed after it went")

    case = open_case(agent_b, actor, summary=f"  {SUMMARY} ", complaints=[other, flag.complaint], flags=[flag])

    case = DisciplinaryCase.objects.get(pk=case.pk)
    assert (case.employee, case.state, case.summary, case.opened_by) == (agent_b, CaseState.OPEN, SUMMARY, actor)
    assert (case.outcome, case.closed_by, case.closed_at) == ("", None, None)
    assert set(case.complaints.all()) == {flag.complaint, other}
    assert list(case.flags.all()) == [flag]
    assert case.reference == f"D-{timezone.localtime(case.opened_at):%Y}-{case.pk:05d}"
    created = case.history.get(history_type="+")
    assert_recorded(created, actor, REASON)
    # The grounds are in the history too: the last record lists the case's complaints and flags.
    record = last_history(DisciplinaryCase, case.pk)
    assert_recorded(record, actor, REASON)
    assert {row.complaint_id for row in record.historicaldisciplinarycase_complaints_set.all()} == {
        flag.complaint.pk,
        other.pk,
    }
    assert [row.employeeflag_id for row in record.historicaldisciplinarycase_flags_set.all()] == [flag.pk]


def test_a_case_may_stand_on_complaints_alone(auditor, agent_b, incident):
    complaint, _ = incident
    case = open_case(agent_b, auditor, complaints=[complaint])
    assert list(case.complaints.all()) == [complaint] and not case.flags.exists()


@pytest.mark.parametrize("persona", ["agent_a", "handler_a", "supervisor_a"])
def test_others_do_not_open_cases(request, persona, agent_b, flag):
    actor = request.getfixturevalue(persona)
    before = everything()
    refused(PermissionDenied, lambda: open_case(agent_b, actor, flags=[flag]))
    assert everything() == before


def test_a_flag_about_another_employee_grounds_no_case(auditor, agent_a, agent_b, flag):
    before = everything()
    error = refused(ValidationError, lambda: open_case(agent_a, auditor, flags=[flag]))
    assert error.code == "flag_other_employee"
    assert everything() == before
    assert open_case(agent_b, auditor, flags=[flag]).employee == agent_b


def test_a_withdrawn_flag_grounds_no_case(auditor, supervisor_a, agent_b, flag):
    cs.employee_flag_withdraw(flag=flag, actor=supervisor_a, reason="raised in error")
    before = everything()
    # The caller's copy still looks standing: the service reads the flag again.
    error = refused(ValidationError, lambda: open_case(agent_b, auditor, flags=[flag]))
    assert error.code == "flag_withdrawn"
    assert everything() == before


def test_one_open_case_per_employee(auditor, admin_user, agent_b, case):
    for state in (CaseState.OPEN, CaseState.SUSPENDED):
        if state == CaseState.SUSPENDED:
            services.case_suspend_employee(case=case, actor=auditor, reason="pending review")
        before = everything()
        error = refused(ValidationError, lambda: open_case(agent_b, admin_user))
        assert error.messages == ["agent_b already has an open case; add to it instead."]
        assert everything() == before
    services.case_close(case=case, outcome=CaseOutcome.WARNING, actor=auditor, reason="warned", reinstate=True)
    again = open_case(agent_b, admin_user, summary="Again")
    assert again.pk != case.pk and again.state == CaseState.OPEN


@pytest.mark.parametrize("persona", ["auditor", "admin_user"])
def test_nobody_opens_a_case_on_themselves(request, persona):
    actor = request.getfixturevalue(persona)
    before = everything()
    refused(PermissionDenied, lambda: open_case(actor, actor))
    assert everything() == before


@pytest.mark.parametrize(("field", "value"), [("summary", ""), ("summary", "  "), ("reason", ""), ("reason", None)])
def test_a_case_needs_a_summary_and_a_reason(field, value, auditor, agent_b, flag):
    before = everything()
    error = refused(ValidationError, lambda: open_case(agent_b, auditor, flags=[flag], **{field: value}))
    assert error.code == f"{field}_required"
    assert everything() == before


# --- Notes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["auditor", "admin_user"])
def test_reviewers_add_notes(request, persona, case):
    actor = request.getfixturevalue(persona)
    note = services.case_add_note(case=case, text="  Interviewed agent_b.  ", actor=actor, reason="interview")
    note = CaseNote.objects.get(pk=note.pk)
    assert (note.case, note.author, note.text) == (case, actor, "Interviewed agent_b.")
    assert list(case.notes.all()) == [note]
    assert_recorded(note.history.get(), actor, "interview")


@pytest.mark.parametrize("text", ["", "   ", None])
def test_a_note_needs_text(text, auditor, case):
    before = everything()
    error = refused(ValidationError, lambda: services.case_add_note(case=case, text=text, actor=auditor, reason="x"))
    assert error.code == "note_required"
    assert everything() == before


@pytest.mark.parametrize("persona", ["agent_a", "handler_a", "supervisor_a", "agent_b"])
def test_others_do_not_add_notes(request, persona, case):
    actor = request.getfixturevalue(persona)
    before = everything()
    refused(PermissionDenied, lambda: services.case_add_note(case=case, text="x", actor=actor, reason="x"))
    assert everything() == before


# --- Suspending pending review -------------------------------------------------------------------


def test_suspending_on_a_case_is_one_call(auditor, agent_b, case):
    suspension = services.case_suspend_employee(case=case, actor=auditor, reason="pending review")

    case.refresh_from_db()
    assert case.state == CaseState.SUSPENDED
    suspension = Suspension.objects.get(pk=suspension.pk)
    assert (suspension.user, suspension.case, suspension.suspended_by, suspension.reason) == (
        agent_b,
        case,
        auditor,
        "pending review",
    )
    agent = fresh(agent_b)
    assert not agent.is_active and not agent.groups.exists()
    assert agent.employee.employment_status == EmploymentStatus.SUSPENDED
    assert_recorded(last_history(DisciplinaryCase, case.pk), auditor, "pending review")
    assert last_history(DisciplinaryCase, case.pk).state == CaseState.SUSPENDED
    assert_recorded(last_history(Suspension, suspension.pk), auditor, "pending review")
    assert_recorded(User.history.filter(id=agent_b.pk).order_by("-history_id").first(), auditor, "pending review")


def test_a_case_suspends_once_and_only_while_open(auditor, admin_user, agent_b, suspended_case):
    before = everything()
    error = refused(
        ValidationError, lambda: services.case_suspend_employee(case=suspended_case, actor=admin_user, reason="x")
    )
    assert error.messages == ["Only an open case suspends its employee (this one is suspended pending review)."]
    assert everything() == before

    services.case_close(case=suspended_case, outcome=CaseOutcome.DISMISSED, actor=auditor, reason="dismissed")
    before = everything()
    error = refused(
        ValidationError, lambda: services.case_suspend_employee(case=suspended_case, actor=admin_user, reason="x")
    )
    assert error.messages == ["Only an open case suspends its employee (this one is closed)."]
    assert everything() == before


def test_a_refused_suspension_leaves_the_case_open(auditor, admin_user, agent_b, case):
    """One transaction: when the suspension is refused the case does not move either."""
    staff_services.employee_suspend(user=agent_b, actor=admin_user, reason="suspended outside the case")
    before = everything()
    refused(ValidationError, lambda: services.case_suspend_employee(case=case, actor=auditor, reason="x"))
    assert everything() == before
    case.refresh_from_db()
    assert case.state == CaseState.OPEN


@pytest.mark.parametrize("persona", ["agent_a", "handler_a", "supervisor_a"])
def test_others_do_not_suspend_on_a_case(request, persona, case):
    actor = request.getfixturevalue(persona)
    before = everything()
    refused(
        PermissionDenied,
        lambda: services.case_suspend_employee(case=case, actor=actor, reason="x"),
    )
    assert everything() == before


@pytest.mark.parametrize("reason", ["", None])
def test_suspending_on_a_case_needs_a_reason(reason, auditor, case):
    before = everything()
    error = refused(ValidationError, lambda: services.case_suspend_employee(case=case, actor=auditor, reason=reason))
    assert error.code == "reason_required"
    assert everything() == before


# --- Closing --------------------------------------------------------------------------------------


def test_a_case_is_closed_with_an_outcome(auditor, agent_b, case):
    services.case_close(case=case, outcome=CaseOutcome.CLEARED, actor=auditor, reason="the holder had consented")

    case = DisciplinaryCase.objects.get(pk=case.pk)
    assert (case.state, case.outcome, case.closed_by) == (CaseState.CLOSED, CaseOutcome.CLEARED, auditor)
    assert case.closed_at is not None
    assert_recorded(last_history(DisciplinaryCase, case.pk), auditor, "the holder had consented")
    assert fresh(agent_b).is_active  # never suspended on this case


@pytest.mark.parametrize("outcome", ["", None, "fired"])
def test_a_case_closes_only_with_a_known_outcome(outcome, auditor, case):
    before = everything()
    error = refused(ValidationError, lambda: services.case_close(case=case, outcome=outcome, actor=auditor, reason="x"))
    assert error.code == "outcome_required"
    assert everything() == before


def test_a_case_is_closed_once(auditor, admin_user, case):
    services.case_close(case=case, outcome=CaseOutcome.WARNING, actor=auditor, reason="warned")
    before = everything()
    error = refused(
        ValidationError,
        lambda: services.case_close(case=case, outcome=CaseOutcome.CLEARED, actor=admin_user, reason="x"),
    )
    assert error.code == "closed"
    assert everything() == before


@pytest.mark.parametrize("persona", ["agent_a", "handler_a", "supervisor_a", "agent_b"])
def test_others_do_not_close_cases(request, persona, case):
    actor = request.getfixturevalue(persona)
    before = everything()
    refused(
        PermissionDenied,
        lambda: services.case_close(case=case, outcome=CaseOutcome.CLEARED, actor=actor, reason="x"),
    )
    assert everything() == before


def test_closing_reinstates_a_suspended_employee_when_asked(auditor, agent_b, suspended_case):
    services.case_close(
        case=suspended_case, outcome=CaseOutcome.FINAL_WARNING, actor=auditor, reason="final warning", reinstate=True
    )

    case = DisciplinaryCase.objects.get(pk=suspended_case.pk)
    assert (case.state, case.outcome) == (CaseState.CLOSED, CaseOutcome.FINAL_WARNING)
    agent = fresh(agent_b)
    assert agent.is_active and agent.employee.employment_status == EmploymentStatus.ACTIVE
    assert agent.groups.exists()
    suspension = Suspension.objects.get(case=case)
    assert (suspension.reinstated_by, suspension.reinstate_reason) == (auditor, "final warning")
    assert_recorded(last_history(Suspension, suspension.pk), auditor, "final warning")
    assert_recorded(last_history(DisciplinaryCase, case.pk), auditor, "final warning")


def test_closing_without_reinstating_keeps_the_employee_suspended(auditor, agent_b, suspended_case):
    services.case_close(case=suspended_case, outcome=CaseOutcome.DISMISSED, actor=auditor, reason="dismissed")
    assert DisciplinaryCase.objects.get(pk=suspended_case.pk).state == CaseState.CLOSED
    assert not fresh(agent_b).is_active
    assert Suspension.objects.get(case=suspended_case).reinstated_at is None


def test_a_dismissed_employee_is_not_reinstated(auditor, agent_b, suspended_case):
    before = everything()
    error = refused(
        ValidationError,
        lambda: services.case_close(
            case=suspended_case, outcome=CaseOutcome.DISMISSED, actor=auditor, reason="x", reinstate=True
        ),
    )
    assert error.code == "dismissed"
    assert everything() == before
    assert not fresh(agent_b).is_active


def test_only_a_suspended_case_reinstates(auditor, case):
    before = everything()
    error = refused(
        ValidationError,
        lambda: services.case_close(case=case, outcome=CaseOutcome.CLEARED, actor=auditor, reason="x", reinstate=True),
    )
    assert error.code == "not_suspended"
    assert everything() == before


@pytest.mark.parametrize("reason", ["", "  ", None])
def test_closing_needs_a_reason(reason, auditor, case):
    before = everything()
    error = refused(
        ValidationError,
        lambda: services.case_close(case=case, outcome=CaseOutcome.CLEARED, actor=auditor, reason=reason),
    )
    assert error.code == "reason_required"
    assert everything() == before


# --- A reviewer under review ----------------------------------------------------------------------


def test_a_reviewer_does_not_keep_their_own_case(auditor, admin_user):
    """The auditor's case is kept by another reviewer, never by the auditor."""
    case = open_case(auditor, admin_user, summary="Read records outside any review")
    calls = [
        lambda: services.case_add_note(case=case, text="not me", actor=auditor, reason="x"),
        lambda: services.case_close(case=case, outcome=CaseOutcome.CLEARED, actor=auditor, reason="x"),
        lambda: services.case_suspend_employee(case=case, actor=auditor, reason="x"),
    ]
    for call in calls:
        before = everything()
        error = refused(PermissionDenied, call)
        assert "own case" in str(error)
        assert everything() == before
    assert (
        services.case_add_note(case=case, text="Asked for the logs", actor=admin_user, reason="x").author == admin_user
    )
    services.case_close(case=case, outcome=CaseOutcome.CLEARED, actor=admin_user, reason="nothing found")
    assert DisciplinaryCase.objects.get(pk=case.pk).state == CaseState.CLOSED


# --- What the database keeps ----------------------------------------------------------------------


def test_the_database_keeps_a_closed_case_with_its_outcome(auditor, case):
    now = timezone.now()
    bad = {
        "closed without an outcome": {"state": CaseState.CLOSED, "closed_by": auditor, "closed_at": now},
        "closed without who": {"state": CaseState.CLOSED, "outcome": CaseOutcome.WARNING, "closed_at": now},
        "closed without when": {"state": CaseState.CLOSED, "outcome": CaseOutcome.WARNING, "closed_by": auditor},
        "open with an outcome": {"state": CaseState.OPEN, "outcome": CaseOutcome.WARNING},
        "open with a closing time": {"state": CaseState.OPEN, "closed_at": now},
    }
    for what, fields in bad.items():
        raw = DisciplinaryCase.objects.get(pk=case.pk)
        for name, value in fields.items():
            setattr(raw, name, value)
        refused(IntegrityError, raw.save)
        assert DisciplinaryCase.objects.get(pk=case.pk).state == CaseState.OPEN, what

    # Both ways: a closing with all three is what the constraint lets through.
    raw = DisciplinaryCase.objects.get(pk=case.pk)
    raw.state, raw.outcome, raw.closed_by, raw.closed_at = CaseState.CLOSED, CaseOutcome.WARNING, auditor, now
    raw.save()
    assert DisciplinaryCase.objects.get(pk=case.pk).state == CaseState.CLOSED


def test_cases_and_notes_are_never_deleted(auditor, case):
    note = services.case_add_note(case=case, text="Interviewed", actor=auditor, reason="interview")
    refused(DeletionRefused, case.delete)
    refused(DeletionRefused, note.delete)
    refused(DeletionRefused, lambda: CaseNote.objects.filter(pk=note.pk).delete())
    refused(DeletionRefused, lambda: DisciplinaryCase.objects.filter(pk=case.pk).delete())
    assert DisciplinaryCase.objects.filter(pk=case.pk).exists() and CaseNote.objects.filter(pk=note.pk).exists()
