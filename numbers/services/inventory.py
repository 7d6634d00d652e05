"""The only code that writes a number's status or holder, or the holding ledger.

Each function is one transaction, takes the acting user and a reason, checks the
actor's authority over the number's branch, and leaves a history record with
both. A refused call raises and changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from audit.context import audited
from backoffice.history import require_reason, stamp_change
from backoffice.msisdn import normalize_msisdn

from .. import registry
from ..choices import (
    HELD_STATUSES,
    TRANSITIONS,
    HoldingEndReason,
    HoldingStartReason,
    IdentityDocumentType,
    NumberStatus,
    is_allowed_move,
    is_withdrawal,
    move_permissions,
)
from ..exceptions import HolderChangeRefused, IllegalMove
from ..identity import document_hash, identity_fields, normalize_document_number
from ..lifecycle import policy
from ..models import Branch, Holding, MobileNumber, Subscriber, service_write_scope
from ._shared import assert_ledger_matches, end_holding, require_branch_perm, require_working, start_holding
from .transfers import close_open_transfers

# --- Inventory ----------------------------------------------------------------


@audited
def number_create(*, msisdn: str, branch: Branch, actor, reason: str) -> MobileNumber:
    """Bring a number into the inventory, available and unheld."""
    reason = require_reason(reason)
    require_working(actor)
    if not actor.has_perm("numbers.add_mobilenumber"):
        raise PermissionDenied("You may not add numbers to the inventory.")
    require_branch_perm(actor, ("operate_branch",), branch.pk, "add numbers")
    e164 = normalize_msisdn(msisdn)
    if MobileNumber.objects.filter(msisdn=e164).exists():
        raise ValidationError("%(msisdn)s is already in the inventory.", params={"msisdn": e164}, code="duplicate")
    number = MobileNumber(msisdn=e164, branch=branch, status=NumberStatus.AVAILABLE)
    stamp_change(number, actor=actor, reason=reason)
    with service_write_scope():
        try:
            with transaction.atomic():
                number.save()
        except IntegrityError as exc:
            raise ValidationError(
                "%(msisdn)s is already in the inventory.", params={"msisdn": e164}, code="duplicate"
            ) from exc
    return number


# --- The lifecycle ------------------------------------------------------------


@audited
def number_transition(
    *,
    number: MobileNumber,
    to_status: str,
    actor,
    reason: str,
    subscriber: Subscriber | None = None,
    at: datetime | None = None,
) -> MobileNumber:
    """Move a number along the lifecycle table; every status change comes through here.

    A move from an unheld state into a held one is a sale and opens a holding for
    ``subscriber``; a move out of the held states closes the open holding. No move
    gives a held number to another subscriber.
    """
    reason = require_reason(reason)
    now = at or timezone.now()
    current = MobileNumber.objects.select_for_update().get(pk=number.pk)
    from_status = current.status
    if to_status not in NumberStatus.values:
        raise IllegalMove("'%(to)s' is not a number status.", params={"to": to_status}, code="unknown_status")
    require_branch_perm(
        actor, move_permissions(from_status, to_status), current.branch_id, f"move numbers to {to_status}"
    )
    if subscriber is not None and from_status in HELD_STATUSES:
        raise HolderChangeRefused(
            "%(msisdn)s is %(status)s and already held: it is not for sale. A held number "
            "changes holder only through a transfer approved with the consent of both subscribers.",
            params={"msisdn": current.msisdn, "status": from_status},
            code="holder_change_refused",
        )
    if not is_allowed_move(from_status, to_status):
        allowed = ", ".join(sorted(TRANSITIONS.get(from_status, ()))) or "none"
        raise IllegalMove(
            "%(msisdn)s cannot move from %(from)s to %(to)s. Allowed moves from %(from)s: %(allowed)s.",
            params={"msisdn": current.msisdn, "from": from_status, "to": to_status, "allowed": allowed},
            code="illegal_move",
        )
    if is_withdrawal(from_status, to_status):
        raise IllegalMove(
            "%(msisdn)s is %(from)s and held: no one withdraws a held number with a status change, whatever "
            "their role. Request a withdrawal instead (the holder's request confirmed by code, a legal or fraud "
            "order, or the subscriber's death); a second supervisor approves it and the holder is told by SMS.",
            params={"msisdn": current.msisdn, "from": from_status},
            code="withdrawal_needs_request",
        )
    if from_status == NumberStatus.AGING and to_status == NumberStatus.AVAILABLE:
        _refuse_during_quarantine(current, now)
    if from_status == NumberStatus.BLOCKED:
        _refuse_while_emergency_block(current)
    is_sale = from_status not in HELD_STATUSES and to_status in HELD_STATUSES
    if is_sale and subscriber is None:
        raise ValidationError("Selling %(msisdn)s needs a subscriber.", params={"msisdn": current.msisdn})
    if not is_sale and subscriber is not None:
        raise ValidationError(
            "Only a sale names a subscriber; %(msisdn)s moving from %(from)s to %(to)s keeps its holder.",
            params={"msisdn": current.msisdn, "from": from_status, "to": to_status},
            code="subscriber_not_allowed",
        )
    return apply_move(current, to_status=to_status, actor=actor, reason=reason, now=now, subscriber=subscriber)


def apply_move(
    current: MobileNumber, *, to_status: str, actor, reason: str, now: datetime, subscriber: Subscriber | None = None
) -> MobileNumber:
    """Write a checked move of a locked number: the ledger, its transfers, the status.

    Called by number_transition after its checks, and by the lifecycle job (which
    acts as itself, not as an employee) after the policy's own checks.
    """
    from_status = current.status
    is_sale = from_status not in HELD_STATUSES and to_status in HELD_STATUSES
    is_withdrawal = from_status in HELD_STATUSES and to_status not in HELD_STATUSES
    with service_write_scope():
        if is_sale:
            start_holding(
                current,
                subscriber,
                start_reason=HoldingStartReason.SALE,
                actor=actor,
                note=reason,
                reason=reason,
                now=now,
            )
        if is_withdrawal or to_status == NumberStatus.BLOCKED:
            close_open_transfers(number=current, actor=actor, reason=reason, now=now, withdrawn=is_withdrawal)
        if is_withdrawal:
            end_holding(
                current, end_reason=HoldingEndReason.WITHDRAWAL, actor=actor, note=reason, reason=reason, now=now
            )
            current.holder = None
            current.activated_at = None
        current.status = to_status
        current.status_changed_at = now
        stamp_change(current, actor=actor, reason=reason)
        current.save()
    assert_ledger_matches(current)
    return current


def _refuse_while_emergency_block(number: MobileNumber) -> None:
    """A number frozen by a complaint leaves that state only from the complaint
    (which lifts its block first): not from the admin, a command or a job."""
    reference = registry.emergency_block_reference(number)  # complaints answer (numbers.registry)
    if reference is not None:
        raise IllegalMove(
            "%(msisdn)s is blocked for complaint %(ref)s; only that complaint can lift the block or restore it.",
            params={"msisdn": number.msisdn, "ref": reference},
            code="emergency_block",
        )


def _refuse_during_quarantine(number: MobileNumber, now: datetime) -> None:
    """A withdrawn number ages for the whole quarantine, counted from the end of its
    last holding, before anyone else can have it (a database trigger holds the minimum)."""
    ended = Holding.objects.filter(number=number, ended_at__isnull=False).aggregate(last=Max("ended_at"))["last"]
    if ended is None:
        return
    days = policy().quarantine_days
    until = ended + timedelta(days=days)
    if now < until:
        raise IllegalMove(
            "%(msisdn)s is in quarantine until %(until)s (%(days)s days from the end of its last holding): "
            "nobody else can have it before then. Its last holder can have it back meanwhile.",
            params={"msisdn": number.msisdn, "until": timezone.localtime(until).strftime("%d %b %Y"), "days": days},
            code="quarantine",
        )


def number_sell(*, number: MobileNumber, subscriber: Subscriber, actor, reason: str) -> MobileNumber:
    """Sell an available (or reserved) number: there is no previous holder to ask."""
    return number_transition(
        number=number, to_status=NumberStatus.ACTIVE, subscriber=subscriber, actor=actor, reason=reason
    )


def number_block(*, number: MobileNumber, actor, reason: str) -> MobileNumber:
    """Freeze a held number for a complaint: nothing but unblocking moves it."""
    return number_transition(number=number, to_status=NumberStatus.BLOCKED, actor=actor, reason=reason)


def number_unblock(*, number: MobileNumber, actor, reason: str, to_status: str = NumberStatus.ACTIVE) -> MobileNumber:
    # Read fresh: the caller's copy may predate the block.
    if MobileNumber.objects.filter(pk=number.pk).values_list("status", flat=True).first() != NumberStatus.BLOCKED:
        raise IllegalMove("%(msisdn)s is not blocked.", params={"msisdn": number.msisdn}, code="not_blocked")
    return number_transition(number=number, to_status=to_status, actor=actor, reason=reason)


def require_previous_holder(number: MobileNumber, subscriber: Subscriber) -> None:
    """A restoration gives a number back only to someone the ledger shows held it."""
    if not Holding.objects.filter(number=number, subscriber=subscriber, ended_at__isnull=False).exists():
        raise ValidationError(
            "%(name)s never held %(msisdn)s: a restoration only gives a number back to a previous holder.",
            params={"name": subscriber.full_name, "msisdn": number.msisdn},
            code="not_previous_holder",
        )


@audited
def number_restore(*, number: MobileNumber, to_subscriber: Subscriber, actor, reason: str, grounds: str) -> Holding:
    """Give a blocked number back to a previous holder: close the wrongful holding,
    open the rightful one, both kept in the ledger. Only for an approved restoration
    (``complaints.services.restoration_approve``); a database trigger refuses the
    new holding otherwise. The number stays blocked until its block is lifted."""
    reason = require_reason(reason)
    now = timezone.now()
    current = MobileNumber.objects.select_for_update().get(pk=number.pk)
    require_branch_perm(actor, ("supervise_branch",), current.branch_id, "restore numbers")
    if current.status != NumberStatus.BLOCKED:
        raise IllegalMove(
            "%(msisdn)s must be blocked before it is restored.", params={"msisdn": current.msisdn}, code="not_blocked"
        )
    if current.holder_id == to_subscriber.pk:
        raise ValidationError("%(msisdn)s is already held by this subscriber.", params={"msisdn": current.msisdn})
    require_previous_holder(current, to_subscriber)
    note = f"{grounds}: {reason}"
    with service_write_scope():
        end_holding(current, end_reason=HoldingEndReason.RESTORATION, actor=actor, note=note, reason=reason, now=now)
        new = start_holding(
            current,
            to_subscriber,
            start_reason=HoldingStartReason.RESTORATION,
            actor=actor,
            note=note,
            reason=reason,
            now=now,
        )
        stamp_change(current, actor=actor, reason=f"Restored to rightful holder ({grounds}): {reason}")
        current.save()
    assert_ledger_matches(current)
    return new


@audited
def number_record_topup(*, number: MobileNumber, actor, reason: str, at: datetime | None = None) -> MobileNumber:
    """A top-up or payment restarts the 90-day inactivity period."""
    reason = require_reason(reason)
    current = MobileNumber.objects.select_for_update().get(pk=number.pk)
    require_branch_perm(actor, ("operate_branch",), current.branch_id, "record top-ups")
    if current.status not in HELD_STATUSES:
        raise ValidationError(
            "%(msisdn)s is %(status)s: only a held number is topped up.",
            params={"msisdn": current.msisdn, "status": current.status},
        )
    current.last_topup_at = at or timezone.now()
    stamp_change(current, actor=actor, reason=reason)
    current.save(update_fields=["last_topup_at"])
    return current


# --- Subscribers --------------------------------------------------------------


@audited
def subscriber_create(
    *,
    full_name: str,
    id_document_type: str,
    id_document_number: str,
    actor,
    reason: str,
    contact_msisdn: str = "",
    alternate_msisdn: str = "",
    registered_branch: Branch | None = None,
) -> Subscriber:
    """Register a customer; the document number is kept hashed, by its last characters and sealed."""
    reason = require_reason(reason)
    require_working(actor)
    if not actor.has_perm("numbers.add_subscriber"):
        raise PermissionDenied("You may not register subscribers.")
    if id_document_type not in IdentityDocumentType.values:
        raise ValidationError("Choose a known identity document type.", code="document_type")
    document = normalize_document_number(id_document_number)
    if not document:
        raise ValidationError("Enter the identity document number.", code="document_required")
    if not (full_name or "").strip():
        raise ValidationError("Enter the subscriber's full name.", code="name_required")
    if Subscriber.objects.filter(id_document_type=id_document_type, id_document_hash=document_hash(document)).exists():
        raise ValidationError("A subscriber with this identity document already exists.", code="duplicate_document")
    subscriber = Subscriber(
        full_name=full_name.strip(),
        id_document_type=id_document_type,
        **identity_fields(document),
        contact_msisdn=normalize_msisdn(contact_msisdn) if contact_msisdn else "",
        alternate_msisdn=normalize_msisdn(alternate_msisdn) if alternate_msisdn else "",
        registered_branch=registered_branch,
        created_by=actor,
    )
    stamp_change(subscriber, actor=actor, reason=reason)
    subscriber.save()
    return subscriber


SUBSCRIBER_EDITABLE_FIELDS = (
    "full_name",
    "id_document_type",
    "id_document_number",
    "contact_msisdn",
    "alternate_msisdn",
)
# Who the holder of a number is and how they are reached: changed only by a consented,
# four-eyes change request (numbers/services/subscriber_changes.py) while they hold one.
HOLDER_GUARDED_FIELDS = frozenset(SUBSCRIBER_EDITABLE_FIELDS)


def subscriber_holds_a_number(subscriber: Subscriber) -> bool:
    return Holding.objects.open().filter(subscriber=subscriber).exists()


def subscriber_pending_changes(current: Subscriber, changes: dict) -> dict:
    """The changes that really change something, normalized; the document number as typed
    becomes its stored form (hash, last characters, sealed)."""
    changes = dict(changes)
    document = changes.pop("id_document_number", None)
    for field in ("contact_msisdn", "alternate_msisdn"):
        if changes.get(field):
            changes[field] = normalize_msisdn(changes[field])
    if "full_name" in changes:
        changes["full_name"] = (changes["full_name"] or "").strip()
        if not changes["full_name"]:
            raise ValidationError("Enter the subscriber's full name.", code="name_required")
    if document is not None:
        # Normalized before the comparison: "ab-123" for a stored "AB123" is no identity change.
        document = normalize_document_number(document)
        if not document:
            raise ValidationError("Enter the identity document number.", code="document_required")
        if document_hash(document) != current.id_document_hash:
            changes.update(identity_fields(document))
    return {field: value for field, value in changes.items() if getattr(current, field) != value}


@audited
def subscriber_update(*, subscriber: Subscriber, actor, reason: str, **changes) -> Subscriber:
    """Correct the details of a subscriber who holds no number; who and why are kept in history.

    A holder's name, document and contact numbers are who the number belongs to and where
    their consent is asked: those change only by ``subscriber_change_request``.
    """
    reason = require_reason(reason)
    require_working(actor)
    if not actor.has_perm("numbers.change_subscriber"):
        raise PermissionDenied("You may not change subscribers.")
    unknown = sorted(set(changes) - set(SUBSCRIBER_EDITABLE_FIELDS))
    if unknown:
        raise ValidationError("These fields cannot be changed here: %(f)s.", params={"f": ", ".join(unknown)})
    current = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    if current.registered_branch_id is not None:
        require_branch_perm(actor, ("operate_branch",), current.registered_branch_id, "change this subscriber")
    if changes.get("id_document_type", current.id_document_type) not in IdentityDocumentType.values:
        raise ValidationError("Choose a known identity document type.", code="document_type")
    changes = subscriber_pending_changes(current, changes)
    if not changes:
        return current
    if subscriber_holds_a_number(current):
        raise ValidationError(
            "%(name)s holds a number: their name, identity document and contact numbers change only "
            "by a subscriber change request, with their consent and a supervisor's approval.",
            params={"name": current.full_name},
            code="holder_change_needs_request",
        )
    if {"id_document_type", "id_document_hash"}.intersection(changes):
        # Rewriting who a subscriber is would be a takeover by the back door.
        require_branch_perm(actor, ("supervise_branch",), current.registered_branch_id, "change an identity document")
        if (
            Subscriber.objects.filter(
                id_document_type=changes.get("id_document_type", current.id_document_type),
                id_document_hash=changes.get("id_document_hash", current.id_document_hash),
            )
            .exclude(pk=current.pk)
            .exists()
        ):
            raise ValidationError("A subscriber with this identity document already exists.", code="duplicate_document")
    for field, value in changes.items():
        setattr(current, field, value)
    current.full_clean()
    stamp_change(current, actor=actor, reason=reason)
    current.save()
    return current
