"""Sending SMS: after the transaction that decided it commits, never before.

A message about a transfer that then rolled back would tell a subscriber
something that did not happen.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

from numbers.msisdn import normalize_msisdn

from .backends import BaseSmsBackend, Sms


def get_backend() -> BaseSmsBackend:
    return import_string(settings.SMS_BACKEND)()


def sms_send(*, to: str, body: str, purpose: str) -> None:
    """Queue one message for delivery once the current transaction commits."""
    message = Sms(to=normalize_msisdn(to), body=body, purpose=purpose)
    transaction.on_commit(lambda: get_backend().send_messages([message]))
