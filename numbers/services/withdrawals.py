"""Withdrawing a held number by hand (giving it back to its last holder is in reinstatements.py).

No employee moves a held number out of its holder's hands with a status change:
``number_transition`` refuses it for everyone. A withdrawal is a request on a ground
from a closed list (the holder's own request, confirmed by a one-time code sent to
the number; a legal or fraud order; the subscriber's death, each with its document),
told to the holder by SMS at once, and executed only by a second supervisor, under a
row lock, re-checking everything. The number then ages in quarantine, where its last
holder, and nobody else, can have it back (``number_reinstate``).

Inactivity is not a ground: it is the lifecycle job's business alone.

A little over 500 lines, on purpose: a withdrawal's whole life (asked, the holder's
code or in-person check, cancelled, approved or rejected) shares its row lock, its
open-state and blocker checks; split, each half would import the other's privates.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from audit.context import audited
from backoffice.history import require_reason, stamp_change
from backoffice.msisdn import format_msisdn
from sms.choices import SmsPurpose
from sms.services import SECRET_SLOT, sms_send
from staff.selectors import has_branch_perm

from ..choices import (
    DOCUMENT_GROUNDS,
    OPEN_TRANSFER_STATES,
    OPEN_WITHDRAWAL_STATES,
    NumberStatus,
    WithdrawalGround,
    WithdrawalState,
)
from ..codes import code_matches, new_code
from ..identity import document_matches, normalize_document_number
from ..lifecycle import policy
from ..models import (
    MobileNumber,
    TransferLock,
    TransferRequest,
    WithdrawalRequest,
    mask_document_number,
    service_write_scope,
)
from ._shared import (
    PHOTO_KINDS,
    SIGNED_FORM_SIGNATURES,
    check_upload,
    record_decision,
    refuse_own_request,
    require_branch_perm,
    require_working,
    tell_subscriber,
    upload_kind,
)
from .inventory import apply_move

# A held number may be withdrawn by hand from these states; a blocked one is frozen
# by its complaint and leaves that state only through the complaint.
WITHDRAWABLE_STATUSES: tuple[str, ...] = (NumberStatus.ACTIVE, NumberStatus.SUSPENDED)


# --- Small helpers --------------------------------------------------------------


def _locked_request(request: WithdrawalRequest) -> WithdrawalRequest:
    return WithdrawalRequest.objects.select_for_update(of=("self",)).select_related("number").get(pk=request.pk)


def _require_open(request: WithdrawalRequest) -> None:
    if request.state not in OPEN_WITHDRAWAL_STATES:
        raise ValidationError(
            "Withdrawal request %(ref)s is %(state)s: it can no longer change.",
            params={"ref": request.reference, "state": request.get_state_display().lower()},
            code="not_open",
        )


def _number_blockers(number: MobileNumber, *, holder_id: int | None = None) -> list[str]:
    """What stops a withdrawal of ``number`` now, whoever asks."""
    blockers = []
    shown = number.msisdn
    if number.status not in WITHDRAWABLE_STATUSES:
        if number.status == NumberStatus.BLOCKED:
            blockers.append(f"{shown} is blocked for a complaint: only that complaint can move it.")
        else:
            blockers.append(f"{shown} is {number.get_status_display().lower()}: only a held number is withdrawn.")
    if holder_id is not None and number.holder_id != holder_id:
        blockers.append("The number is no longer held by the subscriber named in the request.")
    if TransferLock.objects.filter(number=number, lifted_at__isnull=True).exists():
        blockers.append(
            f"{shown} is locked against transfers at its holder's request: a withdrawal is refused while the "
            "lock stands. The holder lifts it first, in person, through its own consented lift."
        )
    if TransferRequest.objects.filter(number=number, state__in=OPEN_TRANSFER_STATES).exists():
        blockers.append(f"{shown} has an open transfer request: finish or cancel it first.")
    return blockers


CODE_LABEL = "numbers.withdrawal_code"


def _notify(request: WithdrawalRequest, body: str) -> None:
    """To the number itself and to the holder's contact number."""
    tell_subscriber(request.holder, via_number=request.number.msisdn, purpose=SmsPurpose.WITHDRAWAL, body=body)


# --- Requests -------------------------------------------------------------------


@audited
def withdrawal_request(
    *, number: MobileNumber, ground: str, actor, reason: str, document: File | None = None
) -> WithdrawalRequest:
    """Ask for a held number to be withdrawn; the holder is told by SMS at once."""
    reason = require_reason(reason)
    now = timezone.now()
    current = MobileNumber.objects.select_for_update(of=("self",)).select_related("holder").get(pk=number.pk)
    require_branch_perm(actor, ("operate_branch", "supervise_branch"), current.branch_id, "request withdrawals")
    if ground not in WithdrawalGround.values:
        raise ValidationError(
            "Choose the ground of the withdrawal from the list (the holder's request, a legal or fraud order, "
            "the subscriber's death). Inactivity is handled by the lifecycle job alone.",
            code="ground",
        )
    blockers = _number_blockers(current)
    if blockers:
        raise ValidationError(blockers, code="withdrawal_refused")
    existing = WithdrawalRequest.objects.filter(number=current, state__in=OPEN_WITHDRAWAL_STATES).first()
    if existing is not None:
        raise ValidationError(
            "%(msisdn)s already has an open withdrawal request (%(ref)s).",
            params={"msisdn": current.msisdn, "ref": existing.reference},
            code="already_open",
        )
    if ground in DOCUMENT_GROUNDS:
        check_upload(document, what="document", kinds=SIGNED_FORM_SIGNATURES, described="a PDF, JPEG or PNG scan")
        # A random name: the uploader's file name may itself carry personal data.
        document.name = f"{uuid.uuid4().hex}.{upload_kind(document)}"
    elif document:
        raise ValidationError("Only an order or a death is withdrawn on a document.", code="document_not_needed")
    request = WithdrawalRequest(
        number=current,
        holder=current.holder,
        branch_id=current.branch_id,
        ground=ground,
        document=document or "",
        requested_by=actor,
        reason=reason,
        state=(
            WithdrawalState.AWAITING_CONSENT
            if ground == WithdrawalGround.HOLDER_REQUEST
            else WithdrawalState.AWAITING_APPROVAL
        ),
        created_at=now,
        holder_notified_at=now,
    )
    stamp_change(request, actor=actor, reason=reason)
    with service_write_scope():
        try:
            with transaction.atomic():
                request.save()
        except IntegrityError as exc:  # a concurrent request won the race
            raise ValidationError(
                "%(msisdn)s already has an open withdrawal request.", params={"msisdn": current.msisdn}
            ) from exc
    _notify(
        request,
        f"A request to WITHDRAW your number {format_msisdn(current.msisdn)} was made on "
        f"{timezone.localtime(now):%d %b %Y %H:%M} (ref {request.reference}, "
        f"{request.get_ground_display().split(' (')[0].lower()}). If you did not ask for this, call 1777 "
        "or visit a branch.",
    )
    return request


@audited
def withdrawal_send_code(*, request: WithdrawalRequest, actor, reason: str) -> WithdrawalRequest:
    """Send the holder a one-time code on the number itself: only whoever holds the SIM reads it."""
    reason = require_reason(reason)
    now = timezone.now()
    request = _locked_request(request)
    require_branch_perm(actor, ("operate_branch", "supervise_branch"), request.branch_id, "send withdrawal codes")
    _require_consent_pending(request)
    number = request.number
    if number.status not in WITHDRAWABLE_STATUSES or number.holder_id != request.holder_id:
        raise ValidationError(
            "%(msisdn)s is no longer held by the same holder; no code was sent.",
            params={"msisdn": number.msisdn},
            code="holder_changed",
        )
    # Budgeted per number over a day, across requests: cancelling and asking again
    # does not buy fresh guesses.
    sent_today = (
        WithdrawalRequest.objects.filter(number=number, created_at__gte=now - timedelta(days=1)).aggregate(
            sent=Sum("codes_sent")
        )["sent"]
        or 0
    )
    if max(sent_today, request.codes_sent) >= settings.TRANSFER_CODE_MAX_SENDS:
        raise ValidationError(
            "%(n)s withdrawal codes were already sent to %(msisdn)s in the last day.",
            params={"n": settings.TRANSFER_CODE_MAX_SENDS, "msisdn": number.msisdn},
            code="too_many_codes",
        )
    code, request.code_hash = new_code(CODE_LABEL)
    request.code_expires_at = now + timedelta(minutes=settings.TRANSFER_CODE_TTL_MINUTES)
    request.code_attempts = 0
    request.codes_sent += 1
    stamp_change(request, actor=actor, reason=reason)
    with service_write_scope():
        request.save()
    sms_send(
        to=number.msisdn,
        purpose=SmsPurpose.CONSENT_CODE,
        secret=code,  # the outbox keeps it masked; only the gateway call carries it
        body=(
            f"{SECRET_SLOT} is your code to AGREE to the WITHDRAWAL of your number {format_msisdn(number.msisdn)} "
            f"(ref {request.reference}): you would lose it. Valid {settings.TRANSFER_CODE_TTL_MINUTES} minutes. "
            "Only give it to staff if you want this."
        ),
    )
    return request


def _require_consent_pending(request: WithdrawalRequest) -> None:
    _require_open(request)
    if request.ground != WithdrawalGround.HOLDER_REQUEST:
        raise ValidationError(
            "Withdrawal request %(ref)s rests on its document, not on a code.",
            params={"ref": request.reference},
            code="no_code_needed",
        )
    if request.holder_consented_at is not None:
        raise ValidationError("The holder has already confirmed %(ref)s.", params={"ref": request.reference})


def _require_holder_still_holds(request: WithdrawalRequest) -> None:
    number = request.number
    if number.status not in WITHDRAWABLE_STATUSES or number.holder_id != request.holder_id:
        raise ValidationError(
            "%(msisdn)s is no longer held by the same holder.", params={"msisdn": number.msisdn}, code="holder_changed"
        )


def holder_cooling_off_ends(request: WithdrawalRequest) -> datetime | None:
    """When the holder's time to object to an in-person consent runs out (None: not one)."""
    if request.holder_check_confirmed_at is None or request.holder_notified_at is None:
        return None
    return request.holder_notified_at + timedelta(hours=settings.TRANSFER_COOLING_OFF_HOURS)


@audited
def withdrawal_record_holder_in_person(
    *,
    request: WithdrawalRequest,
    document_type: str,
    document_number: str,
    document_photo: File | None,
    actor,
    reason: str,
) -> WithdrawalRequest:
    """The holder stands at the counter without the SIM (lost or broken): the document
    shown must be the one on record, and its photo is kept as evidence only reviewers
    open. It counts only once a second employee confirms (``withdrawal_confirm_holder_check``)."""
    reason = require_reason(reason)
    now = timezone.now()
    request = _locked_request(request)
    require_branch_perm(actor, ("operate_branch", "supervise_branch"), request.branch_id, "record holder consents")
    _require_consent_pending(request)
    _require_holder_still_holds(request)
    if request.holder_checked_at is not None:
        raise ValidationError(
            "The holder's check for %(ref)s is already recorded; a second employee confirms it.",
            params={"ref": request.reference},
            code="already_checked",
        )
    shown = normalize_document_number(document_number)
    if not shown:
        raise ValidationError("Enter the number of the identity document shown.", code="document_required")
    if not document_matches(request.holder, document_type, shown):
        raise ValidationError(
            "The identity document shown does not match %(name)s's record. Nothing was recorded.",
            params={"name": request.holder.full_name},
            code="document_mismatch",
        )
    check_upload(document_photo, what="photo of the document shown", kinds=PHOTO_KINDS, described="a JPEG or PNG image")
    # A random name: the uploader's file name may itself carry personal data.
    document_photo.name = f"{uuid.uuid4().hex}.{upload_kind(document_photo, PHOTO_KINDS)}"
    request.holder_check_document_type = document_type
    request.holder_check_document_reference = mask_document_number(shown)
    request.holder_check_photo = document_photo
    request.holder_checked_by = actor
    request.holder_checked_at = now
    stamp_change(request, actor=actor, reason=reason)
    with service_write_scope():
        request.save()
    return request


@audited
def withdrawal_confirm_holder_check(*, request: WithdrawalRequest, actor, reason: str) -> WithdrawalRequest:
    """A second employee of the branch, neither the requester nor whoever captured the
    check, confirms it; the holder's consent then counts, and the holder is told by SMS.
    Approval waits ``TRANSFER_COOLING_OFF_HOURS`` after that notice."""
    reason = require_reason(reason)
    now = timezone.now()
    request = _locked_request(request)
    require_branch_perm(actor, ("operate_branch", "supervise_branch"), request.branch_id, "confirm holder consents")
    if actor.is_superuser:
        raise PermissionDenied(
            "Superuser accounts do not confirm consents: the confirmation is a named colleague's accountable duty."
        )
    _require_consent_pending(request)
    _require_holder_still_holds(request)
    if request.holder_checked_at is None or not request.holder_check_photo:
        raise ValidationError(
            "No in-person check of the holder, with the photo of the document shown, is recorded for %(ref)s.",
            params={"ref": request.reference},
            code="no_check",
        )
    if actor.pk == request.holder_checked_by_id:
        raise ValidationError(
            "You recorded this check: another employee of the branch must confirm it.", code="confirm_own"
        )
    if actor.pk == request.requested_by_id:
        raise ValidationError(
            "You made this request: another employee of the branch must confirm the holder's check.",
            code="confirm_own_request",
        )
    request.holder_check_confirmed_by = actor
    request.holder_check_confirmed_at = now
    request.holder_consented_at = now
    # The cooling-off runs from the notice of this consent, sent below.
    request.holder_notified_at = now
    request.state = WithdrawalState.AWAITING_APPROVAL
    stamp_change(request, actor=actor, reason=reason)
    with service_write_scope():
        request.save()
    ends = holder_cooling_off_ends(request)
    _notify(
        request,
        f"Your consent to WITHDRAW your number {format_msisdn(request.number.msisdn)} (ref {request.reference}) was "
        f"recorded at a branch in person. It cannot be approved before {timezone.localtime(ends):%d %b %Y %H:%M}. "
        "If this was not you, call 1777 or visit a branch.",
    )
    return request


def withdrawal_confirm_code(*, request: WithdrawalRequest, code: str, actor, reason: str) -> WithdrawalRequest:
    """Check the code the holder read back. A wrong try is counted even though the
    call fails, so this is deliberately not one transaction around the refusal."""
    reason = require_reason(reason)
    outcome = _withdrawal_code_check(request=request, code=(code or "").strip(), actor=actor, reason=reason)
    if isinstance(outcome, ValidationError):
        raise outcome
    return outcome


@audited
def _withdrawal_code_check(*, request: WithdrawalRequest, code: str, actor, reason: str):
    now = timezone.now()
    request = _locked_request(request)
    require_branch_perm(actor, ("operate_branch", "supervise_branch"), request.branch_id, "confirm withdrawal codes")
    _require_consent_pending(request)
    if not request.code_hash:
        raise ValidationError("No code is waiting for %(ref)s; send one first.", params={"ref": request.reference})
    if request.code_attempts >= settings.TRANSFER_CODE_MAX_ATTEMPTS:
        raise ValidationError("This code is locked after too many wrong tries; send a new one.", code="code_locked")
    if request.code_expires_at <= now:
        raise ValidationError("This code has expired; send a new one.", code="code_expired")
    if not code_matches(CODE_LABEL, code, request.code_hash):
        request.code_attempts += 1
        stamp_change(request, actor=actor, reason=f"Wrong withdrawal code: {reason}")
        with service_write_scope():
            request.save(update_fields=["code_attempts"])
        left = settings.TRANSFER_CODE_MAX_ATTEMPTS - request.code_attempts
        if left <= 0:
            return ValidationError("Wrong code. The code is now locked; send a new one.", code="code_locked")
        return ValidationError("Wrong code. %(left)s tries left.", params={"left": left}, code="wrong_code")
    if request.number.status not in WITHDRAWABLE_STATUSES or request.number.holder_id != request.holder_id:
        raise ValidationError("The number is no longer held by the same holder.", code="holder_changed")
    request.holder_consented_at = now
    request.code_hash = ""  # used: nothing left to match
    request.state = WithdrawalState.AWAITING_APPROVAL
    stamp_change(request, actor=actor, reason=reason)
    with service_write_scope():
        request.save()
    return request


@audited
def withdrawal_cancel(*, request: WithdrawalRequest, actor, reason: str) -> WithdrawalRequest:
    """Drop an open request (the holder changed their mind, the order was revoked)."""
    reason = require_reason(reason)
    now = timezone.now()
    request = _locked_request(request)
    require_branch_perm(actor, ("operate_branch", "supervise_branch"), request.branch_id, "cancel withdrawals")
    _require_open(request)
    request.state = WithdrawalState.CANCELLED
    request.closed_by = actor
    request.closed_at = now
    request.close_reason = reason
    stamp_change(request, actor=actor, reason=reason)
    with service_write_scope():
        request.save()
    _notify(
        request,
        f"The request to withdraw {format_msisdn(request.number.msisdn)} (ref {request.reference}) is cancelled. "
        "Your number stays with you.",
    )
    return request


# --- The four-eyes decision -----------------------------------------------------


def withdrawal_approval_blockers(*, request: WithdrawalRequest, actor, now: datetime | None = None) -> list[str]:
    """Every rule that stops ``actor`` approving ``request`` now; empty when it may.

    The approval service raises these; the decision page shows them before anyone tries.
    """
    now = now or timezone.now()
    blockers: list[str] = []
    if not has_branch_perm(actor, "supervise_branch", request.branch_id):
        blockers.append("You have no authority to approve withdrawals for this branch.")
    if actor.is_superuser:
        blockers.append(
            "Superuser accounts do not approve withdrawals: approval is a named supervisor's accountable duty."
        )
    if request.state not in OPEN_WITHDRAWAL_STATES:
        blockers.append(f"The request is {request.get_state_display().lower()}.")
        return blockers
    if request.requested_by_id == actor.pk:
        blockers.append("You made this request: another supervisor must approve it.")
    if request.ground == WithdrawalGround.HOLDER_REQUEST and request.holder_consented_at is None:
        blockers.append(
            "The holder has not confirmed the request, by the code sent to the number or in person with a second "
            "employee's confirmation."
        )
    ends = holder_cooling_off_ends(request)
    if ends is not None and now < ends:
        blockers.append(
            f"The holder consented in person, not by code to the number: the request cannot be approved before "
            f"{timezone.localtime(ends):%d %b %Y %H:%M} ({settings.TRANSFER_COOLING_OFF_HOURS} hours after the "
            "holder's notice)."
        )
    if request.ground in DOCUMENT_GROUNDS and not request.document:
        blockers.append("The order or evidence is not attached.")
    number = request.number
    if number.branch_id != request.branch_id:
        blockers.append("The number has moved to another branch since the request.")
    blockers += _number_blockers(number, holder_id=request.holder_id)
    return blockers


@audited
def withdrawal_approve(*, request: WithdrawalRequest, actor, reason: str) -> WithdrawalRequest:
    """Withdraw the number in one transaction: close the holding, put the number in
    quarantine (withdrawn, then aging, as the lifecycle job does) and tell the holder."""
    reason = require_reason(reason)
    now = timezone.now()
    require_working(actor)
    # The number first, then the request: the same order as withdrawal_request.
    number = MobileNumber.objects.select_for_update().get(pk=request.number_id)
    request = _locked_request(request)
    request.number = number
    if not has_branch_perm(actor, "supervise_branch", request.branch_id):
        raise PermissionDenied("You have no authority to approve withdrawals for this branch.")
    blockers = withdrawal_approval_blockers(request=request, actor=actor, now=now)
    if blockers:
        raise ValidationError(blockers, code="approval_refused")
    record_decision(request, state=WithdrawalState.EXECUTED, actor=actor, reason=reason, now=now)
    note = f"{request.reference} ({request.get_ground_display().split(' (')[0].lower()}) approved: {reason}"
    apply_move(number, to_status=NumberStatus.WITHDRAWN, actor=actor, reason=note, now=now)
    days = policy().quarantine_days
    until = timezone.localdate(now) + timedelta(days=days)
    apply_move(
        number,
        to_status=NumberStatus.AGING,
        actor=actor,
        reason=f"Quarantine after {request.reference}: the number ages for {days} days, until {until:%d %b %Y}.",
        now=now,
    )
    _notify(
        request,
        f"Your number {format_msisdn(number.msisdn)} was withdrawn (ref {request.reference}). It goes to nobody "
        f"else before {until:%d %b %Y}. Not you? Call 1777 or visit a branch.",
    )
    return request


@audited
def withdrawal_reject(*, request: WithdrawalRequest, actor, reason: str) -> WithdrawalRequest:
    """A second supervisor refuses; the request stays on record with why.

    Unlike approval, a superuser may reject: stopping a withdrawal never harms a holder.
    """
    reason = require_reason(reason)
    now = timezone.now()
    request = _locked_request(request)
    require_branch_perm(actor, ("supervise_branch",), request.branch_id, "reject withdrawals")
    _require_open(request)
    refuse_own_request(request, actor)
    record_decision(request, state=WithdrawalState.REJECTED, actor=actor, reason=reason, now=now)
    _notify(
        request,
        f"The request to withdraw {format_msisdn(request.number.msisdn)} (ref {request.reference}) was refused. "
        "Your number stays with you.",
    )
    return request
