"""The incident end to end through the services (the screens replay it in Chromium)."""

from datetime import date

from complaints import services as cs
from complaints.choices import ComplaintCategory, ComplaintState, OfferState, RestorationState
from complaints.selectors import complaint_timeline, flaggable_changes
from numbers import services as ns
from numbers.choices import ConsentParty, HoldingEndReason, HoldingStartReason, NumberStatus
from numbers.models import Holding
from tests.factories import consent_by_code, consent_in_person, transfer_request


def test_incident(
    agent_a, agent_b, supervisor_a, supervisor_a2, handler_a, admin_user, branch_a, holder, newcomer, active
):
    # The wrongful handover (in the real case there was no consent; here a transfer was pushed through).
    request = transfer_request(actor=agent_b, branch=branch_a, number=active, new_subscriber=newcomer)
    consent_by_code(request, actor=agent_b)
    consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=agent_b)
    request.refresh_from_db()
    ns.transfer_approve(request=request, actor=supervisor_a, reason="looked fine")
    active.refresh_from_db()
    assert active.holder == newcomer

    complaint = cs.complaint_create(
        complainant=holder,
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        severity="low",
        channel="branch",
        description="My number was given to someone else",
        numbers=[active],
        actor=handler_a,
    )
    assert complaint.severity == "critical" and complaint.assigned_to == handler_a
    cs.complaint_acknowledge(complaint=complaint, actor=handler_a, reason="called the customer")
    block = cs.complaint_block_number(complaint=complaint, number=active, actor=handler_a, reason="stop misuse")
    active.refresh_from_db()
    assert active.status == NumberStatus.BLOCKED and block.is_active
    restoration = cs.restoration_request(complaint=complaint, number=active, actor=handler_a, reason="give back")
    cs.restoration_approve(restoration=restoration, actor=supervisor_a2, reason="ledger shows the owner")
    active.refresh_from_db()
    restoration.refresh_from_db()
    assert restoration.state == RestorationState.EXECUTED
    assert active.status == NumberStatus.ACTIVE and active.holder == holder
    reasons = list(
        Holding.objects.filter(number=active).order_by("started_at", "id").values_list("start_reason", "end_reason")
    )
    assert reasons == [
        (HoldingStartReason.SALE, HoldingEndReason.TRANSFER),
        (HoldingStartReason.TRANSFER, HoldingEndReason.RESTORATION),
        (HoldingStartReason.RESTORATION, ""),
    ]
    for amount in ("20", "40"):
        offer = cs.offer_propose(
            complaint=complaint, kind="airtime_credit", amount=amount, currency="USD", actor=handler_a, reason="sorry"
        )
        cs.offer_make(offer=offer, channel="phone", actor=handler_a, reason="called")
        cs.offer_record_response(offer=offer, accepted=False, channel="phone", actor=handler_a, reason="not enough")
    big = cs.offer_propose(
        complaint=complaint, kind="refund", amount="100", currency="USD", actor=handler_a, reason="more"
    )
    assert big.state == OfferState.AWAITING_APPROVAL
    cs.regulator_case_record(
        complaint=complaint,
        regulator="TRC",
        case_number="TRC-2026-77",
        notified_on=date.today(),
        actor=handler_a,
        reason="letter",
    )
    changes = flaggable_changes(complaint)
    key = next(k for k, s in changes if "T-" in s and "agent_b" in s)
    flag = cs.employee_flag(complaint=complaint, change=key, actor=handler_a, reason="pushed the transfer")
    assert flag.employee == agent_b

    timeline = complaint_timeline(complaint)
    assert len(timeline) > 10
    complaint.refresh_from_db()
    assert complaint.state == ComplaintState.ACKNOWLEDGED and complaint.time_to_block is not None
