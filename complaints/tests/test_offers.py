"""Compensation offers: proposed by the handler, approved by another supervisor above
the handler's limit, made to the customer, answered, withdrawn or expired. Every
offer stays on record. Every rule both ways; a refusal changes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from complaints import services as cs
from complaints.choices import ComplaintState, Currency, EventKind, OfferState
from complaints.models import CompensationOffer
from complaints.money import format_money, parse_amount
from complaints.selectors import live_offer, offers_awaiting
from complaints.tests.casework import (
    bring_to,
    complaint_snapshot,
    events_of,
    last_history,
    make_employee,
    make_handler,
    new_complaint,
    propose,
)
from staff.choices import Role
from tests.helpers import back_date, refused

pytestmark = pytest.mark.django_db


@pytest.fixture
def complaint(handler_a, holder, active):
    complaint = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    return bring_to(complaint, ComplaintState.ACKNOWLEDGED, handler=handler_a)


@pytest.fixture
def handler_a2(admin_user, branch_a):
    return make_handler("handler_a2", branch=branch_a, admin=admin_user)


def make(offer, actor):
    return cs.offer_make(offer=offer, channel="phone", actor=actor, reason="called the customer")


def answer(offer, actor, accepted=True, **kwargs):
    fields = {"channel": "phone", "reason": "the customer said so"} | kwargs
    return cs.offer_record_response(offer=offer, accepted=accepted, actor=actor, **fields)


def offered(complaint, handler, amount="10", currency=Currency.USD):
    return make(propose(complaint, handler, amount, currency), handler)


def unchanged(complaint):
    """A snapshot to compare after a refusal (the complaint and all its offers)."""
    return complaint_snapshot(complaint)


# --- Amounts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "currency", "amount"),
    [
        ("25", Currency.USD, Decimal("25.00")),
        ("25.5", Currency.USD, Decimal("25.50")),
        (" 1,250.75 ", Currency.USD, Decimal("1250.75")),
        (Decimal("0.01"), Currency.USD, Decimal("0.01")),
        ("40000", Currency.KHR, Decimal("40000")),
        ("40,000", Currency.KHR, Decimal("40000")),
        ("40000.00", Currency.KHR, Decimal("40000")),
        (20000, Currency.KHR, Decimal("20000")),
    ],
)
def test_amounts_are_decimals_in_the_currencys_smallest_unit(value, currency, amount):
    parsed = parse_amount(value, currency)
    assert parsed == amount and parsed.as_tuple().exponent == -{"USD": 2, "KHR": 0}[currency]


@pytest.mark.parametrize(
    ("value", "currency", "code", "message"),
    [
        ("abc", Currency.USD, "amount_invalid", "Enter the amount as a number, e.g. 25.00."),
        ("", Currency.USD, "amount_invalid", "Enter the amount as a number, e.g. 25.00."),
        ("0", Currency.USD, "amount_not_positive", "The amount must be more than zero."),
        ("-5", Currency.USD, "amount_not_positive", "The amount must be more than zero."),
        ("NaN", Currency.USD, "amount_not_positive", "The amount must be more than zero."),
        ("Infinity", Currency.KHR, "amount_not_positive", "The amount must be more than zero."),
        ("10.005", Currency.USD, "amount_precision", "USD amounts have 2 decimal places."),
        ("1000.5", Currency.KHR, "amount_precision", "KHR amounts have 0 decimal places."),
        ("1e12", Currency.KHR, "amount_too_large", "The amount is too large."),
        ("10", "EUR", None, "Choose a currency: KHR, USD."),
    ],
)
def test_garbage_amounts_are_refused_with_a_clear_message(value, currency, code, message):
    with pytest.raises(ValidationError) as exc:
        parse_amount(value, currency)
    assert exc.value.messages == [message]
    if code:
        assert exc.value.code == code


def test_amounts_are_shown_with_the_currencys_decimals():
    assert format_money(Decimal("200000"), Currency.KHR) == "200,000 KHR"
    assert format_money(Decimal("12.5"), Currency.USD) == "12.50 USD"


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        ("0", "USD", "amount_not_positive"),
        ("-1", "KHR", "amount_not_positive"),
        ("ten", "USD", "amount_invalid"),
        ("2.5", "KHR", "amount_precision"),
    ],
)
def test_an_offer_with_a_bad_amount_is_refused(amount, currency, code, handler_a, complaint):
    before = unchanged(complaint)
    error = refused(ValidationError, lambda: propose(complaint, handler_a, amount, currency))
    assert error.code == code
    assert unchanged(complaint) == before


@pytest.mark.parametrize(
    ("changes", "code"),
    [({"kind": "cash_in_hand"}, "kind"), ({"valid_days": 0}, "valid_days"), ({"valid_days": 91}, "valid_days")],
)
def test_an_offer_needs_a_known_kind_and_a_sensible_validity(changes, code, handler_a, complaint):
    before = unchanged(complaint)
    error = refused(ValidationError, lambda: propose(complaint, handler_a, **changes))
    assert error.code == code
    assert unchanged(complaint) == before


# --- Proposing: within the limit or above it -----------------------------------------------------


def test_an_offer_within_the_limit_is_proposed_and_valid_for_the_configured_days(settings, handler_a, complaint):
    assert (cs.offer_limit(Currency.USD), cs.offer_limit(Currency.KHR)) == (Decimal(50), Decimal(200000))
    offer = propose(complaint, handler_a, "50", description="USD 50 off the next bill")
    offer = CompensationOffer.objects.get(pk=offer.pk)
    assert (offer.state, offer.needs_approval, offer.amount, offer.currency) == (
        OfferState.PROPOSED,
        False,
        Decimal("50.00"),
        "USD",
    )
    assert (offer.proposed_by, offer.proposal_reason, offer.description) == (
        handler_a,
        "sorry for the double charge",
        "USD 50 off the next bill",
    )
    assert offer.valid_until - offer.proposed_at == timedelta(days=settings.COMPLAINTS_OFFER_VALID_DAYS)
    assert events_of(complaint)[-1] == (
        EventKind.OFFER,
        f"Offer #{offer.pk} (50.00 USD): Bill credit proposed. sorry for the double charge",
    )
    assert live_offer(complaint) == offer
    record = last_history(CompensationOffer, offer.pk)
    assert (record.history_user, record.history_change_reason) == (handler_a, "sorry for the double charge")


def test_an_offer_above_the_limit_awaits_a_supervisors_approval(supervisor_a, handler_a, complaint):
    offer = propose(complaint, handler_a, "50.01")
    assert (offer.state, offer.needs_approval) == (OfferState.AWAITING_APPROVAL, True)
    assert "above the handler's limit of 50.00 USD, awaits approval" in events_of(complaint)[-1][1]
    assert list(offers_awaiting(user=supervisor_a)) == [offer]


@pytest.mark.parametrize(
    ("amount", "state"), [("200000", OfferState.PROPOSED), ("200001", OfferState.AWAITING_APPROVAL)]
)
def test_the_riel_limit_is_its_own(amount, state, handler_a, complaint):
    assert propose(complaint, handler_a, amount, Currency.KHR).state == state


def test_the_limit_counts_what_the_customer_already_accepted_in_that_currency(handler_a, complaint):
    answer(offered(complaint, handler_a, "40"), handler_a, accepted=True)
    answer(offered(complaint, handler_a, "10"), handler_a, accepted=False)  # declined: does not count
    answer(offered(complaint, handler_a, "150000", Currency.KHR), handler_a, accepted=True)

    assert propose(complaint, handler_a, "10").state == OfferState.PROPOSED  # 40 + 10 = 50
    cs.offer_withdraw(offer=live_offer(complaint), actor=handler_a, reason="try another")
    assert propose(complaint, handler_a, "10.01").state == OfferState.AWAITING_APPROVAL  # 40 + 10.01 > 50
    cs.offer_withdraw(offer=live_offer(complaint), actor=handler_a, reason="try another")
    # The riels: 150000 accepted, 50000 more is the limit.
    assert propose(complaint, handler_a, "50000", Currency.KHR).state == OfferState.PROPOSED
    cs.offer_withdraw(offer=live_offer(complaint), actor=handler_a, reason="try another")
    assert propose(complaint, handler_a, "50001", Currency.KHR).state == OfferState.AWAITING_APPROVAL


def test_the_limit_counts_only_this_complaints_offers(handler_a, holder, active, complaint):
    answer(offered(complaint, handler_a, "50"), handler_a, accepted=True)
    other = bring_to(
        new_complaint(actor=handler_a, complainant=holder, numbers=[active]),
        ComplaintState.ACKNOWLEDGED,
        handler=handler_a,
    )
    assert propose(other, handler_a, "50").state == OfferState.PROPOSED


def test_a_currency_without_a_configured_limit_always_needs_approval(settings, handler_a, complaint):
    settings.COMPLAINTS_OFFER_LIMITS = {"USD": "50"}
    assert cs.offer_limit(Currency.KHR) == Decimal(0)
    assert propose(complaint, handler_a, "1", Currency.KHR).state == OfferState.AWAITING_APPROVAL


def test_one_live_offer_per_complaint(handler_a, complaint):
    first = propose(complaint, handler_a, "10")
    for step in ("proposed", "offered"):
        if step == "offered":
            make(first, handler_a)
        before = unchanged(complaint)
        error = refused(ValidationError, lambda: propose(complaint, handler_a, "5"))
        assert error.code == "offer_live"
        assert error.messages == [
            f"Offer #{first.pk} is still {step}"
            + (" to the customer" if step == "offered" else "")
            + ": record the customer's answer or withdraw it first."
        ]
        assert unchanged(complaint) == before


def test_declined_offers_stay_on_record_beside_the_next_one(handler_a, complaint):
    for amount in ("20", "40"):
        answer(offered(complaint, handler_a, amount), handler_a, accepted=False, reason="not enough")
    third = propose(complaint, handler_a, "100", kind="refund")
    assert list(complaint.offers.order_by("pk").values_list("amount", "state")) == [
        (Decimal("20.00"), OfferState.DECLINED),
        (Decimal("40.00"), OfferState.DECLINED),
        (Decimal("100.00"), OfferState.AWAITING_APPROVAL),
    ]
    assert live_offer(complaint) == third


@pytest.mark.parametrize("persona", ["supervisor_a", "agent_a", "handler_a2", "supervisor_b", "admin_user"])
def test_only_the_assigned_handler_proposes(request, persona, handler_a2, complaint):
    actor = request.getfixturevalue(persona)
    before = unchanged(complaint)
    refused(PermissionDenied, lambda: propose(complaint, actor))
    assert unchanged(complaint) == before


@pytest.mark.parametrize("state", [ComplaintState.NEW, ComplaintState.RESOLVED, ComplaintState.CLOSED])
def test_offers_are_proposed_only_on_an_open_complaint(state, handler_a, holder, active):
    complaint = bring_to(new_complaint(actor=handler_a, complainant=holder, numbers=[active]), state, handler=handler_a)
    if state == ComplaintState.NEW:
        assert propose(complaint, handler_a).state == OfferState.PROPOSED  # new is open
        return
    before = unchanged(complaint)
    assert refused(ValidationError, lambda: propose(complaint, handler_a)).code == "complaint_not_open"
    assert unchanged(complaint) == before


# --- Approval ----------------------------------------------------------------------------------


@pytest.fixture
def big(handler_a, complaint):
    return propose(complaint, handler_a, "120", kind="refund", reason="three days without service")


def test_a_supervisor_approves_an_offer_above_the_limit(supervisor_a, handler_a, big):
    offer = cs.offer_approve(offer=big, actor=supervisor_a, reason="outage confirmed")
    offer = CompensationOffer.objects.get(pk=offer.pk)
    assert offer.state == OfferState.PROPOSED
    assert (offer.approved_by, offer.approval_reason, offer.needs_approval) == (supervisor_a, "outage confirmed", True)
    assert offer.approved_at is not None
    assert events_of(offer.complaint)[-1][1] == f"Offer #{offer.pk} (120.00 USD): approved. outage confirmed"
    make(offer, handler_a)
    assert CompensationOffer.objects.get(pk=offer.pk).state == OfferState.OFFERED


@pytest.mark.parametrize("persona", ["handler_a", "agent_a", "supervisor_b", "auditor"])
def test_only_a_supervisor_of_the_branch_approves_an_offer(request, persona, big):
    actor = request.getfixturevalue(persona)
    before = unchanged(big.complaint)
    refused(PermissionDenied, lambda: cs.offer_approve(offer=big, actor=actor, reason="ok"))
    assert unchanged(big.complaint) == before


def test_a_superuser_does_not_approve_an_offer(admin_user, big):
    before = unchanged(big.complaint)
    error = refused(PermissionDenied, lambda: cs.offer_approve(offer=big, actor=admin_user, reason="ok"))
    assert "named supervisor" in str(error)
    assert unchanged(big.complaint) == before


def test_the_proposer_does_not_approve_their_own_offer(admin_user, supervisor_a, holder, active):
    boss = make_employee(
        "boss_a", roles=[Role.SUPERVISOR, Role.COMPLAINT_HANDLER], branch=active.branch, admin=admin_user
    )
    complaint = new_complaint(actor=boss, complainant=holder, numbers=[active])
    offer = propose(complaint, boss, "120")
    before = unchanged(complaint)
    for action in (cs.offer_approve, cs.offer_refuse):
        error = refused(ValidationError, lambda action=action: action(offer=offer, actor=boss, reason="fine by me"))
        assert error.code == "four_eyes"
    assert unchanged(complaint) == before
    cs.offer_approve(offer=offer, actor=supervisor_a, reason="second pair of eyes")


def test_an_offer_within_the_limit_needs_no_approval_and_cannot_get_one(supervisor_a, handler_a, complaint):
    offer = propose(complaint, handler_a, "10")
    before = unchanged(complaint)
    error = refused(ValidationError, lambda: cs.offer_approve(offer=offer, actor=supervisor_a, reason="ok"))
    assert (error.code, error.messages) == ("offer_state", ["This offer is proposed: it cannot be approved."])
    assert unchanged(complaint) == before


def test_a_supervisor_refuses_approval_and_the_offer_is_withdrawn_with_why(supervisor_a, handler_a, big):
    cs.offer_refuse(offer=big, actor=supervisor_a, reason="outage was two hours")
    offer = CompensationOffer.objects.get(pk=big.pk)
    assert offer.state == OfferState.WITHDRAWN
    assert (offer.closed_by, offer.close_reason, offer.approved_by) == (
        supervisor_a,
        "Approval refused: outage was two hours",
        None,
    )
    # A smaller offer may follow.
    assert propose(offer.complaint, handler_a, "20").state == OfferState.PROPOSED


@pytest.mark.parametrize("persona", ["handler_a", "agent_a", "supervisor_b"])
def test_only_a_supervisor_of_the_branch_refuses_approval(request, persona, big):
    actor = request.getfixturevalue(persona)
    before = unchanged(big.complaint)
    refused(PermissionDenied, lambda: cs.offer_refuse(offer=big, actor=actor, reason="no"))
    assert unchanged(big.complaint) == before


def test_an_offer_past_its_validity_is_neither_approved_nor_made(supervisor_a, handler_a, complaint, big):
    now = timezone.now()
    back_date(CompensationOffer, big.pk, proposed_at=now - timedelta(days=20), valid_until=now - timedelta(days=6))
    before = unchanged(complaint)
    error = refused(ValidationError, lambda: cs.offer_approve(offer=big, actor=supervisor_a, reason="ok"))
    assert error.code == "offer_expired"
    assert unchanged(complaint) == before

    small = CompensationOffer.objects.get(pk=big.pk)
    cs.offer_refuse(offer=small, actor=supervisor_a, reason="stale")
    small = propose(complaint, handler_a, "10")
    back_date(CompensationOffer, small.pk, proposed_at=now - timedelta(days=20), valid_until=now - timedelta(days=6))
    before = unchanged(complaint)
    assert refused(ValidationError, lambda: make(small, handler_a)).code == "offer_expired"
    assert unchanged(complaint) == before


# --- Making the offer and the customer's answer ------------------------------------------------


def test_the_handler_makes_the_offer(handler_a, complaint):
    offer = make(propose(complaint, handler_a, "10"), handler_a)
    offer = CompensationOffer.objects.get(pk=offer.pk)
    assert (offer.state, offer.offered_by, offer.offered_channel) == (OfferState.OFFERED, handler_a, "phone")
    assert offer.offered_at is not None


def test_an_offer_is_made_once_by_a_known_channel(handler_a, complaint):
    offer = propose(complaint, handler_a, "10")
    before = unchanged(complaint)
    error = refused(ValidationError, lambda: cs.offer_make(offer=offer, channel="pigeon", actor=handler_a, reason="x"))
    assert error.code == "channel"
    assert unchanged(complaint) == before
    make(offer, handler_a)
    before = unchanged(complaint)
    assert refused(ValidationError, lambda: make(offer, handler_a)).code == "offer_state"
    assert unchanged(complaint) == before


@pytest.mark.parametrize("accepted", [True, False])
def test_the_customers_answer_is_recorded_with_its_date_and_channel(accepted, handler_a, complaint):
    offer = offered(complaint, handler_a, "10")
    when = timezone.now()
    cs.offer_record_response(
        offer=offer, accepted=accepted, channel="sms", actor=handler_a, reason="replied YES", responded_at=when
    )
    offer = CompensationOffer.objects.get(pk=offer.pk)
    assert offer.state == (OfferState.ACCEPTED if accepted else OfferState.DECLINED)
    assert (offer.responded_at, offer.response_channel, offer.response_note, offer.response_recorded_by) == (
        when,
        "sms",
        "replied YES",
        handler_a,
    )
    assert live_offer(complaint) is None
    assert events_of(complaint)[-1][1].startswith(
        f"Offer #{offer.pk} (10.00 USD): {'accepted' if accepted else 'declined'} by the customer on "
    )


def test_the_answers_date_is_between_the_offer_and_now(handler_a, complaint):
    offer = offered(complaint, handler_a, "10")
    for when in (offer.offered_at - timedelta(minutes=1), timezone.now() + timedelta(hours=1)):
        before = unchanged(complaint)
        error = refused(ValidationError, lambda when=when: answer(offer, handler_a, responded_at=when))
        assert error.code == "responded_at"
        assert "between the offer" in error.messages[0]
        assert unchanged(complaint) == before
    answer(offer, handler_a, responded_at=offer.offered_at)


def test_an_answer_needs_a_known_channel_and_an_offer_made(handler_a, complaint):
    offer = propose(complaint, handler_a, "10")
    before = unchanged(complaint)
    assert refused(ValidationError, lambda: answer(offer, handler_a)).code == "offer_state"
    assert unchanged(complaint) == before
    make(offer, handler_a)
    before = unchanged(complaint)
    assert refused(ValidationError, lambda: answer(offer, handler_a, channel="telepathy")).code == "channel"
    assert unchanged(complaint) == before
    answer(offer, handler_a)
    before = unchanged(complaint)
    assert refused(ValidationError, lambda: answer(offer, handler_a, accepted=False)).code == "offer_state"
    assert unchanged(complaint) == before


def test_an_acceptance_after_the_offer_expired_is_refused_but_a_refusal_is_recorded(handler_a, complaint):
    offer = offered(complaint, handler_a, "10")
    now = timezone.now()
    back_date(
        CompensationOffer,
        offer.pk,
        proposed_at=now - timedelta(days=10),
        offered_at=now - timedelta(days=9),
        valid_until=now - timedelta(days=3),
    )
    offer = CompensationOffer.objects.get(pk=offer.pk)
    before = unchanged(complaint)
    error = refused(ValidationError, lambda: answer(offer, handler_a, responded_at=now - timedelta(days=2)))
    assert error.code == "offer_expired"
    assert unchanged(complaint) == before
    # Accepted while it was valid (recorded late) is fine.
    answer(offer, handler_a, responded_at=now - timedelta(days=4))
    assert CompensationOffer.objects.get(pk=offer.pk).state == OfferState.ACCEPTED


@pytest.mark.parametrize("persona", ["supervisor_a", "agent_a", "handler_a2"])
def test_only_the_assigned_handler_makes_answers_and_withdraws(request, persona, handler_a, handler_a2, complaint):
    actor = request.getfixturevalue(persona)
    offer = propose(complaint, handler_a, "10")
    before = unchanged(complaint)
    refused(PermissionDenied, lambda: make(offer, actor))
    refused(PermissionDenied, lambda: cs.offer_withdraw(offer=offer, actor=actor, reason="x"))
    assert unchanged(complaint) == before
    make(offer, handler_a)
    before = unchanged(complaint)
    refused(PermissionDenied, lambda: answer(offer, actor))
    assert unchanged(complaint) == before


# --- Withdrawal and expiry -----------------------------------------------------------------------


@pytest.mark.parametrize("step", ["proposed", "awaiting_approval", "offered"])
def test_the_handler_withdraws_a_live_offer(step, handler_a, complaint):
    offer = propose(complaint, handler_a, "100" if step == "awaiting_approval" else "10")
    if step == "offered":
        make(offer, handler_a)
    cs.offer_withdraw(offer=offer, actor=handler_a, reason="customer moved abroad")
    offer = CompensationOffer.objects.get(pk=offer.pk)
    assert (offer.state, offer.closed_by, offer.close_reason) == (
        OfferState.WITHDRAWN,
        handler_a,
        "customer moved abroad",
    )
    assert live_offer(complaint) is None


def test_an_answered_offer_is_not_withdrawn(handler_a, complaint):
    offer = offered(complaint, handler_a)
    answer(offer, handler_a)
    before = unchanged(complaint)
    error = refused(ValidationError, lambda: cs.offer_withdraw(offer=offer, actor=handler_a, reason="x"))
    assert error.messages == ["This offer is accepted: it cannot be withdrawn."]
    assert unchanged(complaint) == before


def test_offers_past_their_validity_expire_once(handler_a, holder, active, complaint):
    made = offered(complaint, handler_a, "10")
    waiting_complaint = bring_to(
        new_complaint(actor=handler_a, complainant=holder, numbers=[active]),
        ComplaintState.ACKNOWLEDGED,
        handler=handler_a,
    )
    waiting = propose(waiting_complaint, handler_a, "500", valid_days=1)
    answered_complaint = bring_to(
        new_complaint(actor=handler_a, complainant=holder, numbers=[active]),
        ComplaintState.ACKNOWLEDGED,
        handler=handler_a,
    )
    answer(offered(answered_complaint, handler_a, "5"), handler_a)
    later = timezone.now() + timedelta(days=2)

    assert cs.offer_expire_due(now=later) == 1
    assert CompensationOffer.objects.get(pk=waiting.pk).state == OfferState.EXPIRED
    assert CompensationOffer.objects.get(pk=made.pk).state == OfferState.OFFERED  # valid 14 days
    expired = CompensationOffer.objects.get(pk=waiting.pk)
    assert (expired.closed_at, expired.closed_by) == (later, None)
    assert expired.close_reason.startswith("Expired: no answer by ")
    assert last_history(CompensationOffer, waiting.pk).history_user is None

    snapshots = [unchanged(c) for c in (complaint, waiting_complaint, answered_complaint)]
    assert cs.offer_expire_due(now=later) == 0
    assert [unchanged(c) for c in (complaint, waiting_complaint, answered_complaint)] == snapshots

    assert cs.offer_expire_due(now=later + timedelta(days=13)) == 1
    assert CompensationOffer.objects.get(pk=made.pk).state == OfferState.EXPIRED
    assert list(CompensationOffer.objects.filter(complaint=answered_complaint).values_list("state", flat=True)) == [
        OfferState.ACCEPTED
    ]
    # An expired offer is no longer live: the handler may propose again.
    assert propose(waiting_complaint, handler_a, "20").state == OfferState.PROPOSED
