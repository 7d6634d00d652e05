"""Sending SMS: stored with the change that decided it, delivered after commit.

A message about a transfer that then rolled back would tell a subscriber
something that did not happen; a message sent twice (a retry, two workers)
would alarm them. See backoffice.delivery for how both are ruled out.

A one-time code is passed as ``secret`` and written in the body as
``SECRET_SLOT``: the outbox, its history and every screen keep ``SECRET_MASK``
there, and only the text handed to the gateway carries the code.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string
from simple_history.utils import bulk_create_with_history

from audit.context import audited
from backoffice.delivery import Outcome, create_once, deliver, deliver_due, dispatch_after_commit
from backoffice.msisdn import normalize_msisdn

from .backends import BaseSmsBackend, Sms
from .choices import SmsPurpose
from .inbound import route, split_keyword
from .models import InboundSms, SmsMessage
from .sealing import seal, unseal

SECRET_SLOT = "{secret}"
SECRET_MASK = "••••••"


def get_backend() -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)()


def sms_send(
    *, to: str, body: str, purpose: str, secret: str | None = None, dedupe_key: str | None = None
) -> SmsMessage | None:
    """Store one message for delivery once the current transaction commits.

    With a ``secret`` (a one-time code), ``body`` holds ``SECRET_SLOT`` once: the
    stored body masks it and the secret is sealed until delivery. With a
    ``dedupe_key`` already used, nothing is stored and None is returned.
    """
    from .tasks import deliver_sms

    sealed = ""
    if secret is not None:
        if body.count(SECRET_SLOT) != 1 or not secret:
            raise ValueError(f"A message with a secret names its place once, as {SECRET_SLOT}.")
        body = body.replace(SECRET_SLOT, SECRET_MASK)
        sealed = seal(secret)
    message = create_once(
        SmsMessage,
        dedupe_key=dedupe_key,
        reason=f"Message to the subscriber ({SmsPurpose(purpose).label}).",
        to_msisdn=normalize_msisdn(to),
        body=body,
        sealed_secret=sealed,
        purpose=purpose,
    )
    if message is not None:
        dispatch_after_commit(deliver_sms, message.pk)
    return message


@dataclass(frozen=True)
class Outgoing:
    """One message of a batch (``sms_send_many``): no secret, always a dedupe key."""

    to: str
    body: str
    dedupe_key: str


def sms_send_many(*, messages: list[Outgoing], purpose: str) -> list[SmsMessage]:
    """Store a batch of messages of one purpose in one insert (and one for their
    history), each delivered once the transaction commits, as ``sms_send`` would
    one by one: for a job that tells thousands of holders (the lifecycle's
    warnings). A key already used is left out; the caller holds the rows the keys
    are about, so no other transaction stores the same key meanwhile (if one
    does, the unique key refuses the batch rather than send twice)."""
    from .tasks import deliver_sms

    keys = [message.dedupe_key for message in messages]
    if len(set(keys)) != len(keys) or not all(keys):
        raise ValueError("Each message of a batch has its own dedupe key.")
    used = set(SmsMessage.objects.filter(dedupe_key__in=keys).values_list("dedupe_key", flat=True))
    new = [
        SmsMessage(
            to_msisdn=normalize_msisdn(message.to), body=message.body, purpose=purpose, dedupe_key=message.dedupe_key
        )
        for message in messages
        if message.dedupe_key not in used
    ]
    if not new:
        return []
    created = bulk_create_with_history(
        new, SmsMessage, default_change_reason=f"Message to the subscriber ({SmsPurpose(purpose).label})."
    )
    for message in created:
        dispatch_after_commit(deliver_sms, message.pk)
    return created


def handset_text(message: SmsMessage) -> str:
    """The text as the handset receives it: the body with its code unmasked (for the
    gateway call, and for the demo, which plays the holder's handset)."""
    if not message.sealed_secret:
        return message.body
    return message.body.replace(SECRET_MASK, unseal(message.sealed_secret), 1)


def sms_deliver(*, message_id: int) -> Outcome:
    """Hand one stored message to the gateway, at most once; run by the delivery task.

    The sealed code is wiped with the attempt that delivers it, or with the last
    attempt the portal makes; a retry in between still has it."""

    def send(message: SmsMessage) -> None:
        text = handset_text(message)
        if message.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
            message.sealed_secret = ""
        sms = Sms(to=message.to_msisdn, body=text, purpose=message.purpose, reference=f"sms-{message.pk}")
        get_backend().send_messages([sms])
        message.sealed_secret = ""

    return deliver(SmsMessage, message_id, send)


def sms_deliver_due(*, now=None, limit: int = 1000) -> int:
    """Retry what failed (after its backoff) or never left; returns how many were sent."""
    return deliver_due(SmsMessage, lambda pk: sms_deliver(message_id=pk), now=now, limit=limit)


@audited
def inbound_sms_receive(*, message_id: str, sender: str, text: str, actor=None, reason: str = "") -> InboundSms:
    """Store a subscriber's message once per gateway id and act on its keyword.

    Run by the gateway's endpoint in a job scope (no employee acts). A replay of
    the same id returns the stored message: same answer, nothing changed.
    """
    message_id = (message_id or "").strip()
    if not message_id or len(message_id) > 100:
        raise ValidationError("The gateway's message id is missing or longer than 100 characters.", code="message_id")
    existing = InboundSms.objects.filter(gateway_message_id=message_id).first()
    if existing is not None:
        return existing
    inbound = InboundSms(
        gateway_message_id=message_id,
        sender=(sender or "").strip()[:32],
        text=(text or "")[:1600],
        keyword=split_keyword(text)[0],
    )
    inbound._change_reason = f"SMS received from {inbound.sender or 'an unknown sender'}."
    try:
        with transaction.atomic():
            inbound.save()
    except IntegrityError:  # the same message posted twice at once: the first one answers
        return InboundSms.objects.get(gateway_message_id=message_id)
    reply = route(sender=inbound.sender, text=inbound.text)
    inbound.status, inbound.answer = reply.status, reply.answer
    inbound._change_reason = f"Answered ({inbound.get_status_display().lower()}): {reply.answer}"[:500]
    inbound.save()
    return inbound
