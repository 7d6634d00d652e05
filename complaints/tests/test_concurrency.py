"""Two people acting on one complaint, block, restoration or offer at the same
moment, on PostgreSQL with real threads and connections: row locks, not luck,
decide the order, and nothing is lost. SQLite serializes writers anyway."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from complaints import services as cs
from complaints.choices import ComplaintCategory, EventKind, OfferState, RestorationState, SlaUnit
from complaints.models import (
    CompensationOffer,
    Complaint,
    ComplaintEvent,
    ComplaintNumber,
    EmergencyBlock,
    Restoration,
)
from complaints.tests.casework import activate_table, handlers_of, make_handler, new_complaint, plain_calendar
from complaints.tests.casework import wrongful_transfer as give_wrongly
from numbers.choices import HoldingStartReason, NumberStatus
from numbers.models import Holding, MobileNumber
from tests.factories import number_in_state
from tests.helpers import race

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def clocks(db):
    """A transactional test empties every table after it, the presets seeded by the
    migrations included: each test here sets up its own clocks."""
    activate_table("race", [("", "", 2, SlaUnit.HOURS, 10, SlaUnit.HOURS)], calendar=plain_calendar("race"))


@pytest.fixture
def handler_a2(admin_user, branch_a):
    return make_handler("handler_a2", branch=branch_a, admin=admin_user)


@pytest.fixture
def complaint(handler_a, holder, active):
    complaint = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    return cs.complaint_acknowledge(complaint=complaint, actor=handler_a, reason="called back")


def fresh(complaint) -> Complaint:
    return Complaint.objects.get(pk=complaint.pk)


def winners_and_losers(outcomes, kind):
    winners = [outcome for outcome in outcomes if isinstance(outcome, kind)]
    losers = [outcome for outcome in outcomes if not isinstance(outcome, kind)]
    return winners, losers


# --- One complaint -------------------------------------------------------------------------------


def test_two_notes_at_once_are_both_kept(handler_a, supervisor_a, complaint):
    outcomes = race(
        lambda: cs.complaint_note(complaint=fresh(complaint), actor=handler_a, reason="the handler's note"),
        lambda: cs.complaint_note(complaint=fresh(complaint), actor=supervisor_a, reason="the supervisor's note"),
    )
    assert all(isinstance(outcome, ComplaintEvent) for outcome in outcomes), outcomes
    notes = set(complaint.events.filter(kind=EventKind.NOTE).values_list("actor__username", "text"))
    assert notes == {("handler_a", "the handler's note"), ("supervisor_a", "the supervisor's note")}


def test_a_note_while_the_complaint_is_reassigned_keeps_both(
    handler_a, handler_a2, supervisor_a, supervisor_a2, complaint
):
    outcomes = race(
        lambda: cs.complaint_note(complaint=fresh(complaint), actor=supervisor_a2, reason="customer called again"),
        lambda: cs.complaint_assign(
            complaint=fresh(complaint), assignee=handler_a2, actor=supervisor_a, reason="workload"
        ),
    )
    assert isinstance(outcomes[0], ComplaintEvent) and isinstance(outcomes[1], Complaint), outcomes
    assert fresh(complaint).assigned_to == handler_a2
    assert handlers_of(complaint) == {"handler_a2"}
    kinds = list(complaint.events.filter(kind__in=[EventKind.NOTE, EventKind.ASSIGNED]).values_list("kind", "text"))
    assert (EventKind.NOTE, "customer called again") in kinds
    assert (EventKind.ASSIGNED, "Assigned to Handler Test (was Heng Handler): workload") in kinds
    # Both changes to the complaint row itself are in its history, in one order or the other.
    assert Complaint.history.filter(id=complaint.pk, history_change_reason="workload").count() == 1


def test_the_old_handler_acts_before_the_handover_or_not_at_all(handler_a, handler_a2, supervisor_a, complaint):
    outcomes = race(
        lambda: cs.complaint_investigate(complaint=fresh(complaint), actor=handler_a, reason="pulling records"),
        lambda: cs.complaint_assign(
            complaint=fresh(complaint), assignee=handler_a2, actor=supervisor_a, reason="workload"
        ),
    )
    investigated, assigned = outcomes
    assert isinstance(assigned, Complaint), outcomes
    handover = complaint.events.get(kind=EventKind.ASSIGNED, actor=supervisor_a)
    if isinstance(investigated, Complaint):
        # It went first: its event is before the handover's, and it stands.
        assert complaint.events.get(kind=EventKind.INVESTIGATING).pk < handover.pk
        assert fresh(complaint).state == "investigating"
    else:
        assert isinstance(investigated, PermissionDenied), investigated
        assert fresh(complaint).state == "acknowledged"
        assert not complaint.events.filter(kind=EventKind.INVESTIGATING).exists()
    assert fresh(complaint).assigned_to == handler_a2


def test_two_complaints_taken_in_at_once_get_two_references(agent_a, agent_b, holder, branch_a):
    outcomes = race(
        *(
            lambda actor=actor: new_complaint(actor=actor, complainant=holder, branch=branch_a)
            for actor in (agent_a, agent_b)
        )
    )
    assert all(isinstance(outcome, Complaint) for outcome in outcomes), outcomes
    references = sorted(outcome.reference for outcome in outcomes)
    assert [reference[-6:] for reference in references] == ["000001", "000002"]


# --- One number ----------------------------------------------------------------------------------


def test_two_handlers_blocking_one_number_at_once_make_one_block(handler_a, handler_a2, supervisor_a, holder, active):
    first = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    second = new_complaint(actor=handler_a2, complainant=holder, numbers=[active])

    outcomes = race(
        *(
            lambda complaint=complaint, actor=actor: cs.complaint_block_number(
                complaint=fresh(complaint), number=MobileNumber.objects.get(pk=active.pk), actor=actor, reason="stop"
            )
            for complaint, actor in ((first, handler_a), (second, handler_a2))
        )
    )

    blocks, refusals = winners_and_losers(outcomes, EmergencyBlock)
    assert len(blocks) == 1 and len(refusals) == 1, outcomes
    assert isinstance(refusals[0], ValidationError) and refusals[0].code == "already_blocked", refusals[0]
    assert list(EmergencyBlock.objects.values_list("pk", flat=True)) == [blocks[0].pk]
    number = MobileNumber.objects.get(pk=active.pk)
    assert number.status == NumberStatus.BLOCKED
    assert number.history.filter(status=NumberStatus.BLOCKED).count() == 1
    loser = second if blocks[0].complaint_id == first.pk else first
    assert fresh(loser).first_blocked_at is None


def test_adding_and_blocking_one_number_at_once_links_it_once(agent_a, handler_a, branch_a, holder, complaint):
    """Two tabs of one handler: whichever goes first, the number is on the complaint
    once and blocked."""
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)

    added, blocked = race(
        lambda: cs.complaint_add_number(
            complaint=fresh(complaint), number=MobileNumber.objects.get(pk=number.pk), actor=handler_a, reason="also"
        ),
        lambda: cs.complaint_block_number(
            complaint=fresh(complaint), number=MobileNumber.objects.get(pk=number.pk), actor=handler_a, reason="stop"
        ),
    )

    assert isinstance(blocked, EmergencyBlock), blocked
    if not isinstance(added, ComplaintNumber):
        assert isinstance(added, ValidationError) and "already on this complaint" in added.messages[0], added
    assert ComplaintNumber.objects.filter(complaint=complaint, number=number).count() == 1
    assert MobileNumber.objects.get(pk=number.pk).status == NumberStatus.BLOCKED


def test_two_supervisors_approving_one_restoration_at_once_restore_once(
    agent_b, supervisor_a, supervisor_a2, handler_a, holder, newcomer, active
):
    give_wrongly(number=active, to=newcomer, agent=agent_b, supervisor=supervisor_a)
    complaint = new_complaint(
        actor=handler_a, complainant=holder, numbers=[active], category=ComplaintCategory.UNAUTHORISED_TRANSFER
    )
    cs.complaint_block_number(complaint=complaint, number=active, actor=handler_a, reason="stop misuse")
    restoration = cs.restoration_request(complaint=complaint, number=active, actor=handler_a, reason="give back")

    outcomes = race(
        *(
            lambda approver=approver: cs.restoration_approve(
                restoration=Restoration.objects.get(pk=restoration.pk), actor=approver, reason="ID checked"
            )
            for approver in (supervisor_a, supervisor_a2)
        )
    )

    winners, losers = winners_and_losers(outcomes, Restoration)
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert isinstance(losers[0], ValidationError) and losers[0].code == "not_open", losers[0]
    restoration.refresh_from_db()
    assert restoration.state == RestorationState.EXECUTED and restoration.decided_by_id == winners[0].decided_by_id
    assert Holding.objects.filter(number=active, start_reason=HoldingStartReason.RESTORATION).count() == 1
    number = MobileNumber.objects.get(pk=active.pk)
    assert (number.holder, number.status) == (holder, NumberStatus.ACTIVE)


def test_approval_and_rejection_of_one_restoration_at_once_decide_it_once(
    agent_b, supervisor_a, supervisor_a2, handler_a, holder, newcomer, active
):
    give_wrongly(number=active, to=newcomer, agent=agent_b, supervisor=supervisor_a)
    complaint = new_complaint(
        actor=handler_a, complainant=holder, numbers=[active], category=ComplaintCategory.UNAUTHORISED_TRANSFER
    )
    cs.complaint_block_number(complaint=complaint, number=active, actor=handler_a, reason="stop misuse")
    restoration = cs.restoration_request(complaint=complaint, number=active, actor=handler_a, reason="give back")

    approved, rejected = race(
        lambda: cs.restoration_approve(
            restoration=Restoration.objects.get(pk=restoration.pk), actor=supervisor_a, reason="ID checked"
        ),
        lambda: cs.restoration_reject(
            restoration=Restoration.objects.get(pk=restoration.pk), actor=supervisor_a2, reason="not convinced"
        ),
    )

    winners, losers = winners_and_losers([approved, rejected], Restoration)
    assert len(winners) == 1 and len(losers) == 1, (approved, rejected)
    assert isinstance(losers[0], ValidationError) and losers[0].code == "not_open", losers[0]
    restoration.refresh_from_db()
    number = MobileNumber.objects.get(pk=active.pk)
    if isinstance(approved, Restoration):
        assert restoration.state == RestorationState.EXECUTED
        assert (number.holder, number.status) == (holder, NumberStatus.ACTIVE)
    else:
        assert restoration.state == RestorationState.REJECTED
        assert (number.holder, number.status) == (newcomer, NumberStatus.BLOCKED)


# --- One offer -----------------------------------------------------------------------------------


def test_two_answers_to_one_offer_at_once_record_one(handler_a, complaint):
    offer = cs.offer_propose(
        complaint=complaint, kind="bill_credit", amount="10", currency="USD", actor=handler_a, reason="sorry"
    )
    cs.offer_make(offer=offer, channel="phone", actor=handler_a, reason="called")

    outcomes = race(
        *(
            lambda accepted=accepted: cs.offer_record_response(
                offer=CompensationOffer.objects.get(pk=offer.pk),
                accepted=accepted,
                channel="phone",
                actor=handler_a,
                reason="accepted" if accepted else "declined",
            )
            for accepted in (True, False)
        )
    )

    winners, losers = winners_and_losers(outcomes, CompensationOffer)
    assert len(winners) == 1 and len(losers) == 1, outcomes
    offer.refresh_from_db()
    assert offer.state == winners[0].state and offer.state in (OfferState.ACCEPTED, OfferState.DECLINED)
    assert isinstance(losers[0], ValidationError) and losers[0].code == "offer_state", losers[0]
    assert losers[0].messages == [f"This offer is {offer.get_state_display().lower()}: it cannot be answered."]
    assert offer.response_note == ("accepted" if offer.state == OfferState.ACCEPTED else "declined")
    assert complaint.events.filter(kind=EventKind.OFFER, text__contains="by the customer").count() == 1


def test_approval_and_refusal_of_one_offer_at_once_decide_it_once(handler_a, supervisor_a, supervisor_a2, complaint):
    offer = cs.offer_propose(
        complaint=complaint, kind="refund", amount="100", currency="USD", actor=handler_a, reason="outage"
    )

    outcomes = race(
        lambda: cs.offer_approve(offer=CompensationOffer.objects.get(pk=offer.pk), actor=supervisor_a, reason="ok"),
        lambda: cs.offer_refuse(offer=CompensationOffer.objects.get(pk=offer.pk), actor=supervisor_a2, reason="no"),
    )

    winners, losers = winners_and_losers(outcomes, CompensationOffer)
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert isinstance(losers[0], ValidationError) and losers[0].code == "offer_state", losers[0]
    offer.refresh_from_db()
    if isinstance(outcomes[0], CompensationOffer):
        assert (offer.state, offer.approved_by, offer.closed_at) == (OfferState.PROPOSED, supervisor_a, None)
    else:
        assert (offer.state, offer.approved_by, offer.closed_by) == (OfferState.WITHDRAWN, None, supervisor_a2)


def test_approval_while_the_handler_withdraws_leaves_a_withdrawn_offer(handler_a, supervisor_a, complaint):
    """Whichever goes first, the withdrawal stands; an approval that came first stays on record."""
    offer = cs.offer_propose(
        complaint=complaint, kind="refund", amount="100", currency="USD", actor=handler_a, reason="outage"
    )

    approved, withdrawn = race(
        lambda: cs.offer_approve(offer=CompensationOffer.objects.get(pk=offer.pk), actor=supervisor_a, reason="ok"),
        lambda: cs.offer_withdraw(offer=CompensationOffer.objects.get(pk=offer.pk), actor=handler_a, reason="moved"),
    )

    assert isinstance(withdrawn, CompensationOffer), withdrawn
    offer.refresh_from_db()
    assert (offer.state, offer.closed_by, offer.close_reason) == (OfferState.WITHDRAWN, handler_a, "moved")
    if isinstance(approved, CompensationOffer):
        assert offer.approved_by == supervisor_a
        assert list(offer.history.order_by("history_id").values_list("state", flat=True)) == [
            OfferState.AWAITING_APPROVAL,
            OfferState.PROPOSED,
            OfferState.WITHDRAWN,
        ]
    else:
        assert isinstance(approved, ValidationError) and approved.code == "offer_state", approved
        assert offer.approved_by is None


def test_the_expiry_job_and_an_answer_at_once_settle_the_offer_once(handler_a, complaint):
    from datetime import timedelta

    from django.utils import timezone

    offer = cs.offer_propose(
        complaint=complaint, kind="bill_credit", amount="10", currency="USD", actor=handler_a, reason="sorry"
    )
    cs.offer_make(offer=offer, channel="phone", actor=handler_a, reason="called")
    later = timezone.now() + timedelta(days=30)

    expired, answered = race(
        lambda: cs.offer_expire_due(now=later),
        lambda: cs.offer_record_response(
            offer=CompensationOffer.objects.get(pk=offer.pk),
            accepted=False,
            channel="sms",
            actor=handler_a,
            reason="no",
        ),
    )

    offer.refresh_from_db()
    if isinstance(answered, CompensationOffer):
        assert offer.state == OfferState.DECLINED and expired == 0
    else:
        assert isinstance(answered, ValidationError), answered
        assert offer.state == OfferState.EXPIRED and expired == 1
    assert offer.history.filter(state__in=[OfferState.DECLINED, OfferState.EXPIRED]).count() == 1
