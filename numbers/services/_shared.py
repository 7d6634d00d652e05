"""Helpers the number services share (inventory, transfers, consents, withdrawals): who may
act, the holding ledger's two halves, uploaded evidence checked by its first bytes, and
telling a subscriber by SMS. Private to numbers.services (not services themselves: each
runs inside its caller's audited transaction)."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import IntegrityError

from backoffice.history import stamp_change
from sms.services import sms_send
from staff.selectors import has_branch_perm, is_working

from ..models import Holding, MobileNumber, Subscriber, service_write_scope


def require_working(actor) -> None:
    if not is_working(actor):
        raise PermissionDenied("This account is not allowed to act: it is inactive or suspended.")


def require_branch_perm(actor, perms: tuple[str, ...], branch_id: int, what: str) -> None:
    require_working(actor)
    if not any(has_branch_perm(actor, perm, branch_id) for perm in perms):
        raise PermissionDenied(f"You have no authority to {what} for this branch.")


def end_holding(number: MobileNumber, *, end_reason: str, actor, note: str, reason: str, now: datetime) -> Holding:
    """Close the number's open holding; the row stays in the ledger."""
    holding = Holding.objects.select_for_update().get(number=number, ended_at__isnull=True)
    holding.ended_at = now
    holding.end_reason = end_reason
    holding.ended_by = actor
    holding.end_note = note
    stamp_change(holding, actor=actor, reason=reason)
    holding.save()
    return holding


def start_holding(
    number: MobileNumber,
    subscriber: Subscriber,
    *,
    start_reason: str,
    actor,
    note: str,
    reason: str,
    now: datetime,
    **link,
) -> Holding:
    """Open a holding and make its subscriber the holder; their 90 days start now."""
    holding = Holding(
        number=number,
        subscriber=subscriber,
        started_at=now,
        start_reason=start_reason,
        started_by=actor,
        start_note=note,
        **link,
    )
    stamp_change(holding, actor=actor, reason=reason)
    holding.save()
    number.holder = subscriber
    number.activated_at = now
    number.last_topup_at = now
    return holding


def assert_ledger_matches(number: MobileNumber) -> None:
    """The holder is always the subscriber of the one open holding (or nobody)."""
    open_holder = Holding.objects.open().filter(number=number).values_list("subscriber_id", flat=True).first()
    if open_holder != number.holder_id:
        raise IntegrityError(f"Ledger mismatch for {number.msisdn}: holder {number.holder_id}, open {open_holder}.")


# What a scanned consent form or a document photo may be: its first bytes must say
# so, whatever its name claims.
SIGNED_FORM_SIGNATURES: dict[str, bytes] = {"pdf": b"%PDF-", "png": b"\x89PNG\r\n\x1a\n", "jpg": b"\xff\xd8\xff"}
PHOTO_KINDS: dict[str, bytes] = {"png": SIGNED_FORM_SIGNATURES["png"], "jpg": SIGNED_FORM_SIGNATURES["jpg"]}
SIGNED_FORM_MAX_BYTES = 10 * 1024 * 1024


def upload_kind(upload: File, kinds: dict[str, bytes] = SIGNED_FORM_SIGNATURES) -> str | None:
    upload.seek(0)
    head = upload.read(8)
    upload.seek(0)
    return next((kind for kind, magic in kinds.items() if head.startswith(magic)), None)


def check_upload(upload: File | None, *, what: str, kinds: dict[str, bytes], described: str) -> None:
    if not upload or not getattr(upload, "size", 0):
        raise ValidationError("Upload the %(what)s.", params={"what": what}, code="form_required")
    if upload.size > SIGNED_FORM_MAX_BYTES:
        raise ValidationError("The %(what)s is larger than 10 MB.", params={"what": what}, code="form_too_large")
    if upload_kind(upload, kinds) is None:
        raise ValidationError(
            "The %(what)s must be %(described)s.", params={"what": what, "described": described}, code="form_kind"
        )


def tell_subscriber(subscriber: Subscriber, *, via_number: str | None, body: str, purpose: str) -> None:
    """Send to the number itself (whoever has the SIM) and the subscriber's contact number."""
    recipients = [via_number] if via_number else []
    recipients += [subscriber.contact_msisdn or subscriber.alternate_msisdn]
    for to in dict.fromkeys(filter(None, recipients)):
        sms_send(to=to, body=body, purpose=purpose)


def record_decision(
    request, *, state, actor, reason: str, now: datetime, update_fields: list[str] | None = None
) -> None:
    """A supervisor's decision on a request (transfer, withdrawal, subscriber change):
    its state, who, when and why, stamped on its history, saved as a service write."""
    request.state = state
    request.decided_by = actor
    request.decided_at = now
    request.decision_reason = reason
    stamp_change(request, actor=actor, reason=reason)
    with service_write_scope():
        request.save(update_fields=update_fields)


def refuse_own_request(request, actor) -> None:
    """Four eyes on a refusal too: the requester cancels, another supervisor decides."""
    if request.requested_by_id == actor.pk:
        raise ValidationError(
            "You made this request: cancel it instead, or let another supervisor decide.", code="four_eyes"
        )
