"""Sending SMS: stored with the change that decided it, delivered after commit.

A message about a transfer that then rolled back would tell a subscriber
something that did not happen; a message sent twice (a retry, two workers)
would alarm them. See backoffice.delivery for how both are ruled out.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.module_loading import import_string

from backoffice.delivery import Outcome, create_once, deliver, deliver_due, dispatch_after_commit
from numbers.msisdn import normalize_msisdn

from .backends import BaseSmsBackend, Sms
from .choices import SmsPurpose
from .models import SmsMessage


def get_backend() -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)()


def sms_send(*, to: str, body: str, purpose: str, dedupe_key: str | None = None) -> SmsMessage | None:
    """Store one message for delivery once the current transaction commits.

    With a ``dedupe_key`` already used, nothing is stored and None is returned.
    """
    from .tasks import deliver_sms

    message = create_once(
        SmsMessage,
        dedupe_key=dedupe_key,
        reason=f"Message to the subscriber ({SmsPurpose(purpose).label}).",
        to_msisdn=normalize_msisdn(to),
        body=body,
        purpose=purpose,
    )
    if message is not None:
        dispatch_after_commit(deliver_sms, message.pk)
    return message


def sms_deliver(*, message_id: int) -> Outcome:
    """Hand one stored message to the gateway, at most once; run by the delivery task."""

    def send(message: SmsMessage) -> None:
        sms = Sms(to=message.to_msisdn, body=message.body, purpose=message.purpose, reference=f"sms-{message.pk}")
        get_backend().send_messages([sms])

    return deliver(SmsMessage, message_id, send)


def sms_deliver_due(*, now=None, limit: int = 1000) -> int:
    """Retry what failed (after its backoff) or never left; returns how many were sent."""
    return deliver_due(SmsMessage, lambda pk: sms_deliver(message_id=pk), now=now, limit=limit)
