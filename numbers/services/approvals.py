"""The four-eyes decision on a transfer: what stops an approval, the approval (two
supervisors for a high risk) and the rejection. Every rule is checked again here, under
a row lock on the number."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audit.context import audited
from backoffice.history import require_reason, stamp_change
from backoffice.msisdn import format_msisdn
from sms.choices import SmsPurpose
from staff.selectors import has_branch_perm

from ..choices import (
    OPEN_TRANSFER_STATES,
    ConsentParty,
    HoldingEndReason,
    HoldingStartReason,
    NumberStatus,
    TransferState,
)
from ..models import MobileNumber, TransferRequest, service_write_scope
from ..selectors import cooling_off_ends, transfer_risk_flags_now
from ._requests import (
    active_lock,
    given_consents,
    locked_request,
    one_employee_vouches_for_both,
    party_subscriber,
    require_open,
)
from ._shared import (
    assert_ledger_matches,
    end_holding,
    record_decision,
    refuse_own_request,
    require_branch_perm,
    require_working,
    start_holding,
    tell_subscriber,
)


def transfer_approval_blockers(*, request: TransferRequest, actor, now: datetime | None = None) -> list[str]:
    """Every rule that stops ``actor`` approving ``request`` now; empty when it may.

    The approval service raises these; the queue shows them before anyone tries.
    """
    now = now or timezone.now()
    blockers: list[str] = []
    number = request.number
    if not has_branch_perm(actor, "supervise_branch", request.branch_id):
        blockers.append("You have no authority to approve transfers for this branch.")
    if actor.is_superuser:
        blockers.append(
            "Superuser accounts do not approve transfers: approval is a named supervisor's accountable duty."
        )
    if request.state not in OPEN_TRANSFER_STATES:
        blockers.append(f"The request is {request.get_state_display().lower()}.")
        return blockers
    if request.expires_at <= now:
        blockers.append("The request has expired.")
    if request.requested_by_id == actor.pk:
        blockers.append("You made this request: another supervisor must approve it.")
    if request.first_approved_by_id == actor.pk:
        blockers.append("You gave the first approval: a second supervisor must give the second.")
    given = given_consents(request, now)
    for party, label in ConsentParty.choices:
        consent = given.get(party)
        if consent is None:
            blockers.append(f"No standing consent from the {label.lower()} (missing, revoked or lapsed).")
            continue
        if not consent.is_standing(now):
            blockers.append(
                f"The {label.lower()}'s consent ({consent.get_method_display().lower()}) awaits a second employee's "
                "confirmation of the check."
            )
        if consent.captured_by_id == actor.pk:
            blockers.append(f"You captured the {label.lower()}'s consent: another supervisor must approve.")
        if consent.confirmed_by_id == actor.pk:
            blockers.append(f"You confirmed the {label.lower()}'s consent: another supervisor must approve.")
        if consent.subscriber_id != party_subscriber(request, party).pk:
            blockers.append(f"The {label.lower()}'s consent was given by somebody else.")
    holder = given.get(ConsentParty.CURRENT_HOLDER)
    newcomer = given.get(ConsentParty.NEW_SUBSCRIBER)
    if (
        holder
        and newcomer
        and one_employee_vouches_for_both(holder.party, holder.method, newcomer, holder.captured_by_id)
    ):
        blockers.append("One employee captured both parties' consents: one of them must be taken again by another.")
    if holder and holder.needs_confirmation:
        ends = cooling_off_ends(request)
        if ends is None:
            blockers.append("The holder was never told of this request by SMS: it cannot be approved.")
        elif ends > now:
            blockers.append(
                f"Cooling-off: the holder's consent was not the code sent to the number, so no approval before "
                f"{timezone.localtime(ends):%d %b %Y %H:%M} ({settings.TRANSFER_COOLING_OFF_HOURS} hours after the "
                "holder's SMS notice)."
            )
    if number.status != NumberStatus.ACTIVE:
        blockers.append(f"The number is {number.get_status_display().lower()}, not active.")
    if number.holder_id != request.from_holder_id:
        blockers.append("The number is no longer held by the subscriber named in the request.")
    if number.branch_id != request.branch_id:
        blockers.append("The number has moved to another branch since the request.")
    if active_lock(number) is not None:
        blockers.append("The holder has locked the number against transfers.")
    return blockers


@audited
def transfer_approve(*, request: TransferRequest, actor, reason: str) -> TransferRequest:
    """Execute a transfer in one transaction: close the old holding, open the new one
    (linked to this request), change the number's holder, record who and why.

    A request with a "high" risk flag (read fresh, under the lock) needs two
    supervisors: the first call records the first approval and leaves the request
    awaiting the second, which another supervisor gives; the returned request's
    state says which happened."""
    reason = require_reason(reason)
    now = timezone.now()
    require_working(actor)
    # The number first, then the request: the same order as transfer_create, so two
    # approvals (or an approval and a new request) queue instead of deadlocking.
    number = MobileNumber.objects.select_for_update().get(pk=request.number_id)
    request = locked_request(request)
    request.number = number
    if not has_branch_perm(actor, "supervise_branch", request.branch_id):
        raise PermissionDenied("You have no authority to approve transfers for this branch.")
    blockers = transfer_approval_blockers(request=request, actor=actor, now=now)
    if blockers:
        # Each blocker carries the code (a list loses the one given beside it): a refusal on record.
        raise ValidationError([ValidationError(blocker, code="approval_refused") for blocker in blockers])
    if request.first_approved_by_id is None:
        high = [flag for flag in transfer_risk_flags_now(transfer=request, now=now) if flag.is_high]
        if high or request.second_approval_required:
            return _record_first_approval(request, high, actor=actor, reason=reason, now=now)

    with service_write_scope():
        request.state = TransferState.EXECUTED
        request.decided_by = actor
        request.decided_at = now
        request.decision_reason = reason
        stamp_change(request, actor=actor, reason=reason)
        request.save()

        note = f"{request.reference}: {reason}"
        end_holding(number, end_reason=HoldingEndReason.TRANSFER, actor=actor, note=note, reason=reason, now=now)
        # The new holder's 90 days start now, not from the old holder's last top-up.
        start_holding(
            number,
            request.to_subscriber,
            start_reason=HoldingStartReason.TRANSFER,
            actor=actor,
            note=note,
            reason=reason,
            now=now,
            transfer_request=request,
        )
        stamp_change(number, actor=actor, reason=f"{request.reference} approved: {reason}")
        number.save()
    assert_ledger_matches(number)

    shown = format_msisdn(number.msisdn)
    # With no contact number on record the old holder is told on the number itself,
    # where the new holder may read it: the text names nobody, on purpose.
    tell_subscriber(
        request.from_holder,
        via_number=None if request.from_holder.contact_msisdn else number.msisdn,
        purpose=SmsPurpose.TRANSFER_EXECUTED,
        body=f"As you agreed, {shown} has been transferred to its new holder (ref {request.reference}).",
    )
    tell_subscriber(
        request.to_subscriber,
        via_number=number.msisdn,
        purpose=SmsPurpose.TRANSFER_EXECUTED,
        body=f"{shown} is now yours (ref {request.reference}). Keep it active with a top-up at least every 90 days.",
    )
    return request


def _record_first_approval(request: TransferRequest, high: list, *, actor, reason: str, now: datetime):
    request.second_approval_required = True
    request.first_approved_by = actor
    request.first_approved_at = now
    flagged = "; ".join(flag.short for flag in high) or "a high risk flag seen at an earlier approval"
    request.first_approval_reason = f"{reason} (second approval needed: {flagged})"
    stamp_change(request, actor=actor, reason=request.first_approval_reason)
    with service_write_scope():
        request.save()
    return request


@audited
def transfer_reject(*, request: TransferRequest, actor, reason: str) -> TransferRequest:
    """A supervisor refuses the transfer; the request stays on record with why.

    Unlike approval, a superuser may reject: stopping a transfer never harms a holder.
    """
    reason = require_reason(reason)
    now = timezone.now()
    request = locked_request(request)
    require_branch_perm(actor, ("supervise_branch",), request.branch_id, "reject transfers")
    require_open(request)
    refuse_own_request(request, actor)
    record_decision(request, state=TransferState.REJECTED, actor=actor, reason=reason, now=now)
    tell_subscriber(
        request.from_holder,
        via_number=request.number.msisdn,
        purpose=SmsPurpose.TRANSFER_REJECTED,
        body=(
            f"The request to transfer {format_msisdn(request.number.msisdn)} (ref {request.reference}) was refused. "
            "Your number stays with you."
        ),
    )
    return request
