"""One-time codes sent to a number: six random digits, kept only as a salted HMAC.

Transfers, withdrawals and subscriber changes each hash under their own label, so a
code issued for one purpose never matches a check for another.
"""

from __future__ import annotations

import secrets

from django.utils.crypto import constant_time_compare, salted_hmac


def _digest(label: str, code: str, salt: str) -> str:
    return salted_hmac(label, f"{salt}:{code}", algorithm="sha256").hexdigest()


def new_code(label: str) -> tuple[str, str]:
    """A fresh code and what is stored of it (``salt$digest``); the code itself goes only to the SMS."""
    code = f"{secrets.randbelow(10**6):06d}"
    salt = secrets.token_hex(8)
    return code, f"{salt}${_digest(label, code, salt)}"


def code_matches(label: str, code: str, stored: str) -> bool:
    salt, _, digest = stored.partition("$")
    return code.isdigit() and constant_time_compare(_digest(label, code, salt), digest)
