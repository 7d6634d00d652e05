"""Emergency block and restoration: freeze a wrongly given number at once, then give
it back to its rightful holder with a supervisor's approval."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audit.context import audited
from backoffice.history import require_reason
from backoffice.msisdn import format_msisdn
from numbers.choices import HELD_STATUSES, NumberStatus
from numbers.models import MobileNumber, Subscriber
from numbers.services import number_block, number_restore, number_unblock, require_previous_holder
from sms.choices import SmsPurpose

from ..choices import EventKind, RestorationState
from ..models import Complaint, ComplaintNumber, EmergencyBlock, Restoration
from ..sla import format_duration
from ._common import (
    is_branch_supervisor,
    locked_complaint,
    record_event,
    require_four_eyes_approver,
    require_handler,
    require_handler_or_supervisor,
    require_open,
    save,
    tell_complainant,
)
from .handling import _check_number_branch, _link_number


@audited
def complaint_block_number(*, complaint: Complaint, number: MobileNumber, actor, reason: str) -> EmergencyBlock:
    """Freeze a number at once. Its open transfer requests are cancelled, and until the
    block is lifted from this complaint nothing moves it."""
    reason = require_reason(reason)
    now = timezone.now()
    current = MobileNumber.objects.select_for_update().get(pk=number.pk)
    complaint = locked_complaint(complaint)
    require_handler(actor, complaint, "block its numbers")
    require_open(complaint, "block a number")
    _check_number_branch(current, complaint.branch)
    if current.status not in HELD_STATUSES:
        raise ValidationError(
            "%(msisdn)s is %(status)s and held by nobody: only a number someone holds can be blocked.",
            params={"msisdn": current.msisdn, "status": current.get_status_display().lower()},
            code="not_held",
        )
    standing = EmergencyBlock.objects.filter(number=current, lifted_at__isnull=True).select_related("complaint").first()
    if standing is not None:
        raise ValidationError(
            "%(msisdn)s is already blocked for complaint %(ref)s.",
            params={"msisdn": current.msisdn, "ref": standing.complaint.reference},
            code="already_blocked",
        )
    if not ComplaintNumber.objects.filter(complaint=complaint, number=current).exists():
        _link_number(complaint, current, actor=actor, reason=f"Blocked from this complaint: {reason}", now=now)
    # Blocked already (from the admin, without a complaint): it was in service before that.
    status_before = NumberStatus.ACTIVE if current.status == NumberStatus.BLOCKED else current.status
    if current.status != NumberStatus.BLOCKED:
        number_block(number=current, actor=actor, reason=f"Emergency block, complaint {complaint.reference}: {reason}")
    block = EmergencyBlock(
        complaint=complaint,
        number=current,
        blocked_at=now,
        blocked_by=actor,
        reason=reason,
        status_before=status_before,
    )
    save(block, actor=actor, reason=reason)
    if complaint.first_blocked_at is None:
        complaint.first_blocked_at = now
        if complaint.block_due_at is not None and now > complaint.block_due_at:
            complaint.block_breached_at = complaint.block_due_at
        save(complaint, actor=actor, reason=reason)
    record_event(
        complaint,
        kind=EventKind.BLOCKED,
        actor=actor,
        number=current,
        text=f"{format_msisdn(current.msisdn)} blocked {format_duration(now - complaint.received_at)} after the "
        f"complaint: {reason}",
    )
    tell_complainant(
        complaint.complainant,
        f"{format_msisdn(current.msisdn)} has been blocked while we handle your complaint {complaint.reference}.",
        SmsPurpose.NUMBER_BLOCKED,
    )
    return block


def _locked_block(block: EmergencyBlock) -> EmergencyBlock:
    return EmergencyBlock.objects.select_for_update(of=("self",)).select_related("number").get(pk=block.pk)


def _lift_block(block: EmergencyBlock, *, actor, reason: str, now) -> None:
    block.lifted_at = now
    block.lifted_by = actor
    block.lift_reason = reason
    save(block, actor=actor, reason=reason)


@audited
def complaint_lift_block(*, block: EmergencyBlock, actor, reason: str) -> EmergencyBlock:
    """The complaint did not bear out (the holder is rightful): unblock, holder unchanged."""
    reason = require_reason(reason)
    now = timezone.now()
    MobileNumber.objects.select_for_update().get(pk=block.number_id)
    complaint = locked_complaint(block.complaint)
    block = _locked_block(block)
    require_handler_or_supervisor(actor, complaint, "lift its blocks")
    if block.lifted_at is not None:
        raise ValidationError("This block was already lifted.", code="already_lifted")
    if complaint.restorations.filter(number=block.number, state=RestorationState.AWAITING_APPROVAL).exists():
        raise ValidationError(
            "A restoration of this number awaits approval: decide or cancel it first.", code="restoration_pending"
        )
    _lift_block(block, actor=actor, reason=reason, now=now)
    # Back where it was: a number suspended for an unpaid bill stays suspended.
    number_unblock(
        number=block.number,
        actor=actor,
        reason=f"Block lifted, complaint {complaint.reference}: {reason}",
        to_status=block.status_before,
    )
    record_event(complaint, kind=EventKind.BLOCK_LIFTED, actor=actor, number=block.number, text=reason)
    return block


# --- Restoration -------------------------------------------------------------------------


@audited
def restoration_request(
    *, complaint: Complaint, number: MobileNumber, actor, reason: str, to_subscriber: Subscriber | None = None
) -> Restoration:
    """Ask to give a blocked number back to its rightful holder (by default the
    complainant), on this complaint's grounds. No consent is asked of the holder who
    got it wrongly; a supervisor who did not ask approves."""
    reason = require_reason(reason)
    current = MobileNumber.objects.select_for_update().get(pk=number.pk)
    complaint = locked_complaint(complaint)
    require_handler(actor, complaint, "request restorations")
    require_open(complaint, "request a restoration")
    to_subscriber = to_subscriber or complaint.complainant
    _check_restorable(complaint, current, to_subscriber)
    if Restoration.objects.filter(number=current, state=RestorationState.AWAITING_APPROVAL).exists():
        raise ValidationError(
            "%(msisdn)s already has a restoration awaiting approval.", params={"msisdn": current.msisdn}
        )
    restoration = Restoration(
        complaint=complaint,
        number=current,
        from_holder_id=current.holder_id,
        to_subscriber=to_subscriber,
        requested_by=actor,
        reason=reason,
    )
    save(restoration, actor=actor, reason=reason)
    record_event(
        complaint,
        kind=EventKind.RESTORATION_REQUESTED,
        actor=actor,
        number=current,
        text=f"{restoration.reference}: give {format_msisdn(current.msisdn)} back to {to_subscriber.full_name}. "
        f"{reason}",
    )
    return restoration


def _check_restorable(complaint: Complaint, number: MobileNumber, to_subscriber: Subscriber) -> None:
    if not EmergencyBlock.objects.filter(complaint=complaint, number=number, lifted_at__isnull=True).exists():
        raise ValidationError(
            "Block %(msisdn)s from this complaint first: a number is restored only while it is frozen.",
            params={"msisdn": number.msisdn},
            code="not_blocked",
        )
    if number.holder_id == to_subscriber.pk:
        raise ValidationError(
            "%(name)s already holds %(msisdn)s.", params={"name": to_subscriber.full_name, "msisdn": number.msisdn}
        )
    require_previous_holder(number, to_subscriber)


def _locked_restoration(restoration: Restoration) -> Restoration:
    return (
        Restoration.objects.select_for_update(of=("self",))
        .select_related("to_subscriber", "from_holder")
        .get(pk=restoration.pk)
    )


def _require_awaiting(restoration: Restoration) -> None:
    if restoration.state != RestorationState.AWAITING_APPROVAL:
        raise ValidationError(
            "Restoration %(ref)s is %(state)s: it can no longer change.",
            params={"ref": restoration.reference, "state": restoration.get_state_display().lower()},
            code="not_open",
        )


def restoration_approval_blockers(*, restoration: Restoration, actor) -> list[str]:
    """What stops ``actor`` approving now; the screen shows these before anyone tries."""
    complaint = restoration.complaint
    blockers = []
    if not is_branch_supervisor(actor, complaint):
        blockers.append("You have no authority to approve restorations for this branch.")
    if actor.is_superuser:
        blockers.append("Superuser accounts do not approve restorations: approval is a named supervisor's duty.")
    if restoration.requested_by_id == actor.pk:
        blockers.append("You asked for this restoration: another supervisor must approve it.")
    if restoration.state != RestorationState.AWAITING_APPROVAL:
        blockers.append(f"The restoration is {restoration.get_state_display().lower()}.")
    if restoration.number.holder_id != restoration.from_holder_id:
        blockers.append("The number's holder changed since the request.")
    elif restoration.state == RestorationState.AWAITING_APPROVAL:
        try:
            _check_restorable(complaint, restoration.number, restoration.to_subscriber)
        except ValidationError as exc:
            blockers.extend(exc.messages)
    return blockers


@audited
def restoration_approve(*, restoration: Restoration, actor, reason: str) -> Restoration:
    """Close the wrongful holding, open the rightful one, lift the block and unblock
    the number: one transaction, both holdings kept in the ledger."""
    reason = require_reason(reason)
    now = timezone.now()
    number = MobileNumber.objects.select_for_update().get(pk=restoration.number_id)
    complaint = locked_complaint(restoration.complaint)
    restoration = _locked_restoration(restoration)
    require_four_eyes_approver(actor, complaint, requested_by_id=restoration.requested_by_id, what="restorations")
    _require_awaiting(restoration)
    if number.holder_id != restoration.from_holder_id:
        raise ValidationError("The number's holder changed since the request; ask again.", code="holder_changed")
    _check_restorable(complaint, number, restoration.to_subscriber)

    restoration.state = RestorationState.EXECUTED
    restoration.decided_by = actor
    restoration.decided_at = now
    restoration.decision_reason = reason
    save(restoration, actor=actor, reason=reason)
    grounds = f"complaint {complaint.reference}, {restoration.reference}"
    holding = number_restore(
        number=number, to_subscriber=restoration.to_subscriber, actor=actor, reason=reason, grounds=grounds
    )
    restoration.opened_holding = holding
    save(restoration, actor=actor, reason=reason, update_fields=["opened_holding"])

    block = EmergencyBlock.objects.select_for_update().get(complaint=complaint, number=number, lifted_at__isnull=True)
    _lift_block(block, actor=actor, reason=f"Restored to the rightful holder ({restoration.reference})", now=now)
    number_unblock(number=number, actor=actor, reason=f"Restored to the rightful holder ({grounds})")
    shown = format_msisdn(number.msisdn)
    record_event(
        complaint,
        kind=EventKind.RESTORATION_APPROVED,
        actor=actor,
        number=number,
        text=f"{restoration.reference}: {shown} restored to {restoration.to_subscriber.full_name} and unblocked. "
        f"{reason}",
    )
    tell_complainant(
        restoration.to_subscriber,
        f"{shown} is yours again and working (complaint {complaint.reference}). We apologise.",
        SmsPurpose.NUMBER_BLOCKED,
    )
    tell_complainant(
        restoration.from_holder,
        f"{shown} was given back to its rightful holder after a complaint. Visit a branch for a new number.",
        SmsPurpose.NUMBER_BLOCKED,
    )
    return restoration


@audited
def restoration_reject(*, restoration: Restoration, actor, reason: str) -> Restoration:
    reason = require_reason(reason)
    # The number first, as restoration_approve does: a rejection racing an approval
    # queues behind it instead of deadlocking on the number's row.
    MobileNumber.objects.select_for_update().get(pk=restoration.number_id)
    complaint = locked_complaint(restoration.complaint)
    restoration = _locked_restoration(restoration)
    if not is_branch_supervisor(actor, complaint):
        raise PermissionDenied("You have no authority to decide restorations for this branch.")
    if restoration.requested_by_id == actor.pk:
        raise ValidationError("You asked for this restoration: cancel it instead.", code="four_eyes")
    _require_awaiting(restoration)
    restoration.state = RestorationState.REJECTED
    restoration.decided_by = actor
    restoration.decided_at = timezone.now()
    restoration.decision_reason = reason
    save(restoration, actor=actor, reason=reason)
    record_event(
        complaint,
        kind=EventKind.RESTORATION_REJECTED,
        actor=actor,
        number=restoration.number,
        text=f"{restoration.reference} rejected: {reason}",
    )
    return restoration


@audited
def restoration_cancel(*, restoration: Restoration, actor, reason: str) -> Restoration:
    """The handler withdraws the request (asked too soon, wrong subscriber)."""
    reason = require_reason(reason)
    MobileNumber.objects.select_for_update().get(pk=restoration.number_id)
    complaint = locked_complaint(restoration.complaint)
    restoration = _locked_restoration(restoration)
    require_handler(actor, complaint, "cancel restorations")
    _require_awaiting(restoration)
    restoration.state = RestorationState.CANCELLED
    # A cancellation is the handler's own step, not a four-eyes decision.
    restoration.cancelled_by = actor
    restoration.decided_at = timezone.now()
    restoration.decision_reason = reason
    save(restoration, actor=actor, reason=reason)
    record_event(
        complaint,
        kind=EventKind.RESTORATION_CANCELLED,
        actor=actor,
        number=restoration.number,
        text=f"{restoration.reference} cancelled: {reason}",
    )
    return restoration
