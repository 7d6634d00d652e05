"""Sealing a one-time code between the outbox and the gateway.

The outbox row keeps the message with the code masked; the code itself waits in
``SmsMessage.sealed_secret`` only until delivery, sealed with ``SMS_SEAL_KEY``
(a key from the environment, not ``SECRET_KEY``), and is wiped once the message
went or the portal gave up. The seal is a one-time pad drawn from HMAC-SHA256
under a fresh nonce, with an HMAC tag: a short secret (a code, at most 32 bytes)
needs nothing more, and no new dependency.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from django.conf import settings

MAX_SECRET_BYTES = 32


class SealBroken(Exception):
    """The sealed secret was altered or sealed with another key."""


def _key() -> bytes:
    return settings.SMS_SEAL_KEY.encode()


def _mac(label: bytes, data: bytes) -> bytes:
    return hmac.new(_key(), label + data, hashlib.sha256).digest()


def seal(secret: str) -> str:
    data = secret.encode()
    if not 0 < len(data) <= MAX_SECRET_BYTES:
        raise ValueError(f"A sealed secret is 1 to {MAX_SECRET_BYTES} bytes.")
    nonce = secrets.token_bytes(16)
    cipher = bytes(a ^ b for a, b in zip(data, _mac(b"sms-seal:pad:", nonce), strict=False))
    tag = _mac(b"sms-seal:tag:", nonce + cipher)[:16]
    return base64.urlsafe_b64encode(nonce + tag + cipher).decode()


def unseal(sealed: str) -> str:
    raw = base64.urlsafe_b64decode(sealed.encode())
    nonce, tag, cipher = raw[:16], raw[16:32], raw[32:]
    if not hmac.compare_digest(tag, _mac(b"sms-seal:tag:", nonce + cipher)[:16]):
        raise SealBroken("The sealed secret does not match its key.")
    return bytes(a ^ b for a, b in zip(cipher, _mac(b"sms-seal:pad:", nonce), strict=False)).decode()
