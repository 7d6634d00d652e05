"""Identity document numbers, kept so that staff cannot read them.

A subscriber's document number is stored three ways, none of them readable:

- a keyed hash (HMAC-SHA256 with ``IDENTITY_HASH_KEY``, not ``SECRET_KEY``) to
  find and match a document the customer shows or a clerk types in full;
- its last characters, to show on screens and in history;
- sealed (Fernet, ``IDENTITY_ENCRYPTION_KEY``, a key held outside the database)
  for SIM-registration compliance, opened only by a four-eyes compliance export.

Whoever reads the database or a screen learns the last four characters; to
test a guess they would need the hash key, and to read the number the sealing key.
"""

from __future__ import annotations

import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.crypto import constant_time_compare

LAST_CHARACTERS = 4


def normalize_document_number(value: str) -> str:
    """Document numbers are compared without spaces, dashes or case."""
    return "".join(ch for ch in (value or "").upper() if ch.isalnum())


def document_hash(number: str) -> str:
    """The keyed hash of a document number (normalized first): what matching uses."""
    key = settings.IDENTITY_HASH_KEY
    if not key:
        raise ImproperlyConfigured("IDENTITY_HASH_KEY is not set.")
    normalized = normalize_document_number(number)
    return hmac.new(key.encode(), normalized.encode(), hashlib.sha256).hexdigest()


def document_last4(number: str) -> str:
    """What screens show: the last four characters (one for a very short number)."""
    normalized = normalize_document_number(number)
    return normalized[-LAST_CHARACTERS:] if len(normalized) > LAST_CHARACTERS else normalized[-1:]


def mask_last4(last4: str) -> str:
    return f"••••{last4}" if last4 else ""


def _fernet() -> MultiFernet:
    # Comma-separated keys: the first seals, every one opens (key rotation).
    keys = [key.strip() for key in settings.IDENTITY_ENCRYPTION_KEY.split(",") if key.strip()]
    if not keys:
        raise ImproperlyConfigured("IDENTITY_ENCRYPTION_KEY is not set.")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def seal_document(number: str) -> str:
    """The normalized number encrypted with the key held outside the database."""
    return _fernet().encrypt(normalize_document_number(number).encode()).decode()


def unseal_document(sealed: str) -> str:
    """The number itself: only the compliance export calls this."""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("This sealed document cannot be opened with IDENTITY_ENCRYPTION_KEY.") from exc


def identity_fields(number: str) -> dict[str, str]:
    """The stored form of a document number, for a subscriber's three identity columns."""
    return {
        "id_document_hash": document_hash(number),
        "id_document_last4": document_last4(number),
        "id_document_sealed": seal_document(number),
    }


def document_matches(subscriber, document_type: str, shown: str) -> bool:
    """The document shown is the one on the subscriber's record (type and keyed hash)."""
    normalized = normalize_document_number(shown)
    return (
        bool(normalized)
        and document_type == subscriber.id_document_type
        and constant_time_compare(document_hash(normalized), subscriber.id_document_hash)
    )
