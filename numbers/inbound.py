"""The SMS keywords the numbers app answers (registered in NumbersConfig.ready)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from .models import TransferRequest
from .services.disputes import transfer_dispute

REFERENCE = re.compile(r"^T-?(\d{1,12})$", re.IGNORECASE)


def reply_no(*, sender: str, argument: str, text: str) -> str:
    """ "NO T-12": the holder stops transfer request T-12 (see transfer_dispute)."""
    match = REFERENCE.match(argument.split()[0] if argument else "")
    if match is None:
        raise ValidationError("Reply NO followed by the reference in the notice, e.g. NO T-12.", code="no_reference")
    request = TransferRequest.objects.select_related("number", "from_holder").filter(pk=int(match.group(1))).first()
    if request is None:
        raise ValidationError(f"There is no transfer request T-{match.group(1)}.", code="unknown_reference")
    transfer_dispute(
        request=request, sender=sender, text=text, reason=f"The holder replied {text.strip()!r} by SMS from {sender}."
    )
    request.refresh_from_db()
    return f"{request.reference} is disputed by the holder ({request.get_state_display().lower()})."
