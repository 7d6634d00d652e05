"""The development phone: keeps what each handset received, codes included.

For the demo and tests only (the default with DEBUG on, or a test's settings): the /dev/phone/ screen
reads it, as the subscriber's handset would show it. The outbox keeps codes
masked; this file is the handset, not a record, and never exists in production.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from . import BaseSmsBackend, Sms


def _path() -> Path:
    return Path(settings.SMS_DEV_PHONE_FILE)


class DevPhoneBackend(BaseSmsBackend):
    """Appends each message to ``SMS_DEV_PHONE_FILE``; the default only with DEBUG on."""

    def send_messages(self, messages: list[Sms]) -> int:
        path = _path()
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handset:
            for message in messages:
                line = {
                    "to": message.to,
                    "text": message.body,
                    "purpose": message.purpose,
                    "reference": message.reference,
                    "received_at": timezone.now().isoformat(),
                }
                handset.write(json.dumps(line) + "\n")
        return len(messages)


def received(to: str | None = None) -> list[dict]:
    """What the handsets received, oldest first; one number's when ``to`` is given."""
    path = _path()
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handset:
        lines = [json.loads(line) for line in handset if line.strip()]
    return [line for line in lines if to is None or line["to"] == to]
