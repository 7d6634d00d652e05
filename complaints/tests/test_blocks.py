"""The emergency block and the restoration: freeze a wrongly given number at once,
then give it back to its rightful holder with a supervisor's approval. Every rule
both ways; a refusal changes nothing and tells nobody."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from complaints import services as cs
from complaints.choices import ComplaintCategory, ComplaintState, EventKind, RestorationState
from complaints.models import Complaint, EmergencyBlock, Restoration
from complaints.tests.casework import (
    bring_to,
    complaint_snapshot,
    events_of,
    last_history,
    make_employee,
    make_handler,
    new_complaint,
    wrongful_transfer,
)
from numbers import services as ns
from numbers.choices import HoldingEndReason, HoldingStartReason, NumberStatus, TransferState
from numbers.exceptions import HolderChangeRefused, IllegalMove
from numbers.models import Holding, MobileNumber, TransferRequest
from sms.choices import SmsPurpose
from staff.choices import EmploymentStatus, Role
from staff.services import employee_set_status
from tests.factories import SubscriberFactory, number_in_state
from tests.helpers import refused, refused_quietly, with_sms
from tests.snapshots import number_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def handler_a2(admin_user, branch_a):
    return make_handler("handler_a2", branch=branch_a, admin=admin_user)


@pytest.fixture
def wronged(agent_b, supervisor_a, newcomer, active):
    """``active`` was given to the newcomer by a transfer that went through."""
    wrongful_transfer(number=active, to=newcomer, agent=agent_b, supervisor=supervisor_a)
    return active


@pytest.fixture
def case(handler_a, holder, wronged):
    """The rightful holder's complaint about it, handled by handler_a."""
    complaint = new_complaint(
        actor=handler_a,
        complainant=holder,
        numbers=[wronged],
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        description="My number was given to someone else",
    )
    return bring_to(complaint, ComplaintState.ACKNOWLEDGED, handler=handler_a)


@pytest.fixture
def block(handler_a, case, wronged):
    return cs.complaint_block_number(complaint=case, number=wronged, actor=handler_a, reason="stop misuse")


@pytest.fixture
def restoration(handler_a, case, wronged, block):
    return cs.restoration_request(complaint=case, number=wronged, actor=handler_a, reason="the ledger shows the owner")


def block_it(complaint, number, actor):
    return lambda: cs.complaint_block_number(complaint=complaint, number=number, actor=actor, reason="stop misuse")


def everything(complaint, number) -> dict:
    return {"complaint": complaint_snapshot(complaint), "number": number_snapshot(number)}


# --- Blocking -------------------------------------------------------------------------------


def test_the_handler_blocks_a_number_at_once(
    handler_a, holder, newcomer, case, wronged, django_capture_on_commit_callbacks
):
    block, sent = with_sms(django_capture_on_commit_callbacks, block_it(case, wronged, handler_a))

    number = MobileNumber.objects.get(pk=wronged.pk)
    assert number.status == NumberStatus.BLOCKED and number.holder == newcomer  # frozen, not taken away
    block = EmergencyBlock.objects.get(pk=block.pk)
    assert (block.complaint, block.number, block.blocked_by, block.reason) == (case, wronged, handler_a, "stop misuse")
    assert block.is_active and block.lifted_at is None
    complaint = Complaint.objects.get(pk=case.pk)
    assert complaint.first_blocked_at == block.blocked_at
    assert complaint.time_to_block == block.blocked_at - complaint.received_at
    assert complaint.block_breached_at is None
    assert [name for name, _, _ in complaint.pending_clocks()] == ["resolve"]
    kind, text = events_of(complaint)[-1]
    assert kind == EventKind.BLOCKED and text.endswith("after the complaint: stop misuse")
    record = last_history(MobileNumber, wronged.pk)
    assert (record.history_user, record.status) == (handler_a, NumberStatus.BLOCKED)
    assert record.history_change_reason == f"Emergency block, complaint {case.reference}: stop misuse"
    assert [(message.to_msisdn, message.purpose) for message in sent] == [
        (holder.contact_msisdn, SmsPurpose.NUMBER_BLOCKED)
    ]


def test_a_number_not_yet_on_the_complaint_is_added_when_blocked(handler_a, agent_a, branch_a, holder, case):
    other = number_in_state(NumberStatus.SUSPENDED, actor=agent_a, branch=branch_a, subscriber=holder)
    cs.complaint_block_number(complaint=case, number=other, actor=handler_a, reason="also misused")
    assert case.numbers.filter(pk=other.pk).exists()
    assert MobileNumber.objects.get(pk=other.pk).status == NumberStatus.BLOCKED
    assert [kind for kind, _ in events_of(case)][-2:] == [EventKind.NUMBER_ADDED, EventKind.BLOCKED]


def test_blocking_cancels_the_numbers_open_transfer_requests(handler_a, holder, active, open_request):
    complaint = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    cs.complaint_block_number(complaint=complaint, number=active, actor=handler_a, reason="holder says stolen")
    request = TransferRequest.objects.get(pk=open_request.pk)
    assert request.state == TransferState.CANCELLED
    assert request.closed_by == handler_a and "Number blocked" in request.close_reason


def test_blocking_after_24_hours_records_the_block_breach(handler_a, holder, wronged):
    received = timezone.now() - timedelta(hours=25)
    complaint = new_complaint(
        actor=handler_a,
        complainant=holder,
        numbers=[wronged],
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        received_at=received,
    )
    cs.complaint_block_number(complaint=complaint, number=wronged, actor=handler_a, reason="late")
    complaint.refresh_from_db()
    assert complaint.block_breached_at == complaint.block_due_at == received + timedelta(hours=24)
    assert complaint.time_to_block > timedelta(hours=25)
    assert "blocked 25 h" in events_of(complaint)[-1][1]


def test_the_time_to_block_is_the_first_blocks(handler_a, agent_a, branch_a, holder, case, block):
    first = Complaint.objects.get(pk=case.pk).first_blocked_at
    other = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)
    cs.complaint_block_number(complaint=case, number=other, actor=handler_a, reason="second number")
    assert Complaint.objects.get(pk=case.pk).first_blocked_at == first == block.blocked_at


@pytest.mark.parametrize(
    "persona", ["supervisor_a", "agent_a", "handler_a2", "agent_c", "supervisor_b", "auditor", "admin_user"]
)
def test_only_the_assigned_handler_blocks(
    request, persona, handler_a2, case, wronged, django_capture_on_commit_callbacks
):
    """Supervisors note, lift and approve, but a block is the handler's act."""
    actor = request.getfixturevalue(persona)
    before = everything(case, wronged)
    refused_quietly(django_capture_on_commit_callbacks, PermissionDenied, block_it(case, wronged, actor))
    assert everything(case, wronged) == before


def test_a_closed_complaint_blocks_nothing(handler_a, holder, active, django_capture_on_commit_callbacks):
    complaint = bring_to(
        new_complaint(actor=handler_a, complainant=holder, numbers=[active]), ComplaintState.CLOSED, handler=handler_a
    )
    before = everything(complaint, active)
    error = refused_quietly(django_capture_on_commit_callbacks, ValidationError, block_it(complaint, active, handler_a))
    assert error.code == "complaint_not_open"
    assert everything(complaint, active) == before


def test_a_number_of_another_branch_is_not_blocked_from_this_complaint(handler_a, agent_c, branch_b, holder, case):
    elsewhere = number_in_state(NumberStatus.ACTIVE, actor=agent_c, branch=branch_b, subscriber=holder)
    before = everything(case, elsewhere)
    error = refused(ValidationError, block_it(case, elsewhere, handler_a))
    assert error.code == "number_other_branch"
    assert everything(case, elsewhere) == before


@pytest.mark.parametrize("status", [NumberStatus.AVAILABLE, NumberStatus.RESERVED, NumberStatus.WITHDRAWN])
def test_a_number_nobody_holds_is_not_blocked(status, handler_a, supervisor_a, branch_a, case):
    number = number_in_state(status, actor=supervisor_a, branch=branch_a)
    before = everything(case, number)
    error = refused(ValidationError, block_it(case, number, handler_a))
    assert error.code == "not_held"
    assert error.messages == [
        f"{number.msisdn} is {NumberStatus(status).label.lower()} and held by nobody: "
        "only a number someone holds can be blocked."
    ]
    assert everything(case, number) == before


def test_a_number_is_blocked_once(handler_a, holder, case, wronged, block, django_capture_on_commit_callbacks):
    other_complaint = new_complaint(actor=handler_a, complainant=holder, numbers=[wronged])
    for complaint in (case, other_complaint):
        before = everything(complaint, wronged)
        error = refused_quietly(
            django_capture_on_commit_callbacks, ValidationError, block_it(complaint, wronged, handler_a)
        )
        assert error.code == "already_blocked"
        assert error.messages == [f"{wronged.msisdn} is already blocked for complaint {case.reference}."]
        assert everything(complaint, wronged) == before


# --- Nothing else moves a blocked number ----------------------------------------------------------


def test_while_the_block_stands_nothing_else_moves_the_number(supervisor_a, agent_a, newcomer, holder, wronged, block):
    before = number_snapshot(wronged)
    error = refused(IllegalMove, lambda: ns.number_unblock(number=wronged, actor=supervisor_a, reason="admin"))
    assert error.code == "emergency_block"
    assert block.complaint.reference in error.messages[0]
    for to_status in (NumberStatus.ACTIVE, NumberStatus.SUSPENDED):
        error = refused(
            IllegalMove,
            lambda to_status=to_status: ns.number_transition(
                number=wronged, to_status=to_status, actor=supervisor_a, reason="admin"
            ),
        )
        assert error.code == "emergency_block"
    # Withdrawal (inactivity policy) is not a move a blocked number makes.
    error = refused(
        IllegalMove,
        lambda: ns.number_transition(number=wronged, to_status=NumberStatus.WITHDRAWN, actor=supervisor_a, reason="x"),
    )
    assert error.code == "illegal_move"
    error = refused(
        ValidationError,
        lambda: ns.transfer_create(number=wronged, new_subscriber=newcomer, actor=agent_a, reason="sale"),
    )
    assert error.code == "not_active"
    refused(
        HolderChangeRefused, lambda: ns.number_sell(number=wronged, subscriber=holder, actor=supervisor_a, reason="x")
    )
    assert number_snapshot(wronged) == before


# --- Lifting a block ------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["handler_a", "supervisor_a"])
def test_the_handler_or_a_supervisor_lifts_a_block_and_the_holder_keeps_the_number(
    request, persona, supervisor_a, newcomer, case, wronged, block
):
    actor = request.getfixturevalue(persona)
    cs.complaint_lift_block(block=block, actor=actor, reason="the transfer was genuine after all")

    number = MobileNumber.objects.get(pk=wronged.pk)
    assert (number.status, number.holder) == (NumberStatus.ACTIVE, newcomer)
    block = EmergencyBlock.objects.get(pk=block.pk)
    assert not block.is_active
    assert (block.lifted_by, block.lift_reason) == (actor, "the transfer was genuine after all")
    assert events_of(case)[-1] == (EventKind.BLOCK_LIFTED, "the transfer was genuine after all")
    assert Holding.objects.filter(number=wronged).count() == 2  # the ledger is untouched
    # The number moves again.
    ns.number_transition(number=number, to_status=NumberStatus.SUSPENDED, actor=supervisor_a, reason="holder asked")


def test_lifting_a_block_returns_a_suspended_number_to_suspended(handler_a, supervisor_a, case, wronged):
    """A block freezes the number where it was: an unpaid bill's suspension survives it."""
    ns.number_transition(number=wronged, to_status=NumberStatus.SUSPENDED, actor=supervisor_a, reason="unpaid bill")
    block = cs.complaint_block_number(complaint=case, number=wronged, actor=handler_a, reason="stop misuse")
    assert block.status_before == NumberStatus.SUSPENDED

    cs.complaint_lift_block(block=block, actor=handler_a, reason="the transfer was genuine")

    assert MobileNumber.objects.get(pk=wronged.pk).status == NumberStatus.SUSPENDED


@pytest.mark.parametrize("persona", ["agent_a", "handler_a2", "supervisor_b", "auditor"])
def test_others_do_not_lift_a_block(request, persona, handler_a2, case, wronged, block):
    actor = request.getfixturevalue(persona)
    before = everything(case, wronged)
    refused(
        PermissionDenied,
        lambda: cs.complaint_lift_block(block=block, actor=actor, reason="x"),
    )
    assert everything(case, wronged) == before


def test_a_block_is_lifted_once(handler_a, case, wronged, block):
    cs.complaint_lift_block(block=block, actor=handler_a, reason="genuine")
    before = everything(case, wronged)
    error = refused(ValidationError, lambda: cs.complaint_lift_block(block=block, actor=handler_a, reason="again"))
    assert error.code == "already_lifted"
    assert everything(case, wronged) == before


def test_a_block_with_a_restoration_awaiting_approval_is_not_lifted(
    handler_a, supervisor_a, case, wronged, block, restoration
):
    before = everything(case, wronged)
    error = refused(ValidationError, lambda: cs.complaint_lift_block(block=block, actor=supervisor_a, reason="x"))
    assert error.code == "restoration_pending"
    assert everything(case, wronged) == before
    cs.restoration_cancel(restoration=restoration, actor=handler_a, reason="asked too soon")
    cs.complaint_lift_block(block=block, actor=supervisor_a, reason="genuine")


# --- Asking for a restoration ------------------------------------------------------------------


def test_the_handler_asks_to_give_the_number_back_to_the_complainant(handler_a, holder, newcomer, case, wronged, block):
    restoration = cs.restoration_request(complaint=case, number=wronged, actor=handler_a, reason="ledger shows owner")
    restoration = Restoration.objects.get(pk=restoration.pk)
    assert restoration.state == RestorationState.AWAITING_APPROVAL
    assert (restoration.from_holder, restoration.to_subscriber) == (newcomer, holder)
    assert (restoration.requested_by, restoration.reason, restoration.decided_by) == (
        handler_a,
        "ledger shows owner",
        None,
    )
    assert restoration.reference == f"R-{restoration.pk}"
    kind, text = events_of(case)[-1]
    assert kind == EventKind.RESTORATION_REQUESTED and text.startswith(f"R-{restoration.pk}: give ")
    # Asking changes nothing yet.
    assert MobileNumber.objects.get(pk=wronged.pk).holder == newcomer


def test_a_restoration_goes_to_a_previous_holder_named_instead_of_the_complainant(
    handler_a, supervisor_a, holder, wronged
):
    """A relative complains for the holder: the number goes back to the holder."""
    relative = SubscriberFactory()
    complaint = new_complaint(
        actor=handler_a, complainant=relative, numbers=[wronged], category=ComplaintCategory.UNAUTHORISED_TRANSFER
    )
    cs.complaint_block_number(complaint=complaint, number=wronged, actor=handler_a, reason="stop misuse")
    error = refused(
        ValidationError,
        lambda: cs.restoration_request(complaint=complaint, number=wronged, actor=handler_a, reason="x"),
    )
    assert error.code == "not_previous_holder"
    restoration = cs.restoration_request(
        complaint=complaint, number=wronged, actor=handler_a, reason="for the holder", to_subscriber=holder
    )
    cs.restoration_approve(restoration=restoration, actor=supervisor_a, reason="holder confirmed in person")
    assert MobileNumber.objects.get(pk=wronged.pk).holder == holder


def test_a_restoration_needs_the_number_blocked_from_this_complaint(handler_a, holder, case, wronged):
    before = everything(case, wronged)
    error = refused(
        ValidationError, lambda: cs.restoration_request(complaint=case, number=wronged, actor=handler_a, reason="x")
    )
    assert error.code == "not_blocked"
    assert everything(case, wronged) == before

    other = new_complaint(actor=handler_a, complainant=holder, numbers=[wronged])
    cs.complaint_block_number(complaint=other, number=wronged, actor=handler_a, reason="blocked from the other")
    before = everything(case, wronged)
    error = refused(
        ValidationError, lambda: cs.restoration_request(complaint=case, number=wronged, actor=handler_a, reason="x")
    )
    assert error.code == "not_blocked"
    assert everything(case, wronged) == before


def test_a_restoration_goes_to_a_previous_holder_other_than_the_current_one(handler_a, newcomer, case, wronged, block):
    stranger = SubscriberFactory()
    before = everything(case, wronged)
    error = refused(
        ValidationError,
        lambda: cs.restoration_request(
            complaint=case, number=wronged, actor=handler_a, reason="x", to_subscriber=stranger
        ),
    )
    assert error.code == "not_previous_holder"
    error = refused(
        ValidationError,
        lambda: cs.restoration_request(
            complaint=case, number=wronged, actor=handler_a, reason="x", to_subscriber=newcomer
        ),
    )
    assert "already holds" in error.messages[0]
    assert everything(case, wronged) == before


def test_one_restoration_awaits_approval_per_number(handler_a, case, wronged, restoration):
    before = everything(case, wronged)
    error = refused(
        ValidationError, lambda: cs.restoration_request(complaint=case, number=wronged, actor=handler_a, reason="x")
    )
    assert "already has a restoration awaiting approval" in error.messages[0]
    assert everything(case, wronged) == before


@pytest.mark.parametrize("persona", ["supervisor_a", "agent_a", "handler_a2", "supervisor_b", "admin_user"])
def test_only_the_assigned_handler_asks_for_a_restoration(request, persona, handler_a2, case, wronged, block):
    actor = request.getfixturevalue(persona)
    before = everything(case, wronged)
    refused(
        PermissionDenied,
        lambda: cs.restoration_request(complaint=case, number=wronged, actor=actor, reason="x"),
    )
    assert everything(case, wronged) == before


# --- Approving a restoration ---------------------------------------------------------------------


def test_a_supervisor_approves_and_the_number_goes_back_with_both_holdings_in_the_ledger(
    supervisor_a, handler_a, holder, newcomer, case, wronged, block, restoration, django_capture_on_commit_callbacks
):
    assert cs.restoration_approval_blockers(restoration=restoration, actor=supervisor_a) == []
    restoration, sent = with_sms(
        django_capture_on_commit_callbacks,
        lambda: cs.restoration_approve(restoration=restoration, actor=supervisor_a, reason="holder's ID checked"),
    )

    restoration = Restoration.objects.get(pk=restoration.pk)
    assert restoration.state == RestorationState.EXECUTED
    assert (restoration.decided_by, restoration.decision_reason) == (supervisor_a, "holder's ID checked")
    number = MobileNumber.objects.get(pk=wronged.pk)
    assert (number.status, number.holder) == (NumberStatus.ACTIVE, holder)
    ledger = list(
        Holding.objects.filter(number=wronged)
        .order_by("started_at", "id")
        .values_list("subscriber", "start_reason", "end_reason", "ended_by")
    )
    assert ledger == [
        (holder.pk, HoldingStartReason.SALE, HoldingEndReason.TRANSFER, supervisor_a.pk),
        (newcomer.pk, HoldingStartReason.TRANSFER, HoldingEndReason.RESTORATION, supervisor_a.pk),
        (holder.pk, HoldingStartReason.RESTORATION, "", None),
    ]
    opened = Holding.objects.get(number=wronged, ended_at__isnull=True)
    assert restoration.opened_holding == opened and opened.started_by == supervisor_a
    assert f"complaint {case.reference}, {restoration.reference}" in opened.start_note
    block = EmergencyBlock.objects.get(pk=block.pk)
    assert not block.is_active and block.lifted_by == supervisor_a
    assert block.lift_reason == f"Restored to the rightful holder ({restoration.reference})"
    complaint = Complaint.objects.get(pk=case.pk)
    assert complaint.state == ComplaintState.ACKNOWLEDGED  # the handler resolves it next
    assert events_of(complaint)[-1][0] == EventKind.RESTORATION_APPROVED
    assert sorted((message.to_msisdn, message.purpose) for message in sent) == sorted(
        [(holder.contact_msisdn, SmsPurpose.NUMBER_BLOCKED), (newcomer.contact_msisdn, SmsPurpose.NUMBER_BLOCKED)]
    )
    # Nothing is left hanging: the handler may resolve.
    cs.complaint_resolve(complaint=complaint, actor=handler_a, reason="number given back")


@pytest.fixture
def boss_a(admin_user, branch_a):
    """A supervisor who also handles complaints."""
    return make_employee("boss_a", roles=[Role.SUPERVISOR, Role.COMPLAINT_HANDLER], branch=branch_a, admin=admin_user)


def approvals_refused(restoration, actor, exc_type, *, blocker: str, code: str | None = None):
    before = everything(restoration.complaint, restoration.number)
    blockers = cs.restoration_approval_blockers(restoration=restoration, actor=actor)
    assert blocker in blockers
    error = refused(
        exc_type, lambda: cs.restoration_approve(restoration=restoration, actor=actor, reason="looks right")
    )
    if code:
        assert error.code == code
    assert everything(restoration.complaint, restoration.number) == before
    return error


@pytest.mark.parametrize("persona", ["handler_a", "agent_a", "supervisor_b", "auditor"])
def test_only_a_supervisor_of_the_branch_approves(request, persona, restoration):
    approvals_refused(
        restoration,
        request.getfixturevalue(persona),
        PermissionDenied,
        blocker="You have no authority to approve restorations for this branch.",
    )


def test_a_superuser_does_not_approve(admin_user, restoration):
    error = approvals_refused(
        restoration,
        admin_user,
        PermissionDenied,
        blocker="Superuser accounts do not approve restorations: approval is a named supervisor's duty.",
    )
    assert "named supervisor" in str(error)


def test_a_suspended_supervisor_does_not_approve(admin_user, supervisor_a2, restoration):
    employee_set_status(
        employee=supervisor_a2.employee, status=EmploymentStatus.SUSPENDED, actor=admin_user, reason="x"
    )
    suspended = get_user_model().objects.get(pk=supervisor_a2.pk)
    approvals_refused(
        restoration,
        suspended,
        PermissionDenied,
        blocker="You have no authority to approve restorations for this branch.",
    )


def test_the_requester_does_not_approve_their_own_restoration(supervisor_a, boss_a, holder, wronged):
    complaint = new_complaint(
        actor=boss_a, complainant=holder, numbers=[wronged], category=ComplaintCategory.UNAUTHORISED_TRANSFER
    )
    assert complaint.assigned_to == boss_a
    cs.complaint_block_number(complaint=complaint, number=wronged, actor=boss_a, reason="stop misuse")
    restoration = cs.restoration_request(complaint=complaint, number=wronged, actor=boss_a, reason="give back")

    approvals_refused(
        restoration,
        boss_a,
        ValidationError,
        blocker="You asked for this restoration: another supervisor must approve it.",
        code="four_eyes",
    )
    error = refused(ValidationError, lambda: cs.restoration_reject(restoration=restoration, actor=boss_a, reason="x"))
    assert error.code == "four_eyes"
    cs.restoration_approve(restoration=restoration, actor=supervisor_a, reason="second pair of eyes")
    assert Restoration.objects.get(pk=restoration.pk).state == RestorationState.EXECUTED


def test_a_restoration_is_decided_once(supervisor_a, supervisor_a2, restoration):
    cs.restoration_approve(restoration=restoration, actor=supervisor_a, reason="checked")
    for action in (cs.restoration_approve, cs.restoration_reject):
        before = everything(restoration.complaint, restoration.number)
        error = refused(
            ValidationError, lambda action=action: action(restoration=restoration, actor=supervisor_a2, reason="x")
        )
        assert error.code == "not_open"
        assert error.messages == [
            f"Restoration {restoration.reference} is approved and executed: it can no longer change."
        ]
        assert everything(restoration.complaint, restoration.number) == before
    assert "The restoration is approved and executed." in cs.restoration_approval_blockers(
        restoration=Restoration.objects.get(pk=restoration.pk), actor=supervisor_a2
    )


# --- Rejecting and cancelling ---------------------------------------------------------------------


def test_a_supervisor_rejects_and_the_number_stays_frozen(
    supervisor_a, handler_a, newcomer, case, wronged, block, restoration
):
    cs.restoration_reject(restoration=restoration, actor=supervisor_a, reason="the holder sold it knowingly")
    restoration = Restoration.objects.get(pk=restoration.pk)
    assert restoration.state == RestorationState.REJECTED
    assert (restoration.decided_by, restoration.decision_reason) == (supervisor_a, "the holder sold it knowingly")
    assert restoration.decided_at is not None and restoration.opened_holding is None
    number = MobileNumber.objects.get(pk=wronged.pk)
    assert (number.status, number.holder) == (NumberStatus.BLOCKED, newcomer)
    assert EmergencyBlock.objects.get(pk=block.pk).is_active
    assert events_of(case)[-1] == (
        EventKind.RESTORATION_REJECTED,
        f"{restoration.reference} rejected: the holder sold it knowingly",
    )
    # The handler may ask again (with better evidence) or lift the block.
    cs.restoration_request(complaint=case, number=wronged, actor=handler_a, reason="new evidence")


@pytest.mark.parametrize("persona", ["handler_a", "agent_a", "supervisor_b"])
def test_only_a_supervisor_of_the_branch_rejects(request, persona, restoration):
    actor = request.getfixturevalue(persona)
    before = everything(restoration.complaint, restoration.number)
    refused(
        PermissionDenied,
        lambda: cs.restoration_reject(restoration=restoration, actor=actor, reason="x"),
    )
    assert everything(restoration.complaint, restoration.number) == before


def test_the_handler_cancels_their_request(handler_a, case, restoration):
    cs.restoration_cancel(restoration=restoration, actor=handler_a, reason="asked too soon")
    restoration = Restoration.objects.get(pk=restoration.pk)
    assert restoration.state == RestorationState.CANCELLED
    assert (restoration.cancelled_by, restoration.decided_by, restoration.decision_reason) == (
        handler_a,
        None,
        "asked too soon",
    )
    assert events_of(case)[-1][0] == EventKind.RESTORATION_CANCELLED


@pytest.mark.parametrize("persona", ["supervisor_a", "agent_a", "handler_a2"])
def test_others_do_not_cancel_a_restoration(request, persona, handler_a2, restoration):
    actor = request.getfixturevalue(persona)
    before = everything(restoration.complaint, restoration.number)
    refused(
        PermissionDenied,
        lambda: cs.restoration_cancel(restoration=restoration, actor=actor, reason="x"),
    )
    assert everything(restoration.complaint, restoration.number) == before


def test_a_decided_restoration_is_not_cancelled(handler_a, supervisor_a, restoration):
    cs.restoration_reject(restoration=restoration, actor=supervisor_a, reason="no")
    before = everything(restoration.complaint, restoration.number)
    error = refused(
        ValidationError, lambda: cs.restoration_cancel(restoration=restoration, actor=handler_a, reason="x")
    )
    assert error.code == "not_open"
    assert everything(restoration.complaint, restoration.number) == before
