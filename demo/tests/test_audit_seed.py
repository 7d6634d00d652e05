"""The audit demo (seeded by seed_demo after the complaints): the auditor's case on
agent_b, on the grounds of the incident's flag, with a note; agent_b left at work;
idempotent; the audit chain intact afterwards.

Seeding takes seconds, so the demo is seeded once for the session (conftest's
``seeded_demo``, shared with the other demo readers) inside a transaction rolled back
at its end; each test runs in a savepoint of it.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test.utils import override_settings

from audit.choices import CaseOutcome, CaseState
from audit.models import CaseNote, DisciplinaryCase
from complaints import services as cs
from complaints.choices import Channel, ComplaintCategory, Severity
from complaints.models import Complaint, EmployeeFlag
from complaints.selectors import flaggable_changes
from demo.audit_seed import CASE_LABEL, CASE_REASON, seed_audit
from demo.complaints_seed import INCIDENT_DESCRIPTION
from numbers import services as ns
from numbers.choices import ConsentParty
from review import services
from staff.choices import EmploymentStatus
from staff.models import Suspension
from tests.factories import consent_by_code, consent_in_person, transfer_request

User = get_user_model()


def seed() -> str:
    out = StringIO()
    with override_settings(DEBUG=True):
        call_command("seed_demo", subscribers=20, stdout=out)
    return out.getvalue()


def counts() -> dict[str, tuple[int, int]]:
    return {model.__name__: (model.objects.count(), model.history.count()) for model in (DisciplinaryCase, CaseNote)}


def verify() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded(seeded_demo, django_db_blocker):
    """The session's demo (conftest): its output and the counts right after it."""
    with django_db_blocker.unblock():
        return {"output": seeded_demo, "counts": counts()}


def persona(username: str):
    return User.objects.get(username=username)


def demo_case() -> DisciplinaryCase:
    (case,) = DisciplinaryCase.objects.filter(employee__username="agent_b")
    return case


# --- Without the complaints demo, or with a case already open ---------------------------
# These do not read the session's demo (conftest's seeded_demo), whose readers run last.


@pytest.fixture
def incident_flag(agent_b, supervisor_a, handler_a, branch_a, holder, newcomer, active) -> EmployeeFlag:
    """The incident in miniature: agent_b's wrongful transfer, its complaint (with the
    demo's description) and the handler's flag on agent_b."""
    request = transfer_request(actor=agent_b, branch=branch_a, number=active, new_subscriber=newcomer)
    consent_by_code(request, actor=agent_b)
    consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=agent_b)
    request.refresh_from_db()
    ns.transfer_approve(request=request, actor=supervisor_a, reason="Both consents on file")
    complaint = cs.complaint_create(
        complainant=holder,
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        severity=Severity.CRITICAL,
        channel=Channel.BRANCH,
        description=INCIDENT_DESCRIPTION,
        numbers=[active],
        actor=handler_a,
    )
    key = next(key for key, summary in flaggable_changes(complaint) if "by agent_b:" in summary)
    return cs.employee_flag(complaint=complaint, change=key, actor=handler_a, reason="Consent recorded unseen")


def test_opens_the_case_on_the_flag_then_leaves_it(incident_flag, auditor, agent_b):
    users = {"auditor": auditor}
    assert seed_audit(users=users) == {CASE_LABEL: "created"}
    (case,) = DisciplinaryCase.objects.all()
    assert (case.employee, list(case.flags.all())) == (agent_b, [incident_flag])
    assert list(case.complaints.all()) == [incident_flag.complaint]
    assert seed_audit(users=users) == {CASE_LABEL: "present"}
    assert DisciplinaryCase.objects.count() == CaseNote.objects.count() == 1


def test_skipped_without_the_incident_flag(auditor, agent_b):
    assert seed_audit(users={"auditor": auditor}) == {
        CASE_LABEL: "skipped: the incident's flag on agent_b is missing (the complaint demo did not make it)"
    }
    assert not DisciplinaryCase.objects.exists()


def test_skipped_when_agent_b_already_has_another_open_case(incident_flag, auditor, agent_b):
    other = services.case_open(employee=agent_b, summary="Late every day", actor=auditor, reason="Timesheets")
    outcome = seed_audit(users={"auditor": auditor})
    assert outcome[CASE_LABEL].startswith("skipped: ") and "already has an open case" in outcome[CASE_LABEL]
    assert list(DisciplinaryCase.objects.all()) == [other]
    assert not CaseNote.objects.exists()
    assert "Audit chain intact" in verify()


# --- The case -------------------------------------------------------------------------


def test_the_auditor_opened_a_case_on_agent_b_on_the_incident_flag(seeded, db):
    case = demo_case()
    incident = Complaint.objects.get(description=INCIDENT_DESCRIPTION)
    flag = EmployeeFlag.objects.get(complaint=incident, employee=persona("agent_b"), withdrawn_at__isnull=True)

    assert (case.state, case.opened_by) == (CaseState.OPEN, persona("auditor"))
    assert list(case.flags.all()) == [flag]
    assert list(case.complaints.all()) == [incident]
    assert "Unauthorised transfer" in case.summary
    record = case.history.earliest()
    assert (record.history_user, record.actor_label) == (persona("auditor"), "auditor")
    assert record.history_change_reason == CASE_REASON and CASE_REASON.startswith("Demo data: ")
    (note,) = case.notes.all()
    assert note.author == persona("auditor")
    assert note.history.get().history_change_reason.startswith("Demo data: ")
    assert DisciplinaryCase.objects.count() == 1
    assert "Created audit demo: disciplinary case on agent_b." in seeded["output"]


def test_agent_b_is_left_at_work_for_the_visitor_to_suspend(seeded, db):
    agent_b = persona("agent_b")
    assert agent_b.is_active and agent_b.groups.exists()
    assert agent_b.employee.employment_status == EmploymentStatus.ACTIVE
    assert not Suspension.objects.exists()
    # What the walkthrough asks the visitor to do works on the seeded case.
    suspension = services.case_suspend_employee(case=demo_case(), actor=persona("auditor"), reason="Pending review")
    agent_b.refresh_from_db()
    assert not agent_b.is_active and suspension.case == demo_case()


def test_prints_where_to_try_the_audit_review(seeded, db):
    output = seeded["output"]
    assert output.index("Try the complaint incident") < output.index("Try the audit review")
    lines = output[output.index("Try the audit review") :].splitlines()
    assert any("auditor" in line and "/review/" in line and "agent_b" in line for line in lines)
    assert any(f"/review/cases/{demo_case().pk}/" in line and "suspend" in line for line in lines)
    assert any("verify_audit" in line for line in lines)


# --- Idempotent -----------------------------------------------------------------------


def test_seeding_twice_makes_one_case(seeded, db):
    assert counts() == seeded["counts"]
    assert DisciplinaryCase.objects.count() == CaseNote.objects.count() == 1
    output = seed()
    assert counts() == seeded["counts"]
    assert "Demo disciplinary case already present; nothing to add." in output
    assert "skipped" not in output


def test_a_case_the_visitor_closed_is_not_opened_again(seeded, db):
    services.case_close(case=demo_case(), outcome=CaseOutcome.CLEARED, actor=persona("admin"), reason="Cleared")
    seed()
    assert demo_case().state == CaseState.CLOSED
    assert DisciplinaryCase.objects.count() == 1


# --- The audit chain --------------------------------------------------------------------


def test_the_audit_chain_is_intact_after_seeding(seeded, db):
    assert "Audit chain intact" in verify()
    seed()
    assert "Audit chain intact" in verify()
