"""The dual-consent transfer: the only way an active number changes holder.

A request names the number, its current holder and the new subscriber. Each of
the two parties consents (identity document checked in person, a one-time code
sent to the number itself, or a signed form), and a supervisor with authority
over the branch, who neither asked nor captured a consent, approves it. Every
rule is checked again at approval, under a row lock on the number: what was true
when the request was made may not be true any more (Fineract's lesson).

The holder's consent must come from a factor staff cannot produce alone. The
default is the one-time code sent to the number itself. In person (SIM lost or
broken) or by signed form, staff hold every piece of the evidence (the document
number is on the holder's record), so such a consent counts only once a second
employee of the branch, neither the requester nor the capturer, confirmed the
check (with a photo of the document shown, for in person), and the request is
not approved before the cooling-off after the holder's SMS notice has run.
A request with a "high" risk flag needs two supervisors.

Here: the requests and the one-time code consents; the other consents, the approval
and the locks are in consents.py, approvals.py and locks.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from audit.context import audited, audited_transaction
from backoffice.history import require_reason, stamp_change
from backoffice.msisdn import format_msisdn
from sms.choices import SmsPurpose
from sms.services import SECRET_SLOT, sms_send

from ..choices import OPEN_TRANSFER_STATES, ConsentMethod, ConsentParty, NumberStatus, TransferState
from ..codes import code_matches, new_code
from ..models import ConsentCode, MobileNumber, Subscriber, TransferConsent, TransferRequest, service_write_scope
from ._requests import (
    active_lock,
    check_consent_capture,
    close_request,
    consent_lapses_at,
    locked_request,
    require_open,
    save_consent,
    sync_state,
)
from ._shared import require_branch_perm, tell_subscriber


@audited
def transfer_create(
    *, number: MobileNumber, new_subscriber: Subscriber, actor, reason: str, expires_in_days: int | None = None
) -> TransferRequest:
    """Open a transfer request and tell the current holder at once, so an unwanted
    request can be stopped before anyone approves it."""
    reason = require_reason(reason)
    now = timezone.now()
    current = MobileNumber.objects.select_for_update(of=("self",)).select_related("holder").get(pk=number.pk)
    require_branch_perm(actor, ("operate_branch",), current.branch_id, "request transfers")
    if current.status != NumberStatus.ACTIVE:
        raise ValidationError(
            "%(msisdn)s is %(status)s: only an active number can be transferred.",
            params={"msisdn": current.msisdn, "status": current.get_status_display().lower()},
            code="not_active",
        )
    if current.holder_id == new_subscriber.pk:
        raise ValidationError(
            "%(name)s already holds %(msisdn)s.",
            params={"name": new_subscriber.full_name, "msisdn": current.msisdn},
            code="same_holder",
        )
    if active_lock(current) is not None:
        raise ValidationError(
            "%(msisdn)s is locked against transfers at its holder's request. The holder must lift "
            "the lock in person before a transfer can be requested.",
            params={"msisdn": current.msisdn},
            code="transfer_locked",
        )
    existing = TransferRequest.objects.filter(number=current, state__in=OPEN_TRANSFER_STATES).first()
    if existing is not None:
        raise ValidationError(
            "%(msisdn)s already has an open transfer request (%(ref)s); finish or cancel it first.",
            params={"msisdn": current.msisdn, "ref": existing.reference},
            code="already_open",
        )
    days = expires_in_days if expires_in_days is not None else settings.TRANSFER_REQUEST_EXPIRY_DAYS
    if days < 1:
        raise ValidationError("A transfer request stays open at least one day.", code="expiry")
    request = TransferRequest(
        number=current,
        from_holder=current.holder,
        to_subscriber=new_subscriber,
        branch_id=current.branch_id,
        requested_by=actor,
        reason=reason,
        created_at=now,
        expires_at=now + timedelta(days=days),
        holder_notified_at=now,
    )
    stamp_change(request, actor=actor, reason=reason)
    with service_write_scope():
        try:
            with transaction.atomic():
                request.save()
        except IntegrityError as exc:  # a concurrent request won the race
            raise ValidationError(
                "%(msisdn)s already has an open transfer request.", params={"msisdn": current.msisdn}
            ) from exc
    tell_subscriber(
        current.holder,
        via_number=current.msisdn,
        purpose=SmsPurpose.TRANSFER_REQUESTED,
        body=(
            f"A request to transfer your number {format_msisdn(current.msisdn)} to another person was made "
            f"on {timezone.localtime(now):%d %b %Y %H:%M} (ref {request.reference}). It cannot go ahead without "
            f"your consent. If you did not ask for this, reply NO {request.reference} to stop this, "
            "or call 1777."
        ),
    )
    return request


@audited
def transfer_cancel(*, request: TransferRequest, actor, reason: str) -> TransferRequest:
    """Withdraw an open request (the requester changed their mind, a party refused)."""
    reason = require_reason(reason)
    now = timezone.now()
    request = locked_request(request)
    require_branch_perm(actor, ("operate_branch", "supervise_branch"), request.branch_id, "cancel transfers")
    require_open(request)
    close_request(request, state=TransferState.CANCELLED, actor=actor, reason=reason, now=now)
    return request


# The jobs take at most this many requests a run; the next run takes the rest.
SWEEP_BATCH = 1000


def _sweep(candidates: Q, action: Callable[[TransferRequest], None]) -> int:
    """Run ``action`` on each request matching ``candidates``, each in its own
    transaction under a row lock; the match is checked again once locked, and a
    row another worker holds is left for the next run."""
    done = 0
    for pk in list(TransferRequest.objects.filter(candidates).values_list("pk", flat=True)[:SWEEP_BATCH]):
        with audited_transaction(reason="The transfer request ran out of time."):
            request = (
                TransferRequest.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("number", "from_holder")
                .filter(candidates, pk=pk)
                .first()
            )
            if request is not None:
                action(request)
                done += 1
    return done


def transfer_expire_due(*, now: datetime | None = None) -> int:
    """Close the open requests whose time ran out, and send back to consent those
    whose consent lapsed; run by the expiry job. Returns how many expired."""
    now = now or timezone.now()

    def expire(request: TransferRequest) -> None:
        reason = f"Expired: not approved by {timezone.localtime(request.expires_at):%d %b %Y %H:%M}."
        close_request(request, state=TransferState.EXPIRED, actor=None, reason=reason, now=now)

    def back_to_consent(request: TransferRequest) -> None:
        # The approval queue's state column must not promise an approval that would be refused.
        with service_write_scope():
            sync_state(request, actor=None, reason="A consent lapsed; consent is needed again.", now=now)

    expired = _sweep(Q(state__in=OPEN_TRANSFER_STATES, expires_at__lte=now), expire)
    lapsed = TransferConsent.objects.lapsed(now).values("request_id")
    _sweep(Q(state=TransferState.AWAITING_APPROVAL, pk__in=lapsed), back_to_consent)
    return expired


def close_open_transfers(*, number: MobileNumber, actor, reason: str, now: datetime, withdrawn: bool) -> None:
    """A number leaving service or blocked for a complaint cancels its open requests.
    The holder's transfer lock stays: only its own consented lift ends it (a locked
    number is never withdrawn, and a database trigger refuses it)."""
    with service_write_scope():
        for request in TransferRequest.objects.select_for_update().filter(
            number=number, state__in=OPEN_TRANSFER_STATES
        ):
            request.number = number
            # No "your number stays with you" here: the withdrawal or block has its own notice.
            close_request(
                request,
                state=TransferState.CANCELLED,
                actor=actor,
                reason=f"Number {'withdrawn' if withdrawn else 'blocked'}: {reason}",
                now=now,
                notify=False,
            )


CODE_LABEL = "numbers.consent_code"


def _codes_sent_today(msisdn: str, now: datetime):
    """The codes sent to a number this calendar day (local time), whatever the request."""
    start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    return ConsentCode.objects.filter(sent_to=msisdn, created_at__gte=start, created_at__lt=start + timedelta(days=1))


def _check_number_code_budget(msisdn: str, now: datetime, *, sending: bool) -> None:
    """Sends and wrong tries are budgeted per number per day, not only per request:
    cancelling a request and making a new one gives no fresh guesses. A wrong try
    counts on the day its code was sent."""
    today = _codes_sent_today(msisdn, now)
    if sending and today.count() >= settings.TRANSFER_CODE_SENDS_PER_NUMBER_DAY:
        raise ValidationError(
            "%(n)s codes were already sent to %(msisdn)s today. Take consent in person or try tomorrow.",
            params={"n": settings.TRANSFER_CODE_SENDS_PER_NUMBER_DAY, "msisdn": format_msisdn(msisdn)},
            code="number_sends_today",
        )
    if (today.aggregate(wrong=Sum("attempts"))["wrong"] or 0) >= settings.TRANSFER_CODE_FAILURES_PER_NUMBER_DAY:
        raise ValidationError(
            "Too many wrong codes were tried for %(msisdn)s today. Take consent in person or try tomorrow.",
            params={"msisdn": format_msisdn(msisdn)},
            code="number_failures_today",
        )


@audited
def consent_code_send(*, request: TransferRequest, actor, reason: str) -> ConsentCode:
    """Send a one-time code to the number itself: only whoever holds the SIM can read it."""
    reason = require_reason(reason)
    now = timezone.now()
    request = locked_request(request)
    check_consent_capture(request, ConsentParty.CURRENT_HOLDER, actor, now, method=ConsentMethod.SMS_CODE)
    number = request.number
    if number.status != NumberStatus.ACTIVE or number.holder_id != request.from_holder_id:
        raise ValidationError(
            "%(msisdn)s is no longer active with the same holder; no code was sent.",
            params={"msisdn": number.msisdn},
            code="holder_changed",
        )
    if ConsentCode.objects.filter(request=request).count() >= settings.TRANSFER_CODE_MAX_SENDS:
        raise ValidationError(
            "%(n)s codes were already sent for %(ref)s. Take consent in person instead.",
            params={"n": settings.TRANSFER_CODE_MAX_SENDS, "ref": request.reference},
            code="too_many_codes",
        )
    _check_number_code_budget(number.msisdn, now, sending=True)
    code, code_hash = new_code(CODE_LABEL)
    with service_write_scope():
        for live in ConsentCode.objects.filter(request=request, used_at__isnull=True, superseded_at__isnull=True):
            live.superseded_at = now
            stamp_change(live, actor=actor, reason="A new code replaces this one.")
            live.save(update_fields=["superseded_at"])
        challenge = ConsentCode(
            request=request,
            sent_to=number.msisdn,
            code_hash=code_hash,
            sent_by=actor,
            created_at=now,
            expires_at=now + timedelta(minutes=settings.TRANSFER_CODE_TTL_MINUTES),
        )
        challenge.save()
    sms_send(
        to=number.msisdn,
        purpose=SmsPurpose.CONSENT_CODE,
        secret=code,  # the outbox keeps it masked; only the gateway call carries it
        body=(
            f"{SECRET_SLOT} is your code to AGREE to transfer {format_msisdn(number.msisdn)} to another person "
            f"(ref {request.reference}). Valid {settings.TRANSFER_CODE_TTL_MINUTES} minutes. "
            "Only give it to staff if you want this transfer."
        ),
    )
    return challenge


def consent_code_verify(*, request: TransferRequest, code: str, actor, reason: str) -> TransferConsent:
    """Check the code the holder read back. A wrong try is counted even though the
    call fails, so this is deliberately not one transaction around the refusal."""
    reason = require_reason(reason)
    outcome = _consent_code_check(request=request, code=(code or "").strip(), actor=actor, reason=reason)
    if isinstance(outcome, ValidationError):
        raise outcome
    return outcome


@audited
def _consent_code_check(*, request: TransferRequest, code: str, actor, reason: str):
    now = timezone.now()
    request = locked_request(request)
    check_consent_capture(request, ConsentParty.CURRENT_HOLDER, actor, now, method=ConsentMethod.SMS_CODE)
    challenge = (
        ConsentCode.objects.select_for_update()
        .filter(request=request, used_at__isnull=True, superseded_at__isnull=True)
        .first()
    )
    if challenge is None:
        raise ValidationError("No code is waiting for %(ref)s; send one first.", params={"ref": request.reference})
    if challenge.attempts >= settings.TRANSFER_CODE_MAX_ATTEMPTS:
        raise ValidationError("This code is locked after too many wrong tries; send a new one.", code="code_locked")
    if challenge.expires_at <= now:
        raise ValidationError("This code has expired; send a new one.", code="code_expired")
    _check_number_code_budget(challenge.sent_to, now, sending=False)
    if not code_matches(CODE_LABEL, code, challenge.code_hash):
        with service_write_scope():
            challenge.attempts += 1
            challenge.save(update_fields=["attempts"])
        left = settings.TRANSFER_CODE_MAX_ATTEMPTS - challenge.attempts
        if left <= 0:
            return ValidationError("Wrong code. The code is now locked; send a new one.", code="code_locked")
        return ValidationError(
            "Wrong code. %(left)s tries left.", params={"left": left}, code="wrong_code"
        )  # returned, not raised: the counted try must commit
    if request.number.status != NumberStatus.ACTIVE or request.number.holder_id != request.from_holder_id:
        raise ValidationError("The number is no longer active with the same holder.", code="holder_changed")
    with service_write_scope():
        challenge.used_at = now
        challenge.save(update_fields=["used_at"])
    consent = TransferConsent(
        request=request,
        party=ConsentParty.CURRENT_HOLDER,
        subscriber=request.from_holder,
        method=ConsentMethod.SMS_CODE,
        code=challenge,
        captured_by=actor,
        captured_at=now,
        lapses_at=consent_lapses_at(request, now),
    )
    return save_consent(consent, request, actor=actor, reason=reason, now=now)
