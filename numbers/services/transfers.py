"""The dual-consent transfer: the only way an active number changes holder.

A request names the number, its current holder and the new subscriber. Each of
the two parties consents (identity document checked in person, a one-time code
sent to the number itself, or a signed form), and a supervisor with authority
over the branch, who neither asked nor captured a consent, approves it. Every
rule is checked again at approval, under a row lock on the number: what was true
when the request was made may not be true any more (Fineract's lesson).
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from audit.context import audited, audited_transaction
from backoffice.history import require_reason, stamp_change
from sms.choices import SmsPurpose
from sms.services import sms_send
from staff.selectors import has_branch_perm

from ..choices import (
    OPEN_TRANSFER_STATES,
    ConsentMethod,
    ConsentParty,
    HoldingEndReason,
    HoldingStartReason,
    NumberStatus,
    TransferState,
)
from ..models import (
    ConsentCode,
    MobileNumber,
    Subscriber,
    TransferConsent,
    TransferLock,
    TransferRequest,
    mask_document_number,
    normalize_document_number,
    service_write_scope,
)
from ..msisdn import format_msisdn
from .inventory import _assert_ledger_matches, _end_holding, _require_branch_perm, _require_working, _start_holding

# --- Small helpers --------------------------------------------------------------


def _locked_request(request: TransferRequest) -> TransferRequest:
    # of=("self",): lock the request row only; the number is locked on its own, first,
    # by the services that change it.
    return TransferRequest.objects.select_for_update(of=("self",)).select_related("number").get(pk=request.pk)


def _require_open(request: TransferRequest, now: datetime | None = None) -> None:
    """Refuse a closed request; with ``now``, also one past its expiry (an expired
    request may still be cancelled or rejected, not consented to or approved)."""
    if request.state not in OPEN_TRANSFER_STATES:
        raise ValidationError(
            "Transfer request %(ref)s is %(state)s: it can no longer change.",
            params={"ref": request.reference, "state": request.get_state_display().lower()},
            code="not_open",
        )
    if now is not None and request.expires_at <= now:
        raise ValidationError(
            "Transfer request %(ref)s expired on %(when)s; make a new request.",
            params={
                "ref": request.reference,
                "when": timezone.localtime(request.expires_at).strftime("%d %b %Y %H:%M"),
            },
            code="expired",
        )


def _active_lock(number: MobileNumber) -> TransferLock | None:
    return TransferLock.objects.filter(number=number, lifted_at__isnull=True).first()


def _party_subscriber(request: TransferRequest, party: str) -> Subscriber:
    if party == ConsentParty.CURRENT_HOLDER:
        return request.from_holder
    if party == ConsentParty.NEW_SUBSCRIBER:
        return request.to_subscriber
    raise ValidationError("Choose whose consent this is: the current holder or the new subscriber.", code="party")


def _standing_consents(request: TransferRequest, now: datetime) -> dict[str, TransferConsent]:
    consents = TransferConsent.objects.standing(now).filter(request=request)
    return {consent.party: consent for consent in consents}


def _sync_state(request: TransferRequest, *, actor, reason: str, now: datetime) -> None:
    """An open request awaits approval exactly while both consents stand."""
    standing = _standing_consents(request, now)
    wanted = (
        TransferState.AWAITING_APPROVAL
        if {ConsentParty.CURRENT_HOLDER, ConsentParty.NEW_SUBSCRIBER} <= set(standing)
        else TransferState.AWAITING_CONSENT
    )
    if request.state != wanted:
        request.state = wanted
        stamp_change(request, actor=actor, reason=reason)
        request.save(update_fields=["state"])


def _document_matches(subscriber: Subscriber, document_type: str, shown: str) -> bool:
    """The document shown (already normalized) is the one on the subscriber's record."""
    return (
        bool(shown)
        and document_type == subscriber.id_document_type
        and constant_time_compare(shown, subscriber.id_document_number)
    )


def _consent_lapses_at(request: TransferRequest, now: datetime) -> datetime:
    return min(now + timedelta(hours=settings.TRANSFER_CONSENT_VALID_HOURS), request.expires_at)


def _tell_subscriber(subscriber: Subscriber, *, via_number: str | None, body: str, purpose: str) -> None:
    """Send to the number itself (whoever has the SIM) and the subscriber's contact number."""
    recipients = [via_number] if via_number else []
    recipients += [subscriber.contact_msisdn or subscriber.alternate_msisdn]
    for to in dict.fromkeys(filter(None, recipients)):
        sms_send(to=to, body=body, purpose=purpose)


# --- Requests -------------------------------------------------------------------


@audited
def transfer_create(
    *, number: MobileNumber, new_subscriber: Subscriber, actor, reason: str, expires_in_days: int | None = None
) -> TransferRequest:
    """Open a transfer request and tell the current holder at once, so an unwanted
    request can be stopped before anyone approves it."""
    reason = require_reason(reason)
    now = timezone.now()
    current = MobileNumber.objects.select_for_update(of=("self",)).select_related("holder").get(pk=number.pk)
    _require_branch_perm(actor, ("operate_branch",), current.branch_id, "request transfers")
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
    if _active_lock(current) is not None:
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
    _tell_subscriber(
        current.holder,
        via_number=current.msisdn,
        purpose=SmsPurpose.TRANSFER_REQUESTED,
        body=(
            f"A request to transfer your number {format_msisdn(current.msisdn)} to another person was made "
            f"on {timezone.localtime(now):%d %b %Y %H:%M} (ref {request.reference}). It cannot go ahead without "
            "your consent. If you did not ask for this, call 1777 or visit a branch."
        ),
    )
    return request


@audited
def transfer_cancel(*, request: TransferRequest, actor, reason: str) -> TransferRequest:
    """Withdraw an open request (the requester changed their mind, a party refused)."""
    reason = require_reason(reason)
    now = timezone.now()
    request = _locked_request(request)
    _require_branch_perm(actor, ("operate_branch", "supervise_branch"), request.branch_id, "cancel transfers")
    _require_open(request)
    _close(request, state=TransferState.CANCELLED, actor=actor, reason=reason, now=now)
    return request


def _close(request: TransferRequest, *, state: str, actor, reason: str, now: datetime, notify: bool = True) -> None:
    request.state = state
    request.closed_by = actor
    request.closed_at = now
    request.close_reason = reason
    stamp_change(request, actor=actor, reason=reason)
    with service_write_scope():
        request.save()
    if not notify:
        return
    _tell_subscriber(
        request.from_holder,
        via_number=request.number.msisdn,
        purpose=SmsPurpose.TRANSFER_CANCELLED,
        body=(
            f"The request to transfer {format_msisdn(request.number.msisdn)} (ref {request.reference}) is closed: "
            f"{request.get_state_display().lower()}. Your number stays with you."
        ),
    )


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
        _close(request, state=TransferState.EXPIRED, actor=None, reason=reason, now=now)

    def back_to_consent(request: TransferRequest) -> None:
        # The approval queue's state column must not promise an approval that would be refused.
        with service_write_scope():
            _sync_state(request, actor=None, reason="A consent lapsed; consent is needed again.", now=now)

    expired = _sweep(Q(state__in=OPEN_TRANSFER_STATES, expires_at__lte=now), expire)
    lapsed = TransferConsent.objects.lapsed(now).values("request_id")
    _sweep(Q(state=TransferState.AWAITING_APPROVAL, pk__in=lapsed), back_to_consent)
    return expired


def close_open_transfers(*, number: MobileNumber, actor, reason: str, now: datetime, withdrawn: bool) -> None:
    """A number leaving service ends its holder's transfer matters with it; a number
    blocked for a complaint cancels its open requests (the holder's lock stays)."""
    with service_write_scope():
        for request in TransferRequest.objects.select_for_update().filter(
            number=number, state__in=OPEN_TRANSFER_STATES
        ):
            request.number = number
            # No "your number stays with you" here: the withdrawal or block has its own notice.
            _close(
                request,
                state=TransferState.CANCELLED,
                actor=actor,
                reason=f"Number {'withdrawn' if withdrawn else 'blocked'}: {reason}",
                now=now,
                notify=False,
            )
        if not withdrawn:
            return
        for lock in TransferLock.objects.select_for_update().filter(number=number, lifted_at__isnull=True):
            _lift(lock, actor=actor, reason=reason, evidence="Number withdrawn from its holder", now=now)


# --- Consents -------------------------------------------------------------------


def _check_consent_capture(request: TransferRequest, party: str, actor, now: datetime) -> Subscriber:
    _require_branch_perm(actor, ("operate_branch",), request.branch_id, "record consents")
    _require_open(request, now)
    subscriber = _party_subscriber(request, party)
    if party in _standing_consents(request, now):
        raise ValidationError(
            "The %(party)s has already consented to %(ref)s.",
            params={"party": ConsentParty(party).label.lower(), "ref": request.reference},
            code="already_consented",
        )
    return subscriber


def _retire_lapsed_consent(request: TransferRequest, party: str, *, actor, now: datetime) -> None:
    """A lapsed consent no longer stands but still takes the party's one unrevoked
    slot (constraint consent_one_standing_per_party): close it on record first."""
    for old in TransferConsent.objects.lapsed(now).select_for_update().filter(request=request, party=party):
        old.revoked_at = now
        old.revoked_by = actor
        old.revocation_reason = (
            f"Lapsed on {timezone.localtime(old.lapses_at):%d %b %Y %H:%M}; replaced by a new consent."
        )
        stamp_change(old, actor=actor, reason=old.revocation_reason)
        old.save()


def _save_consent(consent: TransferConsent, request: TransferRequest, *, actor, reason: str, now: datetime):
    stamp_change(consent, actor=actor, reason=reason)
    with service_write_scope():
        _retire_lapsed_consent(request, consent.party, actor=actor, now=now)
        consent.save()
        _sync_state(request, actor=actor, reason=reason, now=now)
    return consent


@audited
def consent_record_in_person(
    *,
    request: TransferRequest,
    party: str,
    document_type: str,
    document_number: str,
    actor,
    reason: str,
    note: str = "",
) -> TransferConsent:
    """The party stands at the counter; the document shown must be the one on record."""
    reason = require_reason(reason)
    now = timezone.now()
    request = _locked_request(request)
    subscriber = _check_consent_capture(request, party, actor, now)
    shown = normalize_document_number(document_number)
    if not shown:
        raise ValidationError("Enter the number of the identity document shown.", code="document_required")
    if not _document_matches(subscriber, document_type, shown):
        raise ValidationError(
            "The identity document shown does not match %(name)s's record. Consent was not recorded.",
            params={"name": subscriber.full_name},
            code="document_mismatch",
        )
    consent = TransferConsent(
        request=request,
        party=party,
        subscriber=subscriber,
        method=ConsentMethod.IN_PERSON,
        document_type=document_type,
        document_reference=mask_document_number(shown),
        captured_by=actor,
        captured_at=now,
        lapses_at=_consent_lapses_at(request, now),
        note=note,
    )
    return _save_consent(consent, request, actor=actor, reason=reason, now=now)


@audited
def consent_record_signed_form(
    *, request: TransferRequest, party: str, signed_form: File, actor, reason: str, note: str = ""
) -> TransferConsent:
    """A form signed by the party, scanned and uploaded; kept as evidence."""
    reason = require_reason(reason)
    now = timezone.now()
    request = _locked_request(request)
    subscriber = _check_consent_capture(request, party, actor, now)
    _check_signed_form(signed_form)
    # A random name: the uploader's file name may itself carry personal data.
    signed_form.name = f"{uuid.uuid4().hex}.{_signed_form_kind(signed_form)}"
    consent = TransferConsent(
        request=request,
        party=party,
        subscriber=subscriber,
        method=ConsentMethod.SIGNED_FORM,
        signed_form=signed_form,
        captured_by=actor,
        captured_at=now,
        lapses_at=_consent_lapses_at(request, now),
        note=note,
    )
    return _save_consent(consent, request, actor=actor, reason=reason, now=now)


# What a scanned consent form may be: its first bytes must say so, whatever its name claims.
SIGNED_FORM_SIGNATURES: dict[str, bytes] = {"pdf": b"%PDF-", "png": b"\x89PNG\r\n\x1a\n", "jpg": b"\xff\xd8\xff"}
SIGNED_FORM_MAX_BYTES = 10 * 1024 * 1024


def _signed_form_kind(upload: File) -> str | None:
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    return next((kind for kind, magic in SIGNED_FORM_SIGNATURES.items() if head.startswith(magic)), None)


def _check_signed_form(upload: File | None) -> None:
    if not upload or not getattr(upload, "size", 0):
        raise ValidationError("Upload the signed consent form.", code="form_required")
    if upload.size > SIGNED_FORM_MAX_BYTES:
        raise ValidationError("The signed form is larger than 10 MB.", code="form_too_large")
    if _signed_form_kind(upload) is None:
        raise ValidationError("The signed form must be a PDF, JPEG or PNG scan.", code="form_kind")


def _hash_code(code: str, salt: str) -> str:
    return salted_hmac("numbers.consent_code", f"{salt}:{code}", algorithm="sha256").hexdigest()


@audited
def consent_code_send(*, request: TransferRequest, actor, reason: str) -> ConsentCode:
    """Send a one-time code to the number itself: only whoever holds the SIM can read it."""
    reason = require_reason(reason)
    now = timezone.now()
    request = _locked_request(request)
    _check_consent_capture(request, ConsentParty.CURRENT_HOLDER, actor, now)
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
    code = f"{secrets.randbelow(10**6):06d}"
    salt = secrets.token_hex(8)
    with service_write_scope():
        for live in ConsentCode.objects.filter(request=request, used_at__isnull=True, superseded_at__isnull=True):
            live.superseded_at = now
            stamp_change(live, actor=actor, reason="A new code replaces this one.")
            live.save(update_fields=["superseded_at"])
        challenge = ConsentCode(
            request=request,
            sent_to=number.msisdn,
            code_hash=f"{salt}${_hash_code(code, salt)}",
            sent_by=actor,
            created_at=now,
            expires_at=now + timedelta(minutes=settings.TRANSFER_CODE_TTL_MINUTES),
        )
        challenge.save()
    sms_send(
        to=number.msisdn,
        purpose=SmsPurpose.CONSENT_CODE,
        body=(
            f"{code} is your code to AGREE to transfer {format_msisdn(number.msisdn)} to another person "
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
    request = _locked_request(request)
    _check_consent_capture(request, ConsentParty.CURRENT_HOLDER, actor, now)
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
    salt, _, digest = challenge.code_hash.partition("$")
    if not code.isdigit() or not constant_time_compare(_hash_code(code, salt), digest):
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
        lapses_at=_consent_lapses_at(request, now),
    )
    return _save_consent(consent, request, actor=actor, reason=reason, now=now)


@audited
def consent_revoke(*, consent: TransferConsent, actor, reason: str) -> TransferConsent:
    """A party may take consent back at any time until the transfer is approved."""
    reason = require_reason(reason)
    now = timezone.now()
    request = _locked_request(consent.request)
    _require_branch_perm(actor, ("operate_branch", "supervise_branch"), request.branch_id, "revoke consents")
    if request.state not in OPEN_TRANSFER_STATES:
        raise ValidationError(
            "Transfer request %(ref)s is %(state)s: consent can only be revoked before approval.",
            params={"ref": request.reference, "state": request.get_state_display().lower()},
            code="not_open",
        )
    consent = TransferConsent.objects.select_for_update().get(pk=consent.pk)
    if consent.revoked_at is not None:
        raise ValidationError("This consent was already revoked.", code="already_revoked")
    consent.revoked_at = now
    consent.revoked_by = actor
    consent.revocation_reason = reason
    stamp_change(consent, actor=actor, reason=reason)
    with service_write_scope():
        consent.save()
        _sync_state(request, actor=actor, reason=reason, now=now)
    return consent


# --- The four-eyes decision -----------------------------------------------------


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
    standing = _standing_consents(request, now)
    for party, label in ConsentParty.choices:
        consent = standing.get(party)
        if consent is None:
            blockers.append(f"No standing consent from the {label.lower()} (missing, revoked or lapsed).")
        elif consent.captured_by_id == actor.pk:
            blockers.append(f"You captured the {label.lower()}'s consent: another supervisor must approve.")
        elif consent.subscriber_id != _party_subscriber(request, party).pk:
            blockers.append(f"The {label.lower()}'s consent was given by somebody else.")
    if number.status != NumberStatus.ACTIVE:
        blockers.append(f"The number is {number.get_status_display().lower()}, not active.")
    if number.holder_id != request.from_holder_id:
        blockers.append("The number is no longer held by the subscriber named in the request.")
    if number.branch_id != request.branch_id:
        blockers.append("The number has moved to another branch since the request.")
    if _active_lock(number) is not None:
        blockers.append("The holder has locked the number against transfers.")
    return blockers


@audited
def transfer_approve(*, request: TransferRequest, actor, reason: str) -> TransferRequest:
    """Execute a transfer in one transaction: close the old holding, open the new one
    (linked to this request), change the number's holder, record who and why."""
    reason = require_reason(reason)
    now = timezone.now()
    _require_working(actor)
    # The number first, then the request: the same order as transfer_create, so two
    # approvals (or an approval and a new request) queue instead of deadlocking.
    number = MobileNumber.objects.select_for_update().get(pk=request.number_id)
    request = _locked_request(request)
    request.number = number
    if not has_branch_perm(actor, "supervise_branch", request.branch_id):
        raise PermissionDenied("You have no authority to approve transfers for this branch.")
    blockers = transfer_approval_blockers(request=request, actor=actor, now=now)
    if blockers:
        # Each blocker carries the code (a list loses the one given beside it): a refusal on record.
        raise ValidationError([ValidationError(blocker, code="approval_refused") for blocker in blockers])

    with service_write_scope():
        request.state = TransferState.EXECUTED
        request.decided_by = actor
        request.decided_at = now
        request.decision_reason = reason
        stamp_change(request, actor=actor, reason=reason)
        request.save()

        note = f"{request.reference}: {reason}"
        _end_holding(number, end_reason=HoldingEndReason.TRANSFER, actor=actor, note=note, reason=reason, now=now)
        # The new holder's 90 days start now, not from the old holder's last top-up.
        _start_holding(
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
    _assert_ledger_matches(number)

    shown = format_msisdn(number.msisdn)
    # With no contact number on record the old holder is told on the number itself,
    # where the new holder may read it: the text names nobody, on purpose.
    _tell_subscriber(
        request.from_holder,
        via_number=None if request.from_holder.contact_msisdn else number.msisdn,
        purpose=SmsPurpose.TRANSFER_EXECUTED,
        body=f"As you agreed, {shown} has been transferred to its new holder (ref {request.reference}).",
    )
    _tell_subscriber(
        request.to_subscriber,
        via_number=number.msisdn,
        purpose=SmsPurpose.TRANSFER_EXECUTED,
        body=f"{shown} is now yours (ref {request.reference}). Keep it active with a top-up at least every 90 days.",
    )
    return request


@audited
def transfer_reject(*, request: TransferRequest, actor, reason: str) -> TransferRequest:
    """A supervisor refuses the transfer; the request stays on record with why.

    Unlike approval, a superuser may reject: stopping a transfer never harms a holder.
    """
    reason = require_reason(reason)
    now = timezone.now()
    request = _locked_request(request)
    _require_branch_perm(actor, ("supervise_branch",), request.branch_id, "reject transfers")
    _require_open(request)
    if request.requested_by_id == actor.pk:
        raise ValidationError(
            "You made this request: cancel it instead, or let another supervisor decide.", code="four_eyes"
        )
    request.state = TransferState.REJECTED
    request.decided_by = actor
    request.decided_at = now
    request.decision_reason = reason
    stamp_change(request, actor=actor, reason=reason)
    with service_write_scope():
        request.save()
    _tell_subscriber(
        request.from_holder,
        via_number=request.number.msisdn,
        purpose=SmsPurpose.TRANSFER_REJECTED,
        body=(
            f"The request to transfer {format_msisdn(request.number.msisdn)} (ref {request.reference}) was refused. "
            "Your number stays with you."
        ),
    )
    return request


# --- Transfer locks -------------------------------------------------------------


@audited
def transfer_lock_place(*, number: MobileNumber, actor, reason: str) -> TransferLock:
    """At the holder's request: no transfer can be requested or approved while it stands."""
    reason = require_reason(reason)
    now = timezone.now()
    current = MobileNumber.objects.select_for_update().get(pk=number.pk)
    _require_branch_perm(actor, ("operate_branch",), current.branch_id, "lock numbers against transfers")
    if current.holder_id is None:
        raise ValidationError(
            "%(msisdn)s has no holder to lock it for.", params={"msisdn": current.msisdn}, code="not_held"
        )
    if _active_lock(current) is not None:
        raise ValidationError(
            "%(msisdn)s is already locked against transfers.", params={"msisdn": current.msisdn}, code="locked"
        )
    lock = TransferLock(number=current, subscriber_id=current.holder_id, placed_at=now, placed_by=actor)
    lock.place_reason = reason
    stamp_change(lock, actor=actor, reason=reason)
    with service_write_scope():
        lock.save()
    sms_send(
        to=current.msisdn,
        purpose=SmsPurpose.TRANSFER_LOCK,
        body=f"{format_msisdn(current.msisdn)} is now locked against transfers. Lifting the lock needs you in person.",
    )
    return lock


def _lift(lock: TransferLock, *, actor, reason: str, evidence: str, now: datetime) -> None:
    lock.lifted_at = now
    lock.lifted_by = actor
    lock.lift_reason = reason
    lock.lift_evidence = evidence
    stamp_change(lock, actor=actor, reason=reason)
    with service_write_scope():
        lock.save()


@audited
def transfer_lock_lift(
    *, number: MobileNumber, document_type: str, document_number: str, actor, reason: str
) -> TransferLock:
    """Only the holder lifts their lock: in person, with the identity document on record."""
    reason = require_reason(reason)
    now = timezone.now()
    current = MobileNumber.objects.select_for_update(of=("self",)).select_related("holder").get(pk=number.pk)
    _require_branch_perm(actor, ("operate_branch",), current.branch_id, "lift transfer locks")
    lock = TransferLock.objects.select_for_update().filter(number=current, lifted_at__isnull=True).first()
    if lock is None:
        raise ValidationError(
            "%(msisdn)s is not locked against transfers.", params={"msisdn": current.msisdn}, code="not_locked"
        )
    holder = lock.subscriber
    shown = normalize_document_number(document_number)
    if not _document_matches(holder, document_type, shown):
        raise ValidationError(
            "The identity document shown does not match the holder's record; the lock stays.",
            code="document_mismatch",
        )
    evidence = f"In person: {holder.get_id_document_type_display()} {mask_document_number(shown)} checked"
    _lift(lock, actor=actor, reason=reason, evidence=evidence, now=now)
    sms_send(
        to=current.msisdn,
        purpose=SmsPurpose.TRANSFER_LOCK,
        body=f"The transfer lock on {format_msisdn(current.msisdn)} was lifted at a branch. Not you? Call 1777.",
    )
    return lock
