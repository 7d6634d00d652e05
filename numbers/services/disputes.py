"""The holder stops a transfer by SMS: "NO T-12" in reply to the request's notice.

The notice goes to the number itself and the holder's contact number; a reply
from either is the holder's own channel, which staff cannot produce at the
counter. The open request is cancelled and marked disputed; an executed one is
marked disputed. Either way the complaints app opens a complaint (numbers.signals).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audit.context import audited
from backoffice.history import require_reason, stamp_change
from backoffice.msisdn import InvalidMsisdn, normalize_msisdn

from ..choices import OPEN_TRANSFER_STATES, TransferState
from ..models import TransferDispute, TransferRequest, service_write_scope
from ..signals import transfer_disputed
from ._requests import close_request, locked_request


def _holder_channels(request: TransferRequest) -> set[str]:
    """Where the request's notice went: the number while it is the holder's, and
    the holder's contact number."""
    holder = request.from_holder
    channels = {holder.contact_msisdn or holder.alternate_msisdn} - {""}
    if request.state in OPEN_TRANSFER_STATES and request.number.holder_id == holder.pk:
        channels.add(request.number.msisdn)
    return channels


@audited
def transfer_dispute(*, request: TransferRequest, sender: str, text: str, actor=None, reason: str) -> TransferDispute:
    """The holder refused the request from their own phone. Only the SMS gateway's
    job calls this (no employee acts): staff who hear a "no" cancel the request."""
    reason = require_reason(reason)
    if actor is not None:
        raise PermissionDenied("Only the holder disputes a request, by SMS reply; staff cancel it instead.")
    now = timezone.now()
    request = locked_request(request)
    try:
        sender = normalize_msisdn(sender)
    except InvalidMsisdn as exc:
        raise PermissionDenied("This reply did not come from a mobile number.") from exc
    if sender not in _holder_channels(request):
        raise PermissionDenied(
            "This reply did not come from the number or its holder's contact number; "
            f"{request.reference} stays as it is."
        )
    if TransferDispute.objects.filter(request=request).exists():
        raise ValidationError(f"{request.reference} was already disputed by the holder.", code="already_disputed")
    if request.state in OPEN_TRANSFER_STATES:
        close_request(
            request, state=TransferState.CANCELLED, actor=None, reason=f"Disputed by the holder: {reason}", now=now
        )
    elif request.state != TransferState.EXECUTED:
        raise ValidationError(
            f"{request.reference} is already closed ({request.get_state_display().lower()}): nothing to stop.",
            code="not_open",
        )
    dispute = TransferDispute(request=request, disputed_at=now, sender=sender, reason=f"{reason} Text: {text.strip()}")
    stamp_change(dispute, actor=None, reason=reason)
    with service_write_scope():
        dispute.save()
    transfer_disputed.send(sender=TransferDispute, dispute=dispute, text=text)
    return dispute
