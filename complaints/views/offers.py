"""Compensation offers: proposed, approved by a second person, made, answered, withdrawn."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_POST

from staff.reauth import reauth_required

from .. import selectors, services
from ..choices import OfferState
from ..forms import ComplaintReasonForm, OfferMakeForm, OfferProposeForm, OfferResponseForm
from .common import (
    O_APPROVE,
    O_MAKE,
    O_REFUSE,
    O_RESPOND,
    O_WITHDRAW,
    PROPOSE,
    act_on_complaint,
    complaint_or_403,
    part_or_404,
    row_prefix,
)


@login_required
@require_POST
def offer_propose(request, pk: int):
    complaint = complaint_or_403(request, pk)
    form = OfferProposeForm(request.POST, prefix=PROPOSE)

    def perform(data):
        offer = services.offer_propose(
            complaint=complaint,
            kind=data["kind"],
            amount=data["amount"],
            currency=data["currency"],
            description=data["description"],
            valid_days=data["valid_days"],
            actor=request.user,
            reason=data["reason"],
        )
        if offer.state == OfferState.AWAITING_APPROVAL:
            return f"Offer of {offer.amount_display} proposed; it is above your limit and awaits a supervisor."
        return f"Offer of {offer.amount_display} proposed; make it to the customer next."

    return act_on_complaint(request, complaint, form, perform, what="Offer")


def _offer_action(request, pk: int, offer_id: int, *, kind: str, form_class, what: str, perform):
    complaint = complaint_or_403(request, pk)
    offer = part_or_404(selectors.complaint_offer(complaint=complaint, pk=offer_id))
    form = form_class(request.POST, prefix=row_prefix(kind, offer.pk))
    return act_on_complaint(request, complaint, form, lambda data: perform(offer, data), what=what)


@login_required
@require_POST
@reauth_required
def offer_approve(request, pk: int, offer_id: int):
    def perform(offer, data):
        services.offer_approve(offer=offer, actor=request.user, reason=data["reason"])
        return f"Offer of {offer.amount_display} approved; the handler may now make it."

    return _offer_action(
        request, pk, offer_id, kind=O_APPROVE, form_class=ComplaintReasonForm, what="Approval", perform=perform
    )


@login_required
@require_POST
def offer_refuse(request, pk: int, offer_id: int):
    def perform(offer, data):
        services.offer_refuse(offer=offer, actor=request.user, reason=data["reason"])
        return f"Offer of {offer.amount_display} refused: it is withdrawn."

    return _offer_action(
        request, pk, offer_id, kind=O_REFUSE, form_class=ComplaintReasonForm, what="Refusal", perform=perform
    )


@login_required
@require_POST
def offer_make(request, pk: int, offer_id: int):
    def perform(offer, data):
        done = services.offer_make(offer=offer, channel=data["channel"], actor=request.user, reason=data["reason"])
        return f"Offer of {done.amount_display} made to the customer; record their answer when it comes."

    return _offer_action(
        request, pk, offer_id, kind=O_MAKE, form_class=OfferMakeForm, what="Making the offer", perform=perform
    )


@login_required
@require_POST
def offer_respond(request, pk: int, offer_id: int):
    def perform(offer, data):
        done = services.offer_record_response(
            offer=offer,
            accepted=data["answer"] == "accepted",
            channel=data["channel"],
            responded_at=data["responded_at"],
            actor=request.user,
            reason=data["reason"],
        )
        return f"Offer of {done.amount_display} {done.get_state_display().lower()} by the customer."

    return _offer_action(
        request, pk, offer_id, kind=O_RESPOND, form_class=OfferResponseForm, what="Customer's answer", perform=perform
    )


@login_required
@require_POST
def offer_withdraw(request, pk: int, offer_id: int):
    def perform(offer, data):
        services.offer_withdraw(offer=offer, actor=request.user, reason=data["reason"])
        return f"Offer of {offer.amount_display} withdrawn."

    return _offer_action(
        request, pk, offer_id, kind=O_WITHDRAW, form_class=ComplaintReasonForm, what="Withdrawal", perform=perform
    )
