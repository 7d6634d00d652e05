"""Consents to a transfer captured in person or by signed form, revoked, and confirmed by a
second employee (the one-time code consents are in transfers.py, beside the request's
code budget)."""

from __future__ import annotations

import uuid

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.utils import timezone

from audit.context import audited
from backoffice.history import require_reason, stamp_change
from backoffice.msisdn import format_msisdn
from sms.choices import SmsPurpose

from ..choices import OPEN_TRANSFER_STATES, ConsentMethod, ConsentParty
from ..identity import document_matches
from ..models import (
    TransferConsent,
    TransferRequest,
    mask_document_number,
    needs_confirmation,
    normalize_document_number,
    service_write_scope,
)
from ..selectors import cooling_off_ends
from ._requests import check_consent_capture, consent_lapses_at, locked_request, require_open, save_consent, sync_state
from ._shared import (
    PHOTO_KINDS,
    SIGNED_FORM_SIGNATURES,
    check_upload,
    require_branch_perm,
    tell_subscriber,
    upload_kind,
)


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
    request = locked_request(request)
    subscriber = check_consent_capture(request, party, actor, now, method=ConsentMethod.IN_PERSON)
    shown = normalize_document_number(document_number)
    if not shown:
        raise ValidationError("Enter the number of the identity document shown.", code="document_required")
    if not document_matches(subscriber, document_type, shown):
        raise ValidationError(
            "The identity document shown does not match %(name)s's record. Consent was not recorded.",
            params={"name": subscriber.full_name},
            code="document_mismatch",
        )
    if party == ConsentParty.CURRENT_HOLDER:
        check_upload(
            document_photo, what="photo of the document shown", kinds=PHOTO_KINDS, described="a JPEG or PNG image"
        )
        document_photo.name = f"{uuid.uuid4().hex}.{upload_kind(document_photo)}"
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
        lapses_at=consent_lapses_at(request, now),
        note=note,
    )
    return save_consent(consent, request, actor=actor, reason=reason, now=now)


@audited
def consent_record_signed_form(
    *, request: TransferRequest, party: str, signed_form: File, actor, reason: str, note: str = ""
) -> TransferConsent:
    """A form signed by the party, scanned and uploaded; kept as evidence. The
    requester can upload anything, so the holder's form counts only once a second
    employee confirms it (``transfer_confirm_consent``)."""
    reason = require_reason(reason)
    now = timezone.now()
    request = locked_request(request)
    subscriber = check_consent_capture(request, party, actor, now, method=ConsentMethod.SIGNED_FORM)
    check_upload(signed_form, what="signed form", kinds=SIGNED_FORM_SIGNATURES, described="a PDF, JPEG or PNG scan")
    # A random name: the uploader's file name may itself carry personal data.
    signed_form.name = f"{uuid.uuid4().hex}.{upload_kind(signed_form)}"
    consent = TransferConsent(
        request=request,
        party=party,
        subscriber=subscriber,
        method=ConsentMethod.SIGNED_FORM,
        signed_form=signed_form,
        captured_by=actor,
        captured_at=now,
        lapses_at=consent_lapses_at(request, now),
        note=note,
    )
    return save_consent(consent, request, actor=actor, reason=reason, now=now)


@audited
def consent_revoke(*, consent: TransferConsent, actor, reason: str) -> TransferConsent:
    """A party may take consent back at any time until the transfer is approved."""
    reason = require_reason(reason)
    now = timezone.now()
    request = locked_request(consent.request)
    require_branch_perm(actor, ("operate_branch", "supervise_branch"), request.branch_id, "revoke consents")
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
        sync_state(request, actor=actor, reason=reason, now=now)
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
    request = locked_request(consent.request)
    require_branch_perm(actor, ("operate_branch", "supervise_branch"), request.branch_id, "confirm consents")
    require_open(request, now)
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
        sync_state(request, actor=actor, reason=reason, now=now)
    ends = cooling_off_ends(request)
    tell_subscriber(
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
