"""CSV cells a spreadsheet will not run as formulas.

A subscriber can choose their own name ("=HYPERLINK(...)"); an export opened in
Excel or LibreOffice would run it on the reviewer's machine (CSV injection, OWASP).
Every CSV the portal writes passes its cells through ``safe_cell``.
"""

from __future__ import annotations

import re

_FORMULA_START = ("=", "@", "\t", "\r")
_SIGNED_NUMBER = re.compile(r"[+-][\d ]*")


def safe_cell(value) -> str:
    """The value as text, quoted with a leading apostrophe if it could start a formula.

    Phone numbers such as ``+855 12 345 678`` and signed numbers stay as they are.
    """
    text = "" if value is None else str(value)
    if text[:1] in _FORMULA_START or (text[:1] in ("+", "-") and not _SIGNED_NUMBER.fullmatch(text)):
        return "'" + text
    return text


def safe_row(values) -> list[str]:
    return [safe_cell(value) for value in values]
