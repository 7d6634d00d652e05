"""Who a holder is and how they are reached change only with their consent and four eyes;
their document numbers leave the database only through a four-eyes compliance export.

A change request captures the holder's consent by a one-time code sent to a number
they hold (the staff cannot read it), tells the old contact number and every held
number by SMS, and waits for a supervisor of the branch who did not ask. The
compliance export is asked by one employee with the export authority and approved by
another (a superuser alone is not one); the approver receives the decrypted CSV once.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audit.context import audited
from backoffice.history import require_reason, stamp_change
from backoffice.msisdn import format_msisdn, normalize_msisdn
from backoffice.spreadsheet import safe_row
from sms.choices import SmsPurpose
from sms.services import SECRET_SLOT, sms_send
from staff.selectors import has_branch_perm

from ..choices import OPEN_SUBSCRIBER_CHANGE_STATES, IdentityDocumentType, IdentityExportState, SubscriberChangeState
from ..codes import code_matches, new_code
from ..identity import unseal_document
from ..models import (
    Holding,
    IdentityExport,
    MobileNumber,
    Subscriber,
    SubscriberChangeRequest,
    service_write_scope,
)
from ._shared import record_decision, require_working
from .inventory import HOLDER_GUARDED_FIELDS, subscriber_pending_changes

# The Subscriber fields a change request may carry, and where it keeps each new value.
CHANGE_FIELDS = {
    "full_name": "new_full_name",
    "id_document_type": "new_document_type",
    "id_document_hash": "new_document_hash",
    "id_document_last4": "new_document_last4",
    "id_document_sealed": "new_document_sealed",
    "contact_msisdn": "new_contact_msisdn",
    "alternate_msisdn": "new_alternate_msisdn",
}
FIELD_LABELS = {
    "full_name": "name",
    "id_document_type": "identity document",
    "id_document_hash": "identity document",
    "contact_msisdn": "contact number",
    "alternate_msisdn": "alternate contact number",
}


CODE_LABEL = "numbers.subscriber_change_code"


def _locked(change: SubscriberChangeRequest) -> SubscriberChangeRequest:
    return (
        SubscriberChangeRequest.objects.select_for_update(of=("self",)).select_related("subscriber").get(pk=change.pk)
    )


def _require_open(change: SubscriberChangeRequest, state: str | None = None) -> None:
    if not change.is_open or (state and change.state != state):
        raise ValidationError(
            "Subscriber change %(ref)s is %(state)s.",
            params={"ref": change.reference, "state": change.get_state_display().lower()},
            code="not_open",
        )


def _held_numbers(subscriber: Subscriber) -> list[MobileNumber]:
    held = Holding.objects.open().filter(subscriber=subscriber).values("number_id")
    return list(MobileNumber.objects.filter(pk__in=held, holder=subscriber).order_by("msisdn"))


@audited
def subscriber_change_request(
    *, subscriber: Subscriber, code_to: str, actor, reason: str, **changes
) -> SubscriberChangeRequest:
    """Ask to change a holder's name, identity document or contact numbers.

    ``code_to`` is one of the numbers the subscriber holds: the one-time code goes
    there, so only whoever has that SIM can consent. The old contact number and every
    held number are told of the request.
    """
    reason = require_reason(reason)
    require_working(actor)
    if not actor.has_perm("numbers.change_subscriber"):
        raise PermissionDenied("You may not change subscribers.")
    unknown = sorted(set(changes) - HOLDER_GUARDED_FIELDS)
    if unknown:
        raise ValidationError("These fields cannot be changed here: %(f)s.", params={"f": ", ".join(unknown)})
    current = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    if changes.get("id_document_type", current.id_document_type) not in IdentityDocumentType.values:
        raise ValidationError("Choose a known identity document type.", code="document_type")
    held = _held_numbers(current)
    if not held:
        raise ValidationError(
            "%(name)s holds no number: correct their details directly.",
            params={"name": current.full_name},
            code="not_a_holder",
        )
    target = next((n for n in held if n.msisdn == normalize_msisdn(code_to or "")), None) if code_to else None
    if target is None:
        raise ValidationError("Choose one of the numbers the subscriber holds for the code.", code="code_to")
    if not has_branch_perm(actor, "operate_branch", target.branch_id):
        raise PermissionDenied("You have no authority to change subscribers for this branch.")
    pending = subscriber_pending_changes(current, changes)
    if not pending:
        raise ValidationError("Nothing would change.", code="no_change")
    if {"id_document_type", "id_document_hash"} & set(pending):
        new_type = pending.get("id_document_type", current.id_document_type)
        new_hash = pending.get("id_document_hash", current.id_document_hash)
        if (
            Subscriber.objects.filter(id_document_type=new_type, id_document_hash=new_hash)
            .exclude(pk=current.pk)
            .exists()
        ):
            raise ValidationError("A subscriber with this identity document already exists.", code="duplicate_document")
        # The stored form is whole: a type change alone keeps the document and its hash.
        pending.setdefault("id_document_hash", current.id_document_hash)
        pending.setdefault("id_document_last4", current.id_document_last4)
        pending.setdefault("id_document_sealed", current.id_document_sealed)
        pending.setdefault("id_document_type", current.id_document_type)
    if SubscriberChangeRequest.objects.filter(subscriber=current, state__in=OPEN_SUBSCRIBER_CHANGE_STATES).exists():
        raise ValidationError("This subscriber already has an open change request.", code="already_open")
    now = timezone.now()
    code, code_hash = new_code(CODE_LABEL)
    change = SubscriberChangeRequest(
        subscriber=current,
        branch_id=target.branch_id,
        changed_fields=",".join(sorted(pending)),
        code_sent_to=target.msisdn,
        code_hash=code_hash,
        code_expires_at=now + timedelta(minutes=settings.TRANSFER_CODE_TTL_MINUTES),
        requested_by=actor,
        requested_at=now,
        request_reason=reason,
        **{CHANGE_FIELDS[field]: value for field, value in pending.items()},
    )
    stamp_change(change, actor=actor, reason=reason)
    with service_write_scope():
        change.save()
    what = ", ".join(dict.fromkeys(FIELD_LABELS[f] for f in pending if f in FIELD_LABELS))
    sms_send(
        to=target.msisdn,
        purpose=SmsPurpose.CONSENT_CODE,
        secret=code,  # the outbox keeps it masked; only the gateway call carries it
        body=(
            f"{SECRET_SLOT} is your code to AGREE to change your {what} at our branch (ref {change.reference}). "
            f"Valid {settings.TRANSFER_CODE_TTL_MINUTES} minutes. Only give it to staff if you asked for this."
        ),
    )
    notice = f"A change of your {what} was requested at our branch (ref {change.reference}). Not you? Call 1777."
    for to in dict.fromkeys(filter(None, [current.contact_msisdn, *(n.msisdn for n in held)])):
        sms_send(to=to, purpose=SmsPurpose.NOTICE, body=notice)
    return change


def subscriber_change_consent(*, change: SubscriberChangeRequest, code: str, actor, reason: str):
    """The holder read back the code sent to their number. A wrong try is counted even
    though the call fails, so the refusal is returned by the transaction, then raised."""
    reason = require_reason(reason)
    outcome = _subscriber_change_consent(change=change, code=(code or "").strip(), actor=actor, reason=reason)
    if isinstance(outcome, ValidationError):
        raise outcome
    return outcome


@audited
def _subscriber_change_consent(*, change: SubscriberChangeRequest, code: str, actor, reason: str):
    require_working(actor)
    change = _locked(change)
    if not has_branch_perm(actor, "operate_branch", change.branch_id):
        raise PermissionDenied("You have no authority to record consents for this branch.")
    _require_open(change, SubscriberChangeState.AWAITING_CONSENT)
    if change.code_attempts >= settings.TRANSFER_CODE_MAX_ATTEMPTS:
        raise ValidationError("This code is locked after too many wrong tries.", code="code_locked")
    now = timezone.now()
    if change.code_expires_at <= now:
        raise ValidationError("This code has expired; withdraw the request and ask again.", code="code_expired")
    with service_write_scope():
        if not code_matches(CODE_LABEL, code, change.code_hash):
            change.code_attempts += 1
            stamp_change(change, actor=actor, reason=f"Wrong code: {reason}")
            change.save(update_fields=["code_attempts"])
            return ValidationError("Wrong code; the holder's consent is not recorded.", code="wrong_code")
        if not MobileNumber.objects.filter(msisdn=change.code_sent_to, holder=change.subscriber).exists():
            raise ValidationError("The subscriber no longer holds the number the code went to.", code="holder_changed")
        change.consented_at = now
        change.state = SubscriberChangeState.AWAITING_APPROVAL
        stamp_change(change, actor=actor, reason=reason)
        change.save(update_fields=["consented_at", "state"])
    return change


def subscriber_change_approval_blockers(change: SubscriberChangeRequest, actor) -> list[str]:
    blockers = []
    if not has_branch_perm(actor, "supervise_branch", change.branch_id):
        blockers.append("You have no authority to approve subscriber changes for this branch.")
    if actor.is_superuser:
        blockers.append("Superuser accounts do not approve: approval is a named supervisor's accountable duty.")
    if change.requested_by_id == actor.pk:
        blockers.append("You made this request: another supervisor must approve it.")
    if change.state != SubscriberChangeState.AWAITING_APPROVAL:
        blockers.append(f"The request is {change.get_state_display().lower()}.")
    return blockers


@audited
def subscriber_change_approve(*, change: SubscriberChangeRequest, actor, reason: str) -> SubscriberChangeRequest:
    """A supervisor of the branch, not the requester and not a superuser alone, applies the change."""
    reason = require_reason(reason)
    require_working(actor)
    change = _locked(change)
    blockers = subscriber_change_approval_blockers(change, actor)
    if blockers:
        raise PermissionDenied(" ".join(blockers))
    subscriber = Subscriber.objects.select_for_update().get(pk=change.subscriber_id)
    for field in change.fields:
        setattr(subscriber, field, getattr(change, CHANGE_FIELDS[field]))
    if (
        Subscriber.objects.filter(
            id_document_type=subscriber.id_document_type, id_document_hash=subscriber.id_document_hash
        )
        .exclude(pk=subscriber.pk)
        .exists()
    ):
        raise ValidationError("A subscriber with this identity document already exists.", code="duplicate_document")
    subscriber.full_clean()
    stamp_change(subscriber, actor=actor, reason=f"Subscriber change {change.reference} approved: {reason}")
    subscriber.save()
    record_decision(
        change,
        state=SubscriberChangeState.APPROVED,
        actor=actor,
        reason=reason,
        now=timezone.now(),
        update_fields=["state", "decided_by", "decided_at", "decision_reason"],
    )
    return change


@audited
def subscriber_change_reject(*, change: SubscriberChangeRequest, actor, reason: str) -> SubscriberChangeRequest:
    """A supervisor of the branch rejects, or the requester withdraws; stopping never harms a holder."""
    reason = require_reason(reason)
    require_working(actor)
    change = _locked(change)
    _require_open(change)
    if change.requested_by_id != actor.pk and not has_branch_perm(actor, "supervise_branch", change.branch_id):
        raise PermissionDenied("Only a supervisor of the branch or the requester may stop this change.")
    record_decision(
        change,
        state=SubscriberChangeState.REJECTED,
        actor=actor,
        reason=reason,
        now=timezone.now(),
        update_fields=["state", "decided_by", "decided_at", "decision_reason"],
    )
    return change


# --- The compliance export ----------------------------------------------------------


def _require_export_authority(actor) -> None:
    require_working(actor)
    if not actor.has_perm("numbers.export_identity"):
        raise PermissionDenied("You have no authority over compliance exports of identity documents.")


@audited
def identity_export_request(*, subscribers: list[Subscriber], actor, reason: str) -> IdentityExport:
    """Ask for the documents of these subscribers (SIM registration); a second employee approves."""
    reason = require_reason(reason)
    _require_export_authority(actor)
    ids = sorted({s.pk for s in subscribers})
    if not ids:
        raise ValidationError("Choose at least one subscriber to export.", code="empty")
    export = IdentityExport(subscribers=ids, requested_by=actor, request_reason=reason)
    stamp_change(export, actor=actor, reason=reason)
    with service_write_scope():
        export.save()
    return export


@audited
def identity_export_approve(*, export: IdentityExport, actor, reason: str) -> str:
    """Approve and receive the decrypted CSV, once: the export is then delivered for good."""
    reason = require_reason(reason)
    _require_export_authority(actor)
    if actor.is_superuser:
        raise PermissionDenied("Superuser accounts do not approve exports: a named employee does.")
    export = IdentityExport.objects.select_for_update().get(pk=export.pk)
    if export.requested_by_id == actor.pk:
        raise PermissionDenied("You asked for this export: another employee must approve it.")
    if export.state != IdentityExportState.REQUESTED:
        raise ValidationError("Export #%(pk)s was already delivered.", params={"pk": export.pk}, code="delivered")
    export.state = IdentityExportState.DELIVERED
    export.approved_by = actor
    export.approved_at = timezone.now()
    export.approve_reason = reason
    stamp_change(export, actor=actor, reason=reason)
    with service_write_scope():
        export.save(update_fields=["state", "approved_by", "approved_at", "approve_reason"])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["subscriber_id", "full_name", "document_type", "document_number", "held_numbers"])
    for subscriber in Subscriber.objects.filter(pk__in=export.subscribers).order_by("pk"):
        held = " ".join(format_msisdn(n.msisdn) for n in _held_numbers(subscriber))
        writer.writerow(
            safe_row(
                [
                    subscriber.pk,
                    subscriber.full_name,
                    subscriber.id_document_type,
                    unseal_document(subscriber.id_document_sealed),
                    held,
                ]
            )
        )
    return out.getvalue()
