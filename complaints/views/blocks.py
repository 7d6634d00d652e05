"""A complaint's numbers, their emergency blocks and the restorations that lift them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_POST

from backoffice.msisdn import format_msisdn
from staff.reauth import reauth_required

from .. import selectors, services
from ..forms import AddNumberForm, ComplaintReasonForm, NumberChoiceForm
from ..sla import format_duration
from .common import (
    ADD_NUMBER,
    BLOCK,
    LIFT,
    R_APPROVE,
    R_CANCEL,
    R_REJECT,
    RESTORE,
    act_on_complaint,
    complaint_or_403,
    part_or_404,
    row_prefix,
)


@login_required
@require_POST
def complaint_add_number(request, pk: int):
    complaint = complaint_or_403(request, pk)
    form = AddNumberForm(request.POST, prefix=ADD_NUMBER, complaint=complaint)

    def perform(data):
        services.complaint_add_number(
            complaint=complaint, number=form.chosen_number, actor=request.user, reason=data["reason"]
        )
        return f"{format_msisdn(form.chosen_number.msisdn)} added to the complaint."

    return act_on_complaint(request, complaint, form, perform, what="Adding a number")


@login_required
@require_POST
def complaint_block(request, pk: int):
    complaint = complaint_or_403(request, pk)
    form = NumberChoiceForm(request.POST, prefix=BLOCK, numbers=selectors.complaint_numbers(complaint))

    def perform(data):
        block = services.complaint_block_number(
            complaint=complaint, number=form.chosen_number, actor=request.user, reason=data["reason"]
        )
        taken = format_duration(block.blocked_at - complaint.received_at)
        return f"{format_msisdn(form.chosen_number.msisdn)} blocked, {taken} after the complaint was received."

    return act_on_complaint(request, complaint, form, perform, what="Block")


@login_required
@require_POST
def complaint_lift_block(request, pk: int, block_id: int):
    complaint = complaint_or_403(request, pk)
    block = part_or_404(selectors.complaint_block(complaint=complaint, pk=block_id))
    form = ComplaintReasonForm(request.POST, prefix=row_prefix(LIFT, block.pk))

    def perform(data):
        services.complaint_lift_block(block=block, actor=request.user, reason=data["reason"])
        return f"Block on {format_msisdn(block.number.msisdn)} lifted; the holder is unchanged."

    return act_on_complaint(request, complaint, form, perform, what="Lifting the block")


@login_required
@require_POST
def restoration_request(request, pk: int):
    complaint = complaint_or_403(request, pk)
    form = NumberChoiceForm(request.POST, prefix=RESTORE, numbers=selectors.complaint_numbers(complaint))

    def perform(data):
        restoration = services.restoration_request(
            complaint=complaint, number=form.chosen_number, actor=request.user, reason=data["reason"]
        )
        return (
            f"Restoration {restoration.reference} requested: {format_msisdn(form.chosen_number.msisdn)} back to "
            f"{restoration.to_subscriber.full_name}. A supervisor who did not ask must approve it."
        )

    return act_on_complaint(request, complaint, form, perform, what="Restoration request")


def _restoration_action(request, pk: int, restoration_id: int, *, kind: str, what: str, perform):
    complaint = complaint_or_403(request, pk)
    restoration = part_or_404(selectors.complaint_restoration(complaint=complaint, pk=restoration_id))
    form = ComplaintReasonForm(request.POST, prefix=row_prefix(kind, restoration.pk))
    return act_on_complaint(request, complaint, form, lambda data: perform(restoration, data), what=what)


@login_required
@require_POST
@reauth_required
def restoration_approve(request, pk: int, restoration_id: int):
    def perform(restoration, data):
        done = services.restoration_approve(restoration=restoration, actor=request.user, reason=data["reason"])
        return (
            f"Restoration {done.reference} approved: {format_msisdn(restoration.number.msisdn)} is held by "
            f"{done.to_subscriber.full_name} again and unblocked."
        )

    return _restoration_action(request, pk, restoration_id, kind=R_APPROVE, what="Approval", perform=perform)


@login_required
@require_POST
def restoration_reject(request, pk: int, restoration_id: int):
    def perform(restoration, data):
        services.restoration_reject(restoration=restoration, actor=request.user, reason=data["reason"])
        return f"Restoration {restoration.reference} rejected."

    return _restoration_action(request, pk, restoration_id, kind=R_REJECT, what="Rejection", perform=perform)


@login_required
@require_POST
def restoration_cancel(request, pk: int, restoration_id: int):
    def perform(restoration, data):
        services.restoration_cancel(restoration=restoration, actor=request.user, reason=data["reason"])
        return f"Restoration {restoration.reference} cancelled."

    return _restoration_action(request, pk, restoration_id, kind=R_CANCEL, what="Cancellation", perform=perform)
