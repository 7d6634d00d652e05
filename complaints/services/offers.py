"""Compensation offers: proposed by the handler, approved by a supervisor above the
handler's limit, made to the customer, and accepted, declined, withdrawn or expired.
Every offer stays on record; a declined one can be followed by another."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Sum
from django.utils import timezone

from audit.context import audited, audited_transaction
from backoffice.history import require_reason

from ..choices import LIVE_OFFER_STATES, EventKind, OfferKind, OfferState, ResponseChannel
from ..models import CompensationOffer, Complaint
from ..money import format_money, parse_amount, require_within_maximum
from ._common import (
    is_branch_supervisor,
    local,
    locked_complaint,
    record_event,
    require_four_eyes_approver,
    require_handler,
    require_open,
    save,
)


def offer_limit(currency: str) -> Decimal:
    """What a handler may offer on one complaint without approval, in ``currency``."""
    try:
        return Decimal(settings.COMPLAINTS_OFFER_LIMITS[currency])
    except KeyError:
        return Decimal(0)  # no limit configured: every offer in that currency is approved


def _accepted_total(complaint: Complaint, currency: str) -> Decimal:
    total = complaint.offers.filter(state=OfferState.ACCEPTED, currency=currency).aggregate(total=Sum("amount"))
    return total["total"] or Decimal(0)


def _locked_offer(offer: CompensationOffer) -> CompensationOffer:
    return CompensationOffer.objects.select_for_update(of=("self",)).get(pk=offer.pk)


def _require_state(offer: CompensationOffer, *states: str, what: str) -> None:
    if offer.state not in states:
        raise ValidationError(
            "This offer is %(state)s: it cannot be %(what)s.",
            params={"state": offer.get_state_display().lower(), "what": what},
            code="offer_state",
        )


def _require_valid(offer: CompensationOffer, now: datetime) -> None:
    if offer.valid_until <= now:
        raise ValidationError(
            "This offer was valid until %(when)s; propose a new one.",
            params={"when": local(offer.valid_until)},
            code="offer_expired",
        )


def _event(offer: CompensationOffer, complaint: Complaint, *, actor, text: str) -> None:
    record_event(
        complaint, kind=EventKind.OFFER, actor=actor, text=f"Offer #{offer.pk} ({offer.amount_display}): {text}"
    )


@audited
def offer_propose(
    *,
    complaint: Complaint,
    kind: str,
    amount,
    currency: str,
    actor,
    reason: str,
    description: str = "",
    valid_days: int | None = None,
) -> CompensationOffer:
    """Up to the handler's limit (this offer plus what the customer already accepted on
    this complaint, per currency) it can be made at once; above it a supervisor approves.
    Nothing above the currency's maximum (COMPLAINTS_OFFER_MAXIMUMS) is proposed at all."""
    reason = require_reason(reason)
    now = timezone.now()
    complaint = locked_complaint(complaint)
    require_handler(actor, complaint, "propose offers")
    require_open(complaint, "propose an offer")
    if kind not in OfferKind.values:
        raise ValidationError("Choose what kind of compensation this is.", code="kind")
    amount = parse_amount(amount, currency)
    require_within_maximum(amount, currency)
    valid_days = settings.COMPLAINTS_OFFER_VALID_DAYS if valid_days is None else valid_days
    if not 1 <= valid_days <= 90:
        raise ValidationError("An offer stays valid between 1 and 90 days.", code="valid_days")
    live = complaint.offers.filter(state__in=LIVE_OFFER_STATES).first()
    if live is not None:
        raise ValidationError(
            "Offer #%(pk)s is still %(state)s: record the customer's answer or withdraw it first.",
            params={"pk": live.pk, "state": live.get_state_display().lower()},
            code="offer_live",
        )
    limit = offer_limit(currency)
    needs_approval = amount + _accepted_total(complaint, currency) > limit
    offer = CompensationOffer(
        complaint=complaint,
        kind=kind,
        amount=amount,
        currency=currency,
        description=(description or "").strip(),
        state=OfferState.AWAITING_APPROVAL if needs_approval else OfferState.PROPOSED,
        proposed_by=actor,
        proposed_at=now,
        proposal_reason=reason,
        valid_until=now + timedelta(days=valid_days),
        needs_approval=needs_approval,
    )
    save(offer, actor=actor, reason=reason)
    above = f"; above the handler's limit of {format_money(limit, currency)}, awaits approval" if needs_approval else ""
    _event(offer, complaint, actor=actor, text=f"{offer.get_kind_display()} proposed{above}. {reason}")
    return offer


@audited
def offer_approve(*, offer: CompensationOffer, actor, reason: str) -> CompensationOffer:
    reason = require_reason(reason)
    now = timezone.now()
    complaint = locked_complaint(offer.complaint)
    offer = _locked_offer(offer)
    require_four_eyes_approver(actor, complaint, requested_by_id=offer.proposed_by_id, what="offers")
    _require_state(offer, OfferState.AWAITING_APPROVAL, what="approved")
    _require_valid(offer, now)
    offer.state = OfferState.PROPOSED
    offer.approved_by = actor
    offer.approved_at = now
    offer.approval_reason = reason
    save(offer, actor=actor, reason=reason)
    _event(offer, complaint, actor=actor, text=f"approved. {reason}")
    return offer


@audited
def offer_refuse(*, offer: CompensationOffer, actor, reason: str) -> CompensationOffer:
    """A supervisor refuses to approve: the offer is withdrawn with why."""
    reason = require_reason(reason)
    complaint = locked_complaint(offer.complaint)
    offer = _locked_offer(offer)
    if not is_branch_supervisor(actor, complaint):
        raise PermissionDenied("You have no authority to decide offers for this branch.")
    if offer.proposed_by_id == actor.pk:
        raise ValidationError("You proposed this offer: withdraw it instead.", code="four_eyes")
    _require_state(offer, OfferState.AWAITING_APPROVAL, what="refused")
    _close(offer, state=OfferState.WITHDRAWN, actor=actor, reason=f"Approval refused: {reason}", now=timezone.now())
    _event(offer, complaint, actor=actor, text=f"approval refused. {reason}")
    return offer


@audited
def offer_make(*, offer: CompensationOffer, channel: str, actor, reason: str) -> CompensationOffer:
    """Put the offer to the customer (in person, by phone, in writing)."""
    reason = require_reason(reason)
    now = timezone.now()
    complaint = locked_complaint(offer.complaint)
    offer = _locked_offer(offer)
    require_handler(actor, complaint, "make offers")
    _require_state(offer, OfferState.PROPOSED, what="made to the customer")
    _require_valid(offer, now)
    if channel not in ResponseChannel.values:
        raise ValidationError("Choose how the offer was made to the customer.", code="channel")
    offer.state = OfferState.OFFERED
    offer.offered_by = actor
    offer.offered_at = now
    offer.offered_channel = channel
    save(offer, actor=actor, reason=reason)
    _event(
        offer,
        complaint,
        actor=actor,
        text=f"offered to the customer ({offer.get_offered_channel_display().lower()}), valid until "
        f"{local(offer.valid_until)}. {reason}",
    )
    return offer


@audited
def offer_record_response(
    *,
    offer: CompensationOffer,
    accepted: bool,
    channel: str,
    actor,
    reason: str,
    responded_at: datetime | None = None,
) -> CompensationOffer:
    """The customer's answer, with when and how it came; ``reason`` is what they said."""
    reason = require_reason(reason)
    now = timezone.now()
    complaint = locked_complaint(offer.complaint)
    offer = _locked_offer(offer)
    require_handler(actor, complaint, "record answers to offers")
    _require_state(offer, OfferState.OFFERED, what="answered")
    if channel not in ResponseChannel.values:
        raise ValidationError("Choose how the customer answered.", code="channel")
    responded_at = responded_at or now
    if responded_at > now or responded_at < offer.offered_at:
        raise ValidationError(
            "The answer's date must be between the offer (%(offered)s) and now.",
            params={"offered": local(offer.offered_at)},
            code="responded_at",
        )
    if accepted and responded_at > offer.valid_until:
        raise ValidationError("The offer had expired when the customer answered.", code="offer_expired")
    offer.state = OfferState.ACCEPTED if accepted else OfferState.DECLINED
    offer.responded_at = responded_at
    offer.response_channel = channel
    offer.response_note = reason
    offer.response_recorded_by = actor
    save(offer, actor=actor, reason=reason)
    _event(
        offer,
        complaint,
        actor=actor,
        text=f"{offer.get_state_display().lower()} by the customer on {local(responded_at)} "
        f"({offer.get_response_channel_display().lower()}): {reason}",
    )
    return offer


@audited
def offer_withdraw(*, offer: CompensationOffer, actor, reason: str) -> CompensationOffer:
    reason = require_reason(reason)
    complaint = locked_complaint(offer.complaint)
    offer = _locked_offer(offer)
    require_handler(actor, complaint, "withdraw offers")
    _require_state(offer, *LIVE_OFFER_STATES, what="withdrawn")
    _close(offer, state=OfferState.WITHDRAWN, actor=actor, reason=reason, now=timezone.now())
    _event(offer, complaint, actor=actor, text=f"withdrawn. {reason}")
    return offer


def _close(offer: CompensationOffer, *, state: str, actor, reason: str, now: datetime) -> None:
    offer.state = state
    offer.closed_at = now
    offer.closed_by = actor
    offer.close_reason = reason
    save(offer, actor=actor, reason=reason)


def offer_expire_due(*, now: datetime | None = None, batch: int = 1000) -> int:
    """Offers past their validity with no answer expire; run by the expiry job."""
    now = now or timezone.now()
    done = 0
    due = CompensationOffer.objects.filter(state__in=LIVE_OFFER_STATES, valid_until__lte=now)
    for pk, complaint_id in list(due.values_list("pk", "complaint_id")[:batch]):
        with audited_transaction(reason="The offer was not answered in time."):
            # The complaint first, as every offer service locks it: an answer being
            # recorded right now is skipped (the next run sees it) instead of deadlocking.
            complaint = (
                Complaint.objects.select_for_update(skip_locked=True, of=("self",)).filter(pk=complaint_id).first()
            )
            if complaint is None:
                continue
            offer = (
                CompensationOffer.objects.select_for_update(of=("self",))
                .filter(pk=pk, state__in=LIVE_OFFER_STATES, valid_until__lte=now)
                .first()
            )
            if offer is None:
                continue
            text = f"Expired: no answer by {local(offer.valid_until)}."
            _close(offer, state=OfferState.EXPIRED, actor=None, reason=text, now=now)
            _event(offer, complaint, actor=None, text=text)
            done += 1
    return done
