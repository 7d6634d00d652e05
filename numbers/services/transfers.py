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
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Q, Sum
from django.utils import timezone

from audit.context import audited, audited_transaction
from backoffice.history import require_reason, stamp_change
from backoffice.msisdn import format_msisdn
from sms.choices import SmsPurpose
from sms.services import SECRET_SLOT, sms_send
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
from ..codes import code_matches, new_code
from ..identity import document_matches
from ..models import (
    ConsentCode,
    MobileNumber,
    Subscriber,
    TransferConsent,
    TransferLock,
    TransferRequest,
    mask_document_number,
    needs_confirmation,
    normalize_document_number,
    service_write_scope,
)
from ..selectors import cooling_off_ends, transfer_risk_flags_now
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


def _given_consents(request: TransferRequest, now: datetime) -> dict[str, TransferConsent]:
    """Given and not lapsed, confirmed or not: what takes each party's slot."""
    consents = TransferConsent.objects.given(now).filter(request=request)
    return {consent.party: consent for consent in consents}


def _sync_state(request: TransferRequest, *, actor, reason: str, now: datetime) -> None:
    """An open request awaits approval exactly while both consents stand. A first
    approval was given to the consents then standing: when one stops standing, it
    is void and both approvals are needed again."""
    standing = _standing_consents(request, now)
    wanted = (
        TransferState.AWAITING_APPROVAL
        if {ConsentParty.CURRENT_HOLDER, ConsentParty.NEW_SUBSCRIBER} <= set(standing)
        else TransferState.AWAITING_CONSENT
    )
    fields = []
    if request.state != wanted:
        request.state = wanted
        fields.append("state")
    if wanted == TransferState.AWAITING_CONSENT and request.first_approved_by_id is not None:
        request.first_approved_by = None
        request.first_approved_at = None
        request.first_approval_reason = ""
        fields += ["first_approved_by", "first_approved_at", "first_approval_reason"]
    if fields:
        stamp_change(request, actor=actor, reason=reason)
        request.save(update_fields=fields)


def _document_matches(subscriber: Subscriber, document_type: str, shown: str) -> bool:
    """The document shown is the one on the subscriber's record: compared by keyed hash."""
    return document_matches(subscriber, document_type, shown)


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
    """A number leaving service or blocked for a complaint cancels its open requests.
    The holder's transfer lock stays: only its own consented lift ends it (a locked
    number is never withdrawn, and a database trigger refuses it)."""
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


# --- Consents -------------------------------------------------------------------


def _check_consent_capture(request: TransferRequest, party: str, actor, now: datetime, *, method: str) -> Subscriber:
    _require_branch_perm(actor, ("operate_branch",), request.branch_id, "record consents")
    _require_open(request, now)
    subscriber = _party_subscriber(request, party)
    given = _given_consents(request, now)
    if party in given:
        raise ValidationError(
            "The %(party)s has already consented to %(ref)s.",
            params={"party": ConsentParty(party).label.lower(), "ref": request.reference},
            code="already_consented",
        )
    other_party = ConsentParty.NEW_SUBSCRIBER if party == ConsentParty.CURRENT_HOLDER else ConsentParty.CURRENT_HOLDER
    other = given.get(other_party)
    if other is not None and _one_employee_vouches_for_both(party, method, other, actor.pk):
        raise ValidationError(
            "You captured the %(other)s's consent to %(ref)s: another employee of the branch must capture "
            "the %(party)s's. One employee never vouches for both parties.",
            params={
                "other": other.get_party_display().lower(),
                "party": ConsentParty(party).label.lower(),
                "ref": request.reference,
            },
            code="both_consents_one_employee",
        )
    return subscriber


def _one_employee_vouches_for_both(party: str, method: str, other: TransferConsent, actor_id: int) -> bool:
    """Whether recording this consent would leave one employee the only witness of both.

    The exception is the holder's one-time code sent to the number: there the
    employee only types what the holder's SIM received, a factor they cannot
    produce, so the holder's consent does not rest on that employee's word. Every
    other pairing (in person, signed form) would let one employee who knows the
    holder's document number make both consents up alone: refused. The approval
    re-checks it (``transfer_approval_blockers``).
    """
    if other.captured_by_id != actor_id:
        return False
    holder_method = method if party == ConsentParty.CURRENT_HOLDER else other.method
    return holder_method != ConsentMethod.SMS_CODE


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
    document_photo: File | None = None,
    note: str = "",
) -> TransferConsent:
    """The party stands at the counter; the document shown must be the one on record.

    For the holder (SIM lost or broken) a photo of the document shown is required
    and kept as evidence only reviewers open; the consent counts only once a second
    employee confirms the check (``transfer_confirm_consent``)."""
    reason = require_reason(reason)
    now = timezone.now()
    request = _locked_request(request)
    subscriber = _check_consent_capture(request, party, actor, now, method=ConsentMethod.IN_PERSON)
    shown = normalize_document_number(document_number)
    if not shown:
        raise ValidationError("Enter the number of the identity document shown.", code="document_required")
    if not _document_matches(subscriber, document_type, shown):
        raise ValidationError(
            "The identity document shown does not match %(name)s's record. Consent was not recorded.",
            params={"name": subscriber.full_name},
            code="document_mismatch",
        )
    if party == ConsentParty.CURRENT_HOLDER:
        _check_upload(
            document_photo, what="photo of the document shown", kinds=PHOTO_KINDS, described="a JPEG or PNG image"
        )
        document_photo.name = f"{uuid.uuid4().hex}.{_upload_kind(document_photo)}"
    consent = TransferConsent(
        request=request,
        party=party,
        subscriber=subscriber,
        method=ConsentMethod.IN_PERSON,
        document_type=document_type,
        document_reference=mask_document_number(shown),
        document_photo=document_photo if party == ConsentParty.CURRENT_HOLDER else "",
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
    """A form signed by the party, scanned and uploaded; kept as evidence. The
    requester can upload anything, so the holder's form counts only once a second
    employee confirms it (``transfer_confirm_consent``)."""
    reason = require_reason(reason)
    now = timezone.now()
    request = _locked_request(request)
    subscriber = _check_consent_capture(request, party, actor, now, method=ConsentMethod.SIGNED_FORM)
    _check_upload(signed_form, what="signed form", kinds=SIGNED_FORM_SIGNATURES, described="a PDF, JPEG or PNG scan")
    # A random name: the uploader's file name may itself carry personal data.
    signed_form.name = f"{uuid.uuid4().hex}.{_upload_kind(signed_form)}"
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


# What a scanned consent form or a document photo may be: its first bytes must say
# so, whatever its name claims.
SIGNED_FORM_SIGNATURES: dict[str, bytes] = {"pdf": b"%PDF-", "png": b"\x89PNG\r\n\x1a\n", "jpg": b"\xff\xd8\xff"}
PHOTO_KINDS: dict[str, bytes] = {"png": SIGNED_FORM_SIGNATURES["png"], "jpg": SIGNED_FORM_SIGNATURES["jpg"]}
SIGNED_FORM_MAX_BYTES = 10 * 1024 * 1024


def _upload_kind(upload: File, kinds: dict[str, bytes] = SIGNED_FORM_SIGNATURES) -> str | None:
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    return next((kind for kind, magic in kinds.items() if head.startswith(magic)), None)


def _check_upload(upload: File | None, *, what: str, kinds: dict[str, bytes], described: str) -> None:
    if not upload or not getattr(upload, "size", 0):
        raise ValidationError("Upload the %(what)s.", params={"what": what}, code="form_required")
    if upload.size > SIGNED_FORM_MAX_BYTES:
        raise ValidationError("The %(what)s is larger than 10 MB.", params={"what": what}, code="form_too_large")
    if _upload_kind(upload, kinds) is None:
        raise ValidationError(
            "The %(what)s must be %(described)s.", params={"what": what, "described": described}, code="form_kind"
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
    request = _locked_request(request)
    _check_consent_capture(request, ConsentParty.CURRENT_HOLDER, actor, now, method=ConsentMethod.SMS_CODE)
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
    request = _locked_request(request)
    _check_consent_capture(request, ConsentParty.CURRENT_HOLDER, actor, now, method=ConsentMethod.SMS_CODE)
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


@audited
def transfer_confirm_consent(*, consent: TransferConsent, actor, reason: str) -> TransferConsent:
    """A second employee of the branch confirms the check of the holder's consent
    taken in person or by signed form; only then does it count.

    Staff can produce that evidence alone (the document number is on the holder's
    record, a form can be signed by anyone), so it takes a colleague who neither
    asked for the transfer nor captured the consent, named and dated on the row.
    The holder is told by SMS, on the number and the contact number.
    """
    reason = require_reason(reason)
    now = timezone.now()
    request = _locked_request(consent.request)
    _require_branch_perm(actor, ("operate_branch", "supervise_branch"), request.branch_id, "confirm consents")
    _require_open(request, now)
    consent = TransferConsent.objects.select_for_update().get(pk=consent.pk, request=request)
    if actor.is_superuser:
        raise PermissionDenied(
            "Superuser accounts do not confirm consents: the confirmation is a named colleague's accountable duty."
        )
    if not consent.is_given(now):
        raise ValidationError("This consent was revoked or has lapsed: nothing to confirm.", code="not_given")
    if not needs_confirmation(consent.party, consent.method):
        raise ValidationError(
            "Only the holder's consent in person or by signed form needs a second employee's confirmation.",
            code="no_confirmation_needed",
        )
    if consent.confirmed_at is not None:
        raise ValidationError("This consent was already confirmed.", code="already_confirmed")
    if actor.pk == consent.captured_by_id:
        raise ValidationError(
            "You captured this consent: another employee of the branch must confirm it.", code="confirm_own"
        )
    if actor.pk == request.requested_by_id:
        raise ValidationError(
            "You made this request: another employee of the branch must confirm the holder's consent.",
            code="confirm_own_request",
        )
    if consent.method == ConsentMethod.IN_PERSON and not consent.document_photo:
        raise ValidationError(
            "No photo of the document shown is on file: record the consent again with the photo.", code="no_photo"
        )
    consent.confirmed_by = actor
    consent.confirmed_at = now
    stamp_change(consent, actor=actor, reason=reason)
    with service_write_scope():
        consent.save()
        _sync_state(request, actor=actor, reason=reason, now=now)
    ends = cooling_off_ends(request)
    _tell_subscriber(
        request.from_holder,
        via_number=request.number.msisdn,
        purpose=SmsPurpose.TRANSFER_REQUESTED,
        body=(
            f"Your consent to transfer {format_msisdn(request.number.msisdn)} (ref {request.reference}) was recorded "
            f"at a branch {consent.get_method_display().split(',')[0].lower()}. It cannot be approved before "
            f"{timezone.localtime(ends or now):%d %b %Y %H:%M}. If this was not you, call 1777 or visit a branch."
        ),
    )
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
    if request.first_approved_by_id == actor.pk:
        blockers.append("You gave the first approval: a second supervisor must give the second.")
    given = _given_consents(request, now)
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
        if consent.subscriber_id != _party_subscriber(request, party).pk:
            blockers.append(f"The {label.lower()}'s consent was given by somebody else.")
    holder = given.get(ConsentParty.CURRENT_HOLDER)
    newcomer = given.get(ConsentParty.NEW_SUBSCRIBER)
    if (
        holder
        and newcomer
        and _one_employee_vouches_for_both(holder.party, holder.method, newcomer, holder.captured_by_id)
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
    if _active_lock(number) is not None:
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
