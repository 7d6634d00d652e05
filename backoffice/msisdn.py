"""MSISDN parsing: every input format becomes one E.164 string (numbers, sms, complaints all use it).

``012 345 678``, ``+855 12 345 678`` and ``85512345678`` are the same number;
staff type all three, so everything that accepts a number goes through here.
"""

import re
from dataclasses import dataclass

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
_MOBILE_TYPES = {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
_SEPARATORS = re.compile(r"[\s\-().]")


class InvalidMsisdn(ValidationError):
    """Raised with a message staff can act on; it is a ValidationError so forms show it."""


def _default_region(region: str | None) -> str:
    return (region or settings.MSISDN_DEFAULT_REGION).upper()


def _parse(raw: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None


def normalize_msisdn(raw: str, *, region: str | None = None) -> str:
    """Return the E.164 form of a mobile number, or raise InvalidMsisdn."""
    if raw is None or not str(raw).strip():
        raise InvalidMsisdn("Enter a mobile number.", code="empty")
    text = str(raw).strip()
    compact = _SEPARATORS.sub("", text)
    if not re.fullmatch(r"\+?[0-9]+", compact):
        raise InvalidMsisdn(
            "'%(value)s' is not a phone number: use digits, spaces and an optional leading +.",
            code="invalid_characters",
            params={"value": text},
        )
    region = _default_region(region)
    candidates = [compact]
    if not compact.startswith("+") and not compact.startswith("0"):
        # "85512345678": international digits typed without the plus.
        candidates.append("+" + compact)
    for candidate in candidates:
        number = _parse(candidate, region)
        if number is None or not phonenumbers.is_valid_number(number):
            continue
        if phonenumbers.number_type(number) not in _MOBILE_TYPES:
            raise InvalidMsisdn(
                "'%(value)s' is a valid number but not a mobile number.",
                code="not_mobile",
                params={"value": text},
            )
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidMsisdn(
        "'%(value)s' is not a valid mobile number for region %(region)s or in international format.",
        code="invalid",
        params={"value": text, "region": region},
    )


def format_msisdn(e164: str) -> str:
    """Human-readable international form, for screens."""
    number = _parse(e164, "ZZ")
    if number is None:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@dataclass(frozen=True)
class MsisdnQuery:
    """How to look a typed number up on the msisdn index: exact value or prefix."""

    value: str
    exact: bool


def msisdn_search_query(raw: str, *, region: str | None = None) -> MsisdnQuery | None:
    """Turn search input into an index-friendly lookup, or None if it is not a number.

    A complete number is looked up exactly; a partial one (``+85512``, ``01234``)
    by prefix of its E.164 form. Never a substring scan.
    """
    text = _SEPARATORS.sub("", (raw or "").strip())
    if not re.fullmatch(r"\+?[0-9]{2,15}", text):
        return None
    try:
        return MsisdnQuery(normalize_msisdn(text, region=region), exact=True)
    except ValidationError:
        pass
    if text.startswith("+"):
        return MsisdnQuery(text, exact=False)
    if text.startswith("0"):
        code = phonenumbers.country_code_for_region(_default_region(region))
        return MsisdnQuery(f"+{code}{text[1:]}", exact=False)
    return MsisdnQuery("+" + text, exact=False)
