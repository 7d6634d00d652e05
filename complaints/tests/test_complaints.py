"""A complaint from intake to closure through the services: who may take it in,
who handles it, every move of its state, its clocks and their breaches. Every rule
both ways; a refusal changes nothing and tells nobody."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from backoffice.delivery import DeliveryStatus
from complaints import services as cs
from complaints.choices import (
    COMPLAINT_MOVES,
    Channel,
    ComplaintCategory,
    ComplaintState,
    EventKind,
    Severity,
    SlaStatus,
)
from complaints.models import Complaint, ComplaintEvent, ComplaintNumber, ComplaintSequence
from complaints.selectors import complaint_list, sla_filter
from complaints.tests.casework import (
    bring_to,
    complaint_snapshot,
    events_of,
    handlers_of,
    last_history,
    make_handler,
    new_complaint,
    round_the_clock_table,
)
from numbers.choices import NumberStatus
from sms.choices import SmsPurpose
from sms.models import SmsMessage
from staff.choices import EmploymentStatus
from staff.services import employee_set_status
from tests.factories import SubscriberFactory, number_in_state
from tests.helpers import back_date, refused, refused_quietly, with_sms

pytestmark = pytest.mark.django_db

S = ComplaintState


@pytest.fixture
def handler_a2(admin_user, branch_a):
    return make_handler("handler_a2", branch=branch_a, admin=admin_user)


@pytest.fixture
def handler_b(admin_user, branch_b):
    return make_handler("handler_b", branch=branch_b, admin=admin_user)


@pytest.fixture
def complaint(handler_a, holder, active):
    """A billing complaint about ``active``, taken in (and so handled) by handler_a."""
    return new_complaint(actor=handler_a, complainant=holder, numbers=[active])


@pytest.fixture
def unassigned(agent_a, holder, active):
    """Taken in at the counter by agent_a: nobody handles it yet."""
    return new_complaint(actor=agent_a, complainant=holder, numbers=[active])


def suspend(user, admin):
    employee_set_status(employee=user.employee, status=EmploymentStatus.SUSPENDED, actor=admin, reason="inquiry")
    return get_user_model().objects.get(pk=user.pk)


def nothing_taken_in() -> dict:
    return {
        "complaints": Complaint.objects.count(),
        "events": ComplaintEvent.objects.count(),
        "links": ComplaintNumber.objects.count(),
        "sequences": list(ComplaintSequence.objects.values_list("year", "last")),
        "history": Complaint.history.count(),
    }


# --- Intake: who may take a complaint in ----------------------------------------------------


@pytest.mark.parametrize("persona", ["agent_a", "handler_a", "supervisor_a"])
def test_staff_of_the_branch_take_a_complaint_in(request, persona, holder, active):
    actor = request.getfixturevalue(persona)
    complaint = new_complaint(actor=actor, complainant=holder, numbers=[active])

    complaint = Complaint.objects.get(pk=complaint.pk)
    assert complaint.state == S.NEW
    assert (complaint.complainant, complaint.branch, complaint.created_by) == (holder, active.branch, actor)
    assert (complaint.category, complaint.severity, complaint.channel) == ("billing", "medium", "phone")
    assert list(complaint.numbers.all()) == [active]
    record = last_history(Complaint, complaint.pk)
    assert (record.history_user, record.history_change_reason) == (actor, "Complaint received (phone (call centre))")
    received = complaint.events.get(kind=EventKind.RECEIVED)
    assert (received.at, received.actor) == (complaint.received_at, actor)


def test_a_handler_who_takes_a_complaint_in_handles_it(handler_a, holder, active):
    complaint = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    assert complaint.assigned_to == handler_a
    assert handlers_of(complaint) == {"handler_a"}
    assert handler_a.has_perm("complaints.handle_complaint", complaint)
    assert [kind for kind, _ in events_of(complaint)] == [
        EventKind.RECEIVED,
        EventKind.NUMBER_ADDED,
        EventKind.ASSIGNED,
    ]


@pytest.mark.parametrize("persona", ["agent_a", "supervisor_a", "admin_user"])
def test_others_who_take_a_complaint_in_leave_it_unassigned(request, persona, holder, active):
    """A superuser may take a complaint in (it holds every permission) but does not
    become its handler."""
    complaint = new_complaint(actor=request.getfixturevalue(persona), complainant=holder, numbers=[active])
    assert complaint.assigned_to is None
    assert handlers_of(complaint) == set()
    assert EventKind.ASSIGNED not in [kind for kind, _ in events_of(complaint)]


@pytest.mark.parametrize("persona", ["agent_c", "supervisor_b", "auditor"])
def test_staff_without_authority_on_the_branch_cannot_take_a_complaint_in(
    request, persona, holder, active, django_capture_on_commit_callbacks
):
    actor = request.getfixturevalue(persona)
    before = nothing_taken_in()
    refused_quietly(
        django_capture_on_commit_callbacks,
        PermissionDenied,
        lambda: new_complaint(actor=actor, complainant=holder, numbers=[active]),
    )
    assert nothing_taken_in() == before


def test_an_inactive_or_suspended_account_cannot_take_a_complaint_in(admin_user, agent_b, handler_a, holder, active):
    before = nothing_taken_in()
    suspended = suspend(handler_a, admin_user)
    error = refused(PermissionDenied, lambda: new_complaint(actor=suspended, complainant=holder, numbers=[active]))
    assert "inactive or suspended" in str(error)
    agent_b.is_active = False
    agent_b.save()
    refused(PermissionDenied, lambda: new_complaint(actor=agent_b, complainant=holder, numbers=[active]))
    assert nothing_taken_in() == before


# --- Intake: what a complaint must say ----------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"category": ""}, "category"),
        ({"category": "fraud"}, "category"),
        ({"channel": "fax"}, "channel"),
        ({"severity": "urgent"}, "severity"),
        ({"severity": ""}, "severity"),
        ({"description": "   "}, "description"),
    ],
)
def test_a_complaint_needs_a_known_category_channel_severity_and_a_description(
    changes, code, handler_a, holder, active, django_capture_on_commit_callbacks
):
    fields = {
        "complainant": holder,
        "category": ComplaintCategory.BILLING,
        "severity": Severity.LOW,
        "channel": Channel.BRANCH,
        "description": "Charged twice",
        "numbers": [active],
    }
    before = nothing_taken_in()
    error = refused_quietly(
        django_capture_on_commit_callbacks,
        ValidationError,
        lambda: cs.complaint_create(actor=handler_a, **(fields | changes)),
    )
    assert error.code == code
    assert nothing_taken_in() == before
    cs.complaint_create(actor=handler_a, **fields)  # the same complaint, complete, is taken in


@pytest.mark.parametrize("channel", Channel.values)
@pytest.mark.parametrize("severity", Severity.values)
def test_every_channel_and_severity_is_accepted(channel, severity, agent_a, holder, branch_a):
    complaint = new_complaint(actor=agent_a, complainant=holder, branch=branch_a, channel=channel, severity=severity)
    assert (complaint.channel, complaint.severity) == (channel, severity)


def test_the_branch_is_the_numbers_unless_named(agent_a, holder, active, branch_a):
    assert new_complaint(actor=agent_a, complainant=holder, numbers=[active]).branch == branch_a
    assert new_complaint(actor=agent_a, complainant=holder, branch=branch_a).branch == branch_a
    error = refused(ValidationError, lambda: new_complaint(actor=agent_a, complainant=holder))
    assert error.code == "branch"


def test_a_number_named_twice_is_linked_once(agent_a, holder, active):
    complaint = new_complaint(actor=agent_a, complainant=holder, numbers=[active, active])
    assert complaint.complaint_numbers.count() == 1


def test_a_number_of_another_branch_is_refused(agent_a, agent_c, holder, active, branch_a, branch_b):
    elsewhere = number_in_state(NumberStatus.ACTIVE, actor=agent_c, branch=branch_b, subscriber=holder)
    before = nothing_taken_in()
    error = refused(
        ValidationError, lambda: new_complaint(actor=agent_a, complainant=holder, numbers=[elsewhere], branch=branch_a)
    )
    assert error.code == "number_other_branch"
    assert elsewhere.msisdn in error.messages[0] and "handled there" in error.messages[0]
    error = refused(
        ValidationError, lambda: new_complaint(actor=agent_a, complainant=holder, numbers=[active, elsewhere])
    )
    assert error.code == "number_other_branch"
    assert nothing_taken_in() == before
    # Branch B's own staff take it in.
    assert new_complaint(actor=agent_c, complainant=holder, numbers=[elsewhere]).branch == branch_b


# --- Intake: an unauthorised transfer ------------------------------------------------------------


@pytest.mark.parametrize("severity", [Severity.LOW, Severity.MEDIUM, "", "nonsense"])
def test_an_unauthorised_transfer_is_critical_with_a_24_hour_block_deadline(severity, handler_a, holder, active):
    complaint = new_complaint(
        actor=handler_a,
        complainant=holder,
        numbers=[active],
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        severity=severity,
    )
    complaint = Complaint.objects.get(pk=complaint.pk)
    assert complaint.severity == Severity.CRITICAL
    assert complaint.block_due_at - complaint.received_at == timedelta(hours=24)
    assert complaint.block_warn_at - complaint.received_at == timedelta(hours=18)
    assert (complaint.sla_rule.category, complaint.sla_rule.severity) == ("unauthorised_transfer", "critical")
    assert [name for name, _, _ in complaint.pending_clocks()] == ["acknowledge", "block", "resolve"]


def test_the_block_deadline_is_configurable(settings, handler_a, holder, active):
    settings.COMPLAINTS_BLOCK_WITHIN_HOURS = 6
    complaint = new_complaint(
        actor=handler_a, complainant=holder, numbers=[active], category=ComplaintCategory.UNAUTHORISED_TRANSFER
    )
    assert complaint.block_due_at - complaint.received_at == timedelta(hours=6)


def test_an_unauthorised_transfer_names_its_number(handler_a, holder, branch_a):
    before = nothing_taken_in()
    error = refused(
        ValidationError,
        lambda: new_complaint(
            actor=handler_a, complainant=holder, branch=branch_a, category=ComplaintCategory.UNAUTHORISED_TRANSFER
        ),
    )
    assert error.code == "number_needed"
    assert nothing_taken_in() == before


def test_other_categories_have_no_block_clock(handler_a, holder, active):
    complaint = new_complaint(actor=handler_a, complainant=holder, numbers=[active], severity=Severity.CRITICAL)
    assert complaint.block_due_at is None and complaint.block_warn_at is None
    assert [name for name, _, _ in complaint.pending_clocks()] == ["acknowledge", "resolve"]


# --- Intake: when it was received --------------------------------------------------------------


def test_a_complaint_cannot_have_been_received_in_the_future(handler_a, holder, active):
    before = nothing_taken_in()
    error = refused(
        ValidationError,
        lambda: new_complaint(
            actor=handler_a, complainant=holder, numbers=[active], received_at=timezone.now() + timedelta(minutes=5)
        ),
    )
    assert error.code == "received_future"
    assert nothing_taken_in() == before


def test_a_complaint_received_long_ago_is_not_taken_in_here(handler_a, holder, active):
    now = timezone.now()
    error = refused(
        ValidationError,
        lambda: new_complaint(
            actor=handler_a, complainant=holder, numbers=[active], received_at=now - timedelta(days=91)
        ),
    )
    assert error.code == "old"
    complaint = new_complaint(
        actor=handler_a, complainant=holder, numbers=[active], received_at=now - timedelta(days=89)
    )
    assert complaint.received_at == now - timedelta(days=89)


def test_a_complaint_entered_late_has_its_run_out_clocks_recorded_as_breached(handler_a, holder, active):
    round_the_clock_table()  # acknowledge within 2 hours, resolve within 10
    received = timezone.now() - timedelta(hours=3)
    complaint = new_complaint(actor=handler_a, complainant=holder, numbers=[active], received_at=received)
    complaint.refresh_from_db()
    assert complaint.acknowledge_breached_at == received + timedelta(hours=2)
    assert complaint.resolve_breached_at is None
    assert complaint.sla_status() == SlaStatus.BREACHED


# --- Intake: the reference ------------------------------------------------------------------


def test_references_are_numbered_per_year(agent_a, holder, branch_a):
    year = timezone.localdate().year
    ComplaintSequence.objects.create(year=year - 1, last=4711)
    first = new_complaint(actor=agent_a, complainant=holder, branch=branch_a)
    second = new_complaint(actor=agent_a, complainant=holder, branch=branch_a)
    assert re.fullmatch(r"C-\d{4}-\d{6}", first.reference)
    assert (first.reference, second.reference) == (f"C-{year}-000001", f"C-{year}-000002")
    assert dict(ComplaintSequence.objects.values_list("year", "last")) == {year - 1: 4711, year: 2}


def test_the_reference_year_is_the_year_of_receipt_not_of_entry(agent_a, holder, branch_a):
    """Entered now, received up to 90 days ago: the year it was received in counts."""
    received = timezone.now() - timedelta(days=80)
    complaint = new_complaint(actor=agent_a, complainant=holder, branch=branch_a, received_at=received)
    assert complaint.reference == f"C-{timezone.localtime(received).year}-000001"


def test_a_refused_intake_uses_no_reference(agent_a, agent_c, holder, branch_a):
    refused(PermissionDenied, lambda: new_complaint(actor=agent_c, complainant=holder, branch=branch_a))
    complaint = new_complaint(actor=agent_a, complainant=holder, branch=branch_a)
    assert complaint.reference.endswith("-000001")


# --- Intake: the complainant is told -------------------------------------------------------------


def test_the_complainant_is_told_the_reference_and_the_deadlines_after_commit(
    agent_a, holder, active, django_capture_on_commit_callbacks
):
    complaint, sent = with_sms(
        django_capture_on_commit_callbacks,
        lambda: new_complaint(actor=agent_a, complainant=holder, numbers=[active]),
    )
    assert [(message.to_msisdn, message.purpose) for message in sent] == [(holder.contact_msisdn, SmsPurpose.COMPLAINT)]
    assert complaint.reference in sent[0].body
    assert timezone.localtime(complaint.resolve_due_at).strftime("%d %b %Y %H:%M") in sent[0].body


def test_a_complainant_without_a_contact_number_is_told_on_the_alternate_or_not_at_all(
    agent_a, branch_a, django_capture_on_commit_callbacks
):
    alternate_only = SubscriberFactory(contact_msisdn="", alternate_msisdn="+85512999888")
    _, sent = with_sms(
        django_capture_on_commit_callbacks,
        lambda: new_complaint(actor=agent_a, complainant=alternate_only, branch=branch_a),
    )
    assert [message.to_msisdn for message in sent] == ["+85512999888"]
    unreachable = SubscriberFactory(contact_msisdn="", alternate_msisdn="")
    _, sent = with_sms(
        django_capture_on_commit_callbacks,
        lambda: new_complaint(actor=agent_a, complainant=unreachable, branch=branch_a),
    )
    assert sent == []


def test_nothing_is_sent_before_the_intake_commits(
    agent_a, holder, branch_a, django_capture_on_commit_callbacks, eager, locmem_sms
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        new_complaint(actor=agent_a, complainant=holder, branch=branch_a)
    assert len(callbacks) == 1
    assert SmsMessage.objects.get().status == DeliveryStatus.QUEUED
    assert locmem_sms.sent == []
    callbacks[0]()
    assert SmsMessage.objects.get().status == DeliveryStatus.SENT
    assert len(locmem_sms.sent) == 1


# --- Adding a number ------------------------------------------------------------------------------


def test_the_handler_adds_a_number_of_the_branch(handler_a, agent_a, branch_a, holder, active, complaint):
    second = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)
    link = cs.complaint_add_number(complaint=complaint, number=second, actor=handler_a, reason="also affected")
    assert (link.number, link.added_by) == (second, handler_a)
    assert set(complaint.numbers.all()) == {active, second}
    assert events_of(complaint)[-1] == (EventKind.NUMBER_ADDED, "also affected")


def test_adding_a_number_is_refused_to_others_twice_elsewhere_and_when_closed(
    handler_a, supervisor_a, agent_a, agent_c, branch_a, branch_b, holder, active, complaint
):
    second = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)
    elsewhere = number_in_state(NumberStatus.ACTIVE, actor=agent_c, branch=branch_b, subscriber=holder)
    before = complaint_snapshot(complaint)

    def add(number, actor):
        return lambda: cs.complaint_add_number(complaint=complaint, number=number, actor=actor, reason="affected")

    refused(PermissionDenied, add(second, supervisor_a))
    refused(PermissionDenied, add(second, agent_a))
    assert "already on this complaint" in refused(ValidationError, add(active, handler_a)).messages[0]
    assert refused(ValidationError, add(elsewhere, handler_a)).code == "number_other_branch"
    assert complaint_snapshot(complaint) == before

    closed = bring_to(complaint, S.CLOSED, handler=handler_a)
    before = complaint_snapshot(closed)
    assert refused(ValidationError, add(second, handler_a)).code == "complaint_not_open"
    assert complaint_snapshot(closed) == before


# --- Assignment --------------------------------------------------------------------------------


def test_a_supervisor_assigns_an_unassigned_complaint(supervisor_a, handler_a, unassigned):
    complaint = cs.complaint_assign(complaint=unassigned, assignee=handler_a, actor=supervisor_a, reason="yours")
    assert Complaint.objects.get(pk=complaint.pk).assigned_to == handler_a
    assert handlers_of(complaint) == {"handler_a"}
    assert events_of(complaint)[-1] == (EventKind.ASSIGNED, "Assigned to Heng Handler: yours")
    record = last_history(Complaint, complaint.pk)
    assert (record.history_user, record.history_change_reason, record.assigned_to) == (supervisor_a, "yours", handler_a)


def test_reassigning_moves_the_handlers_permission(supervisor_a, handler_a, handler_a2, complaint):
    cs.complaint_assign(complaint=complaint, assignee=handler_a2, actor=supervisor_a, reason="workload")

    assert handlers_of(complaint) == {"handler_a2"}
    assert not handler_a.has_perm("complaints.handle_complaint", complaint)
    assert handler_a2.has_perm("complaints.handle_complaint", complaint)
    assert events_of(complaint)[-1] == (EventKind.ASSIGNED, "Assigned to Handler Test (was Heng Handler): workload")
    # The old handler is now read-only; the new one acts.
    refused(PermissionDenied, lambda: cs.complaint_acknowledge(complaint=complaint, actor=handler_a, reason="x"))
    cs.complaint_acknowledge(complaint=complaint, actor=handler_a2, reason="called back")


def test_a_handler_takes_an_unassigned_complaint(handler_a, unassigned):
    cs.complaint_assign(complaint=unassigned, assignee=handler_a, actor=handler_a, reason="taking it")
    assert Complaint.objects.get(pk=unassigned.pk).assigned_to == handler_a
    assert handlers_of(unassigned) == {"handler_a"}


def test_the_handler_hands_over_their_own_complaint(handler_a, handler_a2, complaint):
    cs.complaint_assign(complaint=complaint, assignee=handler_a2, actor=handler_a, reason="going on leave")
    assert Complaint.objects.get(pk=complaint.pk).assigned_to == handler_a2
    assert handlers_of(complaint) == {"handler_a2"}


@pytest.mark.parametrize(
    ("persona", "assignee"),
    [
        ("handler_a2", "handler_a2"),  # taking one that is already assigned
        ("handler_a2", "handler_a"),  # re-assigning another handler's complaint
        ("agent_a", "handler_a2"),
        ("supervisor_b", "handler_a2"),
        ("auditor", "handler_a2"),
    ],
)
def test_assignment_is_refused_to_those_who_neither_supervise_take_nor_hand_over(
    request, persona, assignee, handler_a2, complaint
):
    actor, person = request.getfixturevalue(persona), request.getfixturevalue(assignee)
    before = complaint_snapshot(complaint)
    refused(
        PermissionDenied,
        lambda: cs.complaint_assign(
            complaint=complaint,
            assignee=person,
            actor=actor,
            reason="mine now",
        ),
    )
    assert complaint_snapshot(complaint) == before


def test_a_handler_may_not_give_an_unassigned_complaint_to_someone_else(handler_a, handler_a2, unassigned):
    before = complaint_snapshot(unassigned)
    refused(
        PermissionDenied,
        lambda: cs.complaint_assign(complaint=unassigned, assignee=handler_a2, actor=handler_a, reason="yours"),
    )
    assert complaint_snapshot(unassigned) == before


@pytest.mark.parametrize("assignee", ["agent_a", "supervisor_a", "handler_b", "auditor"])
def test_only_a_working_handler_of_the_branch_is_assigned(request, assignee, supervisor_a, unassigned):
    person = request.getfixturevalue(assignee)
    before = complaint_snapshot(unassigned)
    error = refused(
        ValidationError,
        lambda: cs.complaint_assign(complaint=unassigned, assignee=person, actor=supervisor_a, reason="yours"),
    )
    assert error.code == "not_a_handler"
    assert complaint_snapshot(unassigned) == before


def test_a_suspended_handler_is_not_assigned(admin_user, supervisor_a, handler_a2, unassigned):
    suspended = suspend(handler_a2, admin_user)
    error = refused(
        ValidationError,
        lambda: cs.complaint_assign(complaint=unassigned, assignee=suspended, actor=supervisor_a, reason="yours"),
    )
    assert error.code == "not_a_handler"


def test_a_suspended_handler_no_longer_acts_on_their_complaint(admin_user, handler_a, complaint):
    suspended = suspend(handler_a, admin_user)
    before = complaint_snapshot(complaint)
    refused(PermissionDenied, lambda: cs.complaint_acknowledge(complaint=complaint, actor=suspended, reason="x"))
    assert complaint_snapshot(complaint) == before


def test_assigning_the_same_handler_again_or_a_closed_complaint_is_refused(
    supervisor_a, handler_a, handler_a2, complaint
):
    before = complaint_snapshot(complaint)
    error = refused(
        ValidationError,
        lambda: cs.complaint_assign(complaint=complaint, assignee=handler_a, actor=supervisor_a, reason="again"),
    )
    assert "already assigned" in error.messages[0]
    assert complaint_snapshot(complaint) == before

    closed = bring_to(complaint, S.CLOSED, handler=handler_a)
    before = complaint_snapshot(closed)
    error = refused(
        ValidationError,
        lambda: cs.complaint_assign(complaint=closed, assignee=handler_a2, actor=supervisor_a, reason="reopen?"),
    )
    assert "is closed" in error.messages[0]
    assert complaint_snapshot(closed) == before


def test_a_superuser_is_not_the_handler_of_every_complaint(admin_user, complaint, unassigned):
    """Acting on a complaint is the assigned handler's; a superuser is assigned like anyone."""
    for case in (complaint, unassigned):
        before = complaint_snapshot(case)
        refused(
            PermissionDenied, lambda case=case: cs.complaint_acknowledge(complaint=case, actor=admin_user, reason="x")
        )
        assert complaint_snapshot(case) == before


# --- State moves -----------------------------------------------------------------------------

ACTIONS = {
    S.ACKNOWLEDGED: cs.complaint_acknowledge,
    S.INVESTIGATING: cs.complaint_investigate,
    S.RESOLVED: cs.complaint_resolve,
    S.CLOSED: cs.complaint_close,
    S.REOPENED: cs.complaint_reopen,
}
ALLOWED = {
    (S.NEW, S.ACKNOWLEDGED),
    (S.ACKNOWLEDGED, S.INVESTIGATING),
    (S.ACKNOWLEDGED, S.RESOLVED),
    (S.INVESTIGATING, S.RESOLVED),
    (S.REOPENED, S.INVESTIGATING),
    (S.REOPENED, S.RESOLVED),
    (S.RESOLVED, S.CLOSED),
    (S.RESOLVED, S.REOPENED),
    (S.CLOSED, S.REOPENED),
}


def test_the_move_table_is_the_one_tested_here():
    assert {(start, end) for start, ends in COMPLAINT_MOVES.items() for end in ends} == ALLOWED


@pytest.mark.parametrize("to_state", list(ACTIONS))
@pytest.mark.parametrize("from_state", S.values)
def test_every_move_is_allowed_or_refused_as_the_table_says(
    from_state, to_state, handler_a, complaint, django_capture_on_commit_callbacks
):
    complaint = bring_to(complaint, from_state, handler=handler_a)
    action = ACTIONS[to_state]
    if (from_state, to_state) in ALLOWED:
        action(complaint=complaint, actor=handler_a, reason="next step")
        assert Complaint.objects.get(pk=complaint.pk).state == to_state
    else:
        before = complaint_snapshot(complaint)
        error = refused_quietly(
            django_capture_on_commit_callbacks,
            ValidationError,
            lambda: action(complaint=complaint, actor=handler_a, reason="next step"),
        )
        assert error.code == "illegal_move"
        assert error.messages == [
            f"Complaint {complaint.reference} is {S(from_state).label.lower()} and cannot become "
            f"{S(to_state).label.lower()}."
        ]
        assert complaint_snapshot(complaint) == before


def test_acknowledging_records_who_and_when_and_tells_the_complainant(
    handler_a, holder, complaint, django_capture_on_commit_callbacks
):
    started = timezone.now()
    complaint, sent = with_sms(
        django_capture_on_commit_callbacks,
        lambda: cs.complaint_acknowledge(complaint=complaint, actor=handler_a, reason="called the customer"),
    )
    complaint = Complaint.objects.get(pk=complaint.pk)
    assert complaint.acknowledged_by == handler_a and complaint.acknowledged_at >= started
    assert complaint.acknowledge_breached_at is None
    assert events_of(complaint)[-1] == (EventKind.ACKNOWLEDGED, "Acknowledged: called the customer")
    assert [(message.to_msisdn, message.purpose) for message in sent] == [(holder.contact_msisdn, SmsPurpose.COMPLAINT)]
    assert complaint.reference in sent[0].body
    assert [name for name, _, _ in complaint.pending_clocks()] == ["resolve"]


def test_investigating_resolving_and_closing_record_who_when_and_why(
    handler_a, supervisor_a, complaint, django_capture_on_commit_callbacks
):
    bring_to(complaint, S.ACKNOWLEDGED, handler=handler_a)
    cs.complaint_investigate(complaint=complaint, actor=handler_a, reason="pulling the billing records")
    _, sent = with_sms(
        django_capture_on_commit_callbacks,
        lambda: cs.complaint_resolve(complaint=complaint, actor=handler_a, reason="double charge refunded"),
    )
    resolved = Complaint.objects.get(pk=complaint.pk)
    assert (resolved.state, resolved.resolved_by, resolved.resolution) == (
        S.RESOLVED,
        handler_a,
        "double charge refunded",
    )
    assert resolved.resolved_at is not None and resolved.closed_at is None
    assert len(sent) == 1 and "is resolved" in sent[0].body

    cs.complaint_close(complaint=complaint, actor=supervisor_a, reason="no reply in 30 days")
    closed = Complaint.objects.get(pk=complaint.pk)
    assert (closed.state, closed.closed_by) == (S.CLOSED, supervisor_a)
    assert closed.closed_at >= closed.resolved_at
    assert [kind for kind, _ in events_of(complaint)][-3:] == [
        EventKind.INVESTIGATING,
        EventKind.RESOLVED,
        EventKind.CLOSED,
    ]
    assert closed.pending_clocks() == [] and closed.next_deadline() is None


def test_reopening_clears_the_resolution_and_keeps_it_in_history(handler_a, supervisor_a, complaint):
    bring_to(complaint, S.CLOSED, handler=handler_a)
    cs.complaint_reopen(complaint=complaint, actor=supervisor_a, reason="the charge came back")
    reopened = Complaint.objects.get(pk=complaint.pk)
    assert reopened.state == S.REOPENED and reopened.reopen_count == 1
    assert (reopened.resolved_at, reopened.resolved_by, reopened.resolution) == (None, None, "")
    assert (reopened.closed_at, reopened.closed_by) == (None, None)
    assert reopened.acknowledged_by == handler_a  # acknowledged once, stays so
    assert Complaint.history.filter(id=complaint.pk, resolution="test step complaint_resolve").exists()
    assert last_history(Complaint, complaint.pk).history_user == supervisor_a

    cs.complaint_resolve(complaint=reopened, actor=handler_a, reason="refunded again")
    cs.complaint_reopen(complaint=reopened, actor=handler_a, reason="still charged")
    assert Complaint.objects.get(pk=complaint.pk).reopen_count == 2


@pytest.mark.parametrize("action", [cs.complaint_acknowledge, cs.complaint_investigate, cs.complaint_resolve])
@pytest.mark.parametrize("persona", ["supervisor_a", "agent_a", "handler_a2", "agent_c", "supervisor_b", "auditor"])
def test_only_the_assigned_handler_acknowledges_investigates_and_resolves(
    request, action, persona, handler_a, handler_a2, complaint
):
    actor = request.getfixturevalue(persona)
    state_before = {cs.complaint_acknowledge: S.NEW}.get(action, S.ACKNOWLEDGED)
    complaint = bring_to(complaint, state_before, handler=handler_a)
    before = complaint_snapshot(complaint)
    refused(PermissionDenied, lambda: action(complaint=complaint, actor=actor, reason="x"))
    assert complaint_snapshot(complaint) == before
    action(complaint=complaint, actor=handler_a, reason="x")


@pytest.mark.parametrize(("action", "state"), [(cs.complaint_close, S.RESOLVED), (cs.complaint_reopen, S.CLOSED)])
@pytest.mark.parametrize("persona", ["handler_a", "supervisor_a", "admin_user"])
def test_the_handler_and_the_branchs_supervisors_close_and_reopen(
    request, action, state, persona, handler_a, complaint
):
    complaint = bring_to(complaint, state, handler=handler_a)
    actor = request.getfixturevalue(persona)
    action(complaint=complaint, actor=actor, reason="decided")
    assert last_history(Complaint, complaint.pk).history_user == actor


@pytest.mark.parametrize(("action", "state"), [(cs.complaint_close, S.RESOLVED), (cs.complaint_reopen, S.CLOSED)])
@pytest.mark.parametrize("persona", ["agent_a", "handler_a2", "supervisor_b", "auditor"])
def test_others_do_not_close_or_reopen(request, action, state, persona, handler_a, handler_a2, complaint):
    actor = request.getfixturevalue(persona)
    complaint = bring_to(complaint, state, handler=handler_a)
    before = complaint_snapshot(complaint)
    refused(PermissionDenied, lambda: action(complaint=complaint, actor=actor, reason="x"))
    assert complaint_snapshot(complaint) == before


@pytest.mark.parametrize("action", list(ACTIONS.values()) + [cs.complaint_note])
def test_every_step_needs_a_reason(action, handler_a, complaint):
    before = complaint_snapshot(complaint)
    error = refused(ValidationError, lambda: action(complaint=complaint, actor=handler_a, reason="  "))
    assert error.code == "reason_required"
    assert complaint_snapshot(complaint) == before


# --- Notes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["handler_a", "supervisor_a"])
def test_the_handler_and_supervisors_add_notes_in_any_state(request, persona, handler_a, complaint):
    actor = request.getfixturevalue(persona)
    for state in (S.NEW, S.CLOSED):
        complaint = bring_to(complaint, state, handler=handler_a)
        event = cs.complaint_note(complaint=complaint, actor=actor, reason=f"note while {state}")
        assert (event.kind, event.actor, event.text) == (EventKind.NOTE, actor, f"note while {state}")


@pytest.mark.parametrize("persona", ["agent_a", "handler_a2", "supervisor_b", "auditor"])
def test_others_see_the_complaint_read_only_and_add_no_notes(request, persona, handler_a2, complaint):
    actor = request.getfixturevalue(persona)
    before = complaint_snapshot(complaint)
    refused(
        PermissionDenied,
        lambda: cs.complaint_note(complaint=complaint, actor=actor, reason="my view"),
    )
    assert complaint_snapshot(complaint) == before


# --- Resolving with nothing left hanging ------------------------------------------------------


def test_resolving_is_refused_while_a_block_stands(handler_a, active, complaint):
    bring_to(complaint, S.ACKNOWLEDGED, handler=handler_a)
    block = cs.complaint_block_number(complaint=complaint, number=active, actor=handler_a, reason="misuse")
    before = complaint_snapshot(complaint)
    error = refused(ValidationError, lambda: cs.complaint_resolve(complaint=complaint, actor=handler_a, reason="done"))
    assert error.code == "not_resolvable"
    assert "a number is still blocked" in error.messages[0]
    assert complaint_snapshot(complaint) == before

    cs.complaint_lift_block(block=block, actor=handler_a, reason="holder is rightful")
    cs.complaint_resolve(complaint=complaint, actor=handler_a, reason="done")


def test_resolving_is_refused_while_a_restoration_awaits_approval(
    handler_a, agent_b, supervisor_a, holder, newcomer, active
):
    from complaints.tests.casework import wrongful_transfer

    wrongful_transfer(number=active, to=newcomer, agent=agent_b, supervisor=supervisor_a)
    complaint = new_complaint(
        actor=handler_a, complainant=holder, numbers=[active], category=ComplaintCategory.UNAUTHORISED_TRANSFER
    )
    bring_to(complaint, S.ACKNOWLEDGED, handler=handler_a)
    block = cs.complaint_block_number(complaint=complaint, number=active, actor=handler_a, reason="misuse")
    restoration = cs.restoration_request(complaint=complaint, number=active, actor=handler_a, reason="give back")
    # Lifting the block is refused too while the restoration waits.
    error = refused(ValidationError, lambda: cs.complaint_lift_block(block=block, actor=handler_a, reason="x"))
    assert error.code == "restoration_pending"
    before = complaint_snapshot(complaint)
    error = refused(ValidationError, lambda: cs.complaint_resolve(complaint=complaint, actor=handler_a, reason="done"))
    assert "a restoration awaits approval" in error.messages[0]
    assert "a number is still blocked" in error.messages[0]
    assert complaint_snapshot(complaint) == before

    cs.restoration_cancel(restoration=restoration, actor=handler_a, reason="asked too soon")
    error = refused(ValidationError, lambda: cs.complaint_resolve(complaint=complaint, actor=handler_a, reason="done"))
    assert "a restoration awaits approval" not in error.messages[0]


def test_resolving_is_refused_while_an_offer_is_live(handler_a, complaint):
    bring_to(complaint, S.ACKNOWLEDGED, handler=handler_a)
    offer = cs.offer_propose(
        complaint=complaint, kind="bill_credit", amount="5", currency="USD", actor=handler_a, reason="sorry"
    )
    for step in (None, "make"):
        if step == "make":
            offer = cs.offer_make(offer=offer, channel="phone", actor=handler_a, reason="called")
        before = complaint_snapshot(complaint)
        error = refused(
            ValidationError, lambda: cs.complaint_resolve(complaint=complaint, actor=handler_a, reason="done")
        )
        assert "an offer is on the table" in error.messages[0]
        assert complaint_snapshot(complaint) == before

    cs.offer_record_response(offer=offer, accepted=True, channel="phone", actor=handler_a, reason="yes")
    cs.complaint_resolve(complaint=complaint, actor=handler_a, reason="credited")


# --- Breaches -----------------------------------------------------------------------------------


@pytest.fixture
def clocks():
    """Every complaint from here: acknowledge within 2 hours, resolve within 10 (75% warns)."""
    return round_the_clock_table()


def test_acknowledging_in_time_records_no_breach(clocks, handler_a, holder, active):
    complaint = new_complaint(
        actor=handler_a, complainant=holder, numbers=[active], received_at=timezone.now() - timedelta(minutes=110)
    )
    cs.complaint_acknowledge(complaint=complaint, actor=handler_a, reason="in time")
    complaint.refresh_from_db()
    assert complaint.acknowledge_breached_at is None and complaint.breaches_on_record == []


def test_acknowledging_late_records_the_breach_at_the_deadline(clocks, handler_a, holder, active):
    complaint = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    back_date(
        Complaint,
        complaint.pk,
        received_at=complaint.received_at - timedelta(hours=3),
        acknowledge_due_at=complaint.acknowledge_due_at - timedelta(hours=3),
    )
    complaint.refresh_from_db()
    cs.complaint_acknowledge(complaint=complaint, actor=handler_a, reason="late")
    complaint.refresh_from_db()
    assert complaint.acknowledge_breached_at == complaint.acknowledge_due_at
    assert complaint.breaches_on_record == ["acknowledge"]
    assert events_of(complaint)[-1] == (EventKind.ACKNOWLEDGED, "Acknowledged (after the deadline): late")


def test_resolving_late_records_the_breach_and_resolving_in_time_does_not(clocks, handler_a, holder, active):
    received = timezone.now() - timedelta(hours=11)
    late = new_complaint(actor=handler_a, complainant=holder, numbers=[active], received_at=received)
    on_time = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    for complaint in (late, on_time):
        bring_to(complaint, S.RESOLVED, handler=handler_a)
    late.refresh_from_db()
    on_time.refresh_from_db()
    assert late.resolve_breached_at == received + timedelta(hours=10)
    assert late.acknowledge_breached_at == received + timedelta(hours=2)
    assert events_of(late)[-1][1].startswith("Resolved (after the deadline): ")
    assert on_time.breaches_on_record == []
    assert (late.sla_status(), on_time.sla_status()) == (SlaStatus.BREACHED, SlaStatus.MET)


def test_reopening_restarts_the_resolution_clock_and_keeps_the_breaches(clocks, handler_a, holder, active):
    received = timezone.now() - timedelta(hours=11)
    complaint = new_complaint(actor=handler_a, complainant=holder, numbers=[active], received_at=received)
    bring_to(complaint, S.RESOLVED, handler=handler_a)
    complaint.refresh_from_db()
    breaches = (complaint.acknowledge_breached_at, complaint.resolve_breached_at)
    acknowledge_clock = (complaint.acknowledge_due_at, complaint.acknowledge_warn_at)

    started = timezone.now()
    cs.complaint_reopen(complaint=complaint, actor=handler_a, reason="not fixed")
    finished = timezone.now()
    complaint.refresh_from_db()
    assert started + timedelta(hours=10) <= complaint.resolve_due_at <= finished + timedelta(hours=10)
    assert complaint.resolve_warn_at == complaint.resolve_due_at - timedelta(hours=2, minutes=30)
    assert (complaint.acknowledge_due_at, complaint.acknowledge_warn_at) == acknowledge_clock
    assert (complaint.acknowledge_breached_at, complaint.resolve_breached_at) == breaches
    assert complaint.sla_status() == SlaStatus.BREACHED  # a breach stays on record
    assert f"to resolve by {timezone.localtime(complaint.resolve_due_at):%d %b %Y %H:%M}" in events_of(complaint)[-1][1]


def test_the_sweep_records_each_breach_once(clocks, handler_a, holder, active):
    complaint = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    received = complaint.received_at

    assert cs.complaint_record_breaches(now=received + timedelta(minutes=119)) == 0
    assert cs.complaint_record_breaches(now=received + timedelta(hours=3)) == 1
    complaint.refresh_from_db()
    assert (complaint.acknowledge_breached_at, complaint.resolve_breached_at) == (received + timedelta(hours=2), None)
    assert events_of(complaint)[-1] == (EventKind.SLA_BREACHED, "SLA breached: acknowledge deadline passed.")
    record = last_history(Complaint, complaint.pk)
    assert (record.history_user, record.history_change_reason) == (None, "SLA breached: acknowledge deadline passed.")

    before = complaint_snapshot(complaint)
    assert cs.complaint_record_breaches(now=received + timedelta(hours=3)) == 0
    assert complaint_snapshot(complaint) == before

    assert cs.complaint_record_breaches(now=received + timedelta(hours=11)) == 1
    complaint.refresh_from_db()
    assert complaint.acknowledge_breached_at == received + timedelta(hours=2)  # unchanged
    assert complaint.resolve_breached_at == received + timedelta(hours=10)
    assert events_of(complaint)[-1][1] == "SLA breached: resolve deadline passed."
    assert cs.complaint_record_breaches(now=received + timedelta(hours=12)) == 0


def test_the_sweep_skips_stopped_clocks_and_closed_complaints(clocks, handler_a, holder, active):
    acknowledged = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    cs.complaint_acknowledge(complaint=acknowledged, actor=handler_a, reason="in time")
    closed = bring_to(new_complaint(actor=handler_a, complainant=holder, numbers=[active]), S.CLOSED, handler=handler_a)
    later = timezone.now() + timedelta(hours=3)

    before = complaint_snapshot(closed)
    assert cs.complaint_record_breaches(now=later) == 0
    assert complaint_snapshot(closed) == before
    acknowledged.refresh_from_db()
    assert acknowledged.breaches_on_record == []


def test_the_sweep_records_a_missed_block_deadline(handler_a, holder, active):
    complaint = new_complaint(
        actor=handler_a, complainant=holder, numbers=[active], category=ComplaintCategory.UNAUTHORISED_TRANSFER
    )
    cs.complaint_acknowledge(complaint=complaint, actor=handler_a, reason="called back")
    assert cs.complaint_record_breaches(now=complaint.block_due_at - timedelta(seconds=1)) == 0
    assert cs.complaint_record_breaches(now=complaint.block_due_at) == 1
    complaint.refresh_from_db()
    assert complaint.block_breached_at == complaint.block_due_at
    assert complaint.breaches_on_record == ["block"]


# --- What the queue shows -------------------------------------------------------------------------


def test_one_complaints_status_over_time(clocks, handler_a, holder, active):
    complaint = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    received = complaint.received_at
    assert complaint.sla_status(now=received) == SlaStatus.ON_TIME
    assert complaint.sla_status(now=received + timedelta(minutes=89)) == SlaStatus.ON_TIME
    assert complaint.sla_status(now=received + timedelta(minutes=90)) == SlaStatus.DUE_SOON
    assert complaint.sla_status(now=received + timedelta(hours=2)) == SlaStatus.BREACHED
    assert complaint.next_deadline() == ("acknowledge", received + timedelta(hours=2))

    cs.complaint_acknowledge(complaint=complaint, actor=handler_a, reason="in time")
    complaint.refresh_from_db()
    assert complaint.next_deadline() == ("resolve", received + timedelta(hours=10))
    assert complaint.sla_status(now=received + timedelta(hours=3)) == SlaStatus.ON_TIME
    assert complaint.sla_status(now=received + timedelta(hours=8)) == SlaStatus.DUE_SOON
    assert complaint.sla_status(now=received + timedelta(hours=10)) == SlaStatus.BREACHED

    cs.complaint_resolve(complaint=complaint, actor=handler_a, reason="fixed")
    complaint.refresh_from_db()
    assert complaint.sla_status(now=received + timedelta(days=30)) == SlaStatus.MET


def test_the_queue_filter_returns_the_rows_sla_status_names(clocks, handler_a, holder, active):
    now = timezone.now()
    made = {}

    def take_in(name, minutes_ago, **kwargs):
        made[name] = new_complaint(
            actor=handler_a,
            complainant=holder,
            numbers=[active],
            received_at=now - timedelta(minutes=minutes_ago),
            **kwargs,
        )
        return made[name]

    take_in("fresh", 10)
    take_in("warned", 100)
    take_in("overdue", 130)
    cs.complaint_acknowledge(complaint=take_in("acknowledged", 60), actor=handler_a, reason="in time")
    cs.complaint_acknowledge(complaint=take_in("acknowledged_late", 150), actor=handler_a, reason="late")
    bring_to(take_in("resolved", 30), S.RESOLVED, handler=handler_a)
    bring_to(take_in("closed_late", 700), S.CLOSED, handler=handler_a)
    cs.complaint_acknowledge(
        complaint=take_in("transfer", 20, category=ComplaintCategory.UNAUTHORISED_TRANSFER),
        actor=handler_a,
        reason="on it",
    )
    blocked = take_in("transfer_blocked", 25, category=ComplaintCategory.UNAUTHORISED_TRANSFER)
    cs.complaint_acknowledge(complaint=blocked, actor=handler_a, reason="on it")
    cs.complaint_block_number(complaint=blocked, number=active, actor=handler_a, reason="stop misuse")

    complaints = list(Complaint.objects.filter(pk__in=[c.pk for c in made.values()]))
    names = {complaint.pk: name for name, complaint in made.items()}
    expected_now = {
        "fresh": SlaStatus.ON_TIME,
        "warned": SlaStatus.DUE_SOON,
        "overdue": SlaStatus.BREACHED,
        "acknowledged": SlaStatus.ON_TIME,
        "acknowledged_late": SlaStatus.BREACHED,
        "resolved": SlaStatus.MET,
        "closed_late": SlaStatus.BREACHED,
        "transfer": SlaStatus.ON_TIME,
        "transfer_blocked": SlaStatus.ON_TIME,
    }
    assert {names[c.pk]: c.sla_status(now=now) for c in complaints} == expected_now

    # At every moment, for every status, the WHERE clause and the method agree.
    for later in (timedelta(0), timedelta(hours=1), timedelta(hours=8), timedelta(hours=19), timedelta(hours=25)):
        at = now + later
        for status in SlaStatus.values:
            by_method = {names[c.pk] for c in complaints if c.sla_status(now=at) == status}
            by_filter = {
                names[pk] for pk in Complaint.objects.filter(sla_filter(status, now=at)).values_list("pk", flat=True)
            }
            assert by_filter == by_method, (later, status)


def test_the_block_clock_alone_turns_an_unblocked_transfer_complaint_due_soon_then_breached(handler_a, holder, active):
    """On the operator's table the resolution clock (2 working days) warns after the
    block clock (18 hours of 24) does: what the queue shows then is the block's."""
    made = {}
    for name in ("unblocked", "blocked"):
        made[name] = new_complaint(
            actor=handler_a, complainant=holder, numbers=[active], category=ComplaintCategory.UNAUTHORISED_TRANSFER
        )
        cs.complaint_acknowledge(complaint=made[name], actor=handler_a, reason="on it")
    cs.complaint_block_number(complaint=made["blocked"], number=active, actor=handler_a, reason="stop misuse")
    unblocked, blocked = (Complaint.objects.get(pk=made[name].pk) for name in ("unblocked", "blocked"))
    assert unblocked.resolve_warn_at > unblocked.block_due_at

    for at, unblocked_status in (
        (unblocked.block_warn_at - timedelta(seconds=1), SlaStatus.ON_TIME),
        (unblocked.block_warn_at, SlaStatus.DUE_SOON),
        (unblocked.block_due_at, SlaStatus.BREACHED),
    ):
        assert (unblocked.sla_status(now=at), blocked.sla_status(now=at)) == (unblocked_status, SlaStatus.ON_TIME)
        for status in SlaStatus.values:
            expected = {c for c in (unblocked, blocked) if c.sla_status(now=at) == status}
            assert set(Complaint.objects.filter(sla_filter(status, now=at))) == expected, (at, status)


def test_the_queue_lists_by_status(clocks, handler_a, supervisor_a, holder, active):
    fresh = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    overdue = new_complaint(
        actor=handler_a, complainant=holder, numbers=[active], received_at=timezone.now() - timedelta(hours=3)
    )
    assert list(complaint_list(user=supervisor_a, sla=SlaStatus.BREACHED)) == [overdue]
    assert list(complaint_list(user=supervisor_a, sla=SlaStatus.ON_TIME)) == [fresh]
    assert list(complaint_list(user=handler_a, sla=SlaStatus.MET)) == []
