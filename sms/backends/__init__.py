"""SMS delivery backends, chosen by the SMS_BACKEND setting like Django's email backends."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sms:
    to: str
    body: str
    purpose: str
    reference: str = ""  # our message id, for a gateway that deduplicates


class SmsDeliveryError(Exception):
    """The gateway did not take the message; the delivery is retried."""


class BaseSmsBackend:
    def send_messages(self, messages: list[Sms]) -> int:
        raise NotImplementedError
