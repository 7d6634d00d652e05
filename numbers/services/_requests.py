"""What the transfer services (requests, consents, approvals, locks) share about a request:
its row lock, whether it is still open, its consents and state, and how it closes.
Private to numbers.services."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from backoffice.history import stamp_change
from backoffice.msisdn import format_msisdn
from sms.choices import SmsPurpose

from ..choices import OPEN_TRANSFER_STATES, ConsentMethod, ConsentParty, TransferState
from ..models import MobileNumber, Subscriber, TransferConsent, TransferLock, TransferRequest, service_write_scope
from ._shared import require_branch_perm, tell_subscriber


def locked_request(request: TransferRequest) -> TransferRequest:
    # of=("self",): lock the request row only; the number is locked on its own, first,
    # by the services that change it.
    return TransferRequest.objects.select_for_update(of=("self",)).select_related("number").get(pk=request.pk)


def require_open(request: TransferRequest, now: datetime | None = None) -> None:
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


def active_lock(number: MobileNumber) -> TransferLock | None:
    return TransferLock.objects.filter(number=number, lifted_at__isnull=True).first()


def party_subscriber(request: TransferRequest, party: str) -> Subscriber:
    if party == ConsentParty.CURRENT_HOLDER:
        return request.from_holder
    if party == ConsentParty.NEW_SUBSCRIBER:
        return request.to_subscriber
    raise ValidationError("Choose whose consent this is: the current holder or the new subscriber.", code="party")


def standing_consents(request: TransferRequest, now: datetime) -> dict[str, TransferConsent]:
    consents = TransferConsent.objects.standing(now).filter(request=request)
    return {consent.party: consent for consent in consents}


def given_consents(request: TransferRequest, now: datetime) -> dict[str, TransferConsent]:
    """Given and not lapsed, confirmed or not: what takes each party's slot."""
    consents = TransferConsent.objects.given(now).filter(request=request)
    return {consent.party: consent for consent in consents}


def sync_state(request: TransferRequest, *, actor, reason: str, now: datetime) -> None:
    """An open request awaits approval exactly while both consents stand. A first
    approval was given to the consents then standing: when one stops standing, it
    is void and both approvals are needed again."""
    standing = standing_consents(request, now)
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


def consent_lapses_at(request: TransferRequest, now: datetime) -> datetime:
    return min(now + timedelta(hours=settings.TRANSFER_CONSENT_VALID_HOURS), request.expires_at)


def close_request(
    request: TransferRequest, *, state: str, actor, reason: str, now: datetime, notify: bool = True
) -> None:
    request.state = state
    request.closed_by = actor
    request.closed_at = now
    request.close_reason = reason
    stamp_change(request, actor=actor, reason=reason)
    with service_write_scope():
        request.save()
    if not notify:
        return
    tell_subscriber(
        request.from_holder,
        via_number=request.number.msisdn,
        purpose=SmsPurpose.TRANSFER_CANCELLED,
        body=(
            f"The request to transfer {format_msisdn(request.number.msisdn)} (ref {request.reference}) is closed: "
            f"{request.get_state_display().lower()}. Your number stays with you."
        ),
    )


def check_consent_capture(request: TransferRequest, party: str, actor, now: datetime, *, method: str) -> Subscriber:
    require_branch_perm(actor, ("operate_branch",), request.branch_id, "record consents")
    require_open(request, now)
    subscriber = party_subscriber(request, party)
    given = given_consents(request, now)
    if party in given:
        raise ValidationError(
            "The %(party)s has already consented to %(ref)s.",
            params={"party": ConsentParty(party).label.lower(), "ref": request.reference},
            code="already_consented",
        )
    other_party = ConsentParty.NEW_SUBSCRIBER if party == ConsentParty.CURRENT_HOLDER else ConsentParty.CURRENT_HOLDER
    other = given.get(other_party)
    if other is not None and one_employee_vouches_for_both(party, method, other, actor.pk):
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


def one_employee_vouches_for_both(party: str, method: str, other: TransferConsent, actor_id: int) -> bool:
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


def retire_lapsed_consent(request: TransferRequest, party: str, *, actor, now: datetime) -> None:
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


def save_consent(consent: TransferConsent, request: TransferRequest, *, actor, reason: str, now: datetime):
    stamp_change(consent, actor=actor, reason=reason)
    with service_write_scope():
        retire_lapsed_consent(request, consent.party, actor=actor, now=now)
        consent.save()
        sync_state(request, actor=actor, reason=reason, now=now)
    return consent
