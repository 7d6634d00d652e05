"""Transfer locks: a holder's number locked against transfers at a branch, lifted only on
the holder's document."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.context import audited
from backoffice.history import require_reason, stamp_change
from backoffice.msisdn import format_msisdn
from sms.choices import SmsPurpose
from sms.services import sms_send

from ..identity import document_matches
from ..models import MobileNumber, TransferLock, mask_document_number, normalize_document_number, service_write_scope
from ._requests import active_lock
from ._shared import require_branch_perm


@audited
def transfer_lock_place(*, number: MobileNumber, actor, reason: str) -> TransferLock:
    """At the holder's request: no transfer can be requested or approved while it stands."""
    reason = require_reason(reason)
    now = timezone.now()
    current = MobileNumber.objects.select_for_update().get(pk=number.pk)
    require_branch_perm(actor, ("operate_branch",), current.branch_id, "lock numbers against transfers")
    if current.holder_id is None:
        raise ValidationError(
            "%(msisdn)s has no holder to lock it for.", params={"msisdn": current.msisdn}, code="not_held"
        )
    if active_lock(current) is not None:
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
    require_branch_perm(actor, ("operate_branch",), current.branch_id, "lift transfer locks")
    lock = TransferLock.objects.select_for_update().filter(number=current, lifted_at__isnull=True).first()
    if lock is None:
        raise ValidationError(
            "%(msisdn)s is not locked against transfers.", params={"msisdn": current.msisdn}, code="not_locked"
        )
    holder = lock.subscriber
    shown = normalize_document_number(document_number)
    if not document_matches(holder, document_type, shown):
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
