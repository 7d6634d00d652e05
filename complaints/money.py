"""Money as a Decimal and a currency code: never a float."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError

from .choices import CURRENCY_DECIMALS, Currency

# No offer in any currency above this, whatever the settings say: the database refuses it too
# (CheckConstraint offer_amount_within_ceiling). The per-currency maximum is a setting below it.
OFFER_AMOUNT_CEILING = Decimal("100000000")

# A comma only groups thousands, in threes from the left of the point: "1,500.00", "40,000".
_GROUPED = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?")


def _unambiguous(text: str) -> str:
    """``text`` without its thousands commas; refuses a comma or a point that a reader (or a
    keyboard in another locale) could take for the other: "1,5" is 1.50 to some and 15 to others."""
    if text.count(".") > 1 or ("," in text and not _GROUPED.fullmatch(text)):
        raise ValidationError(
            "%(value)s is ambiguous: write the decimal point as a dot and group thousands with commas "
            "in threes, or not at all (e.g. 1500.50 or 1,500.50).",
            params={"value": text},
            code="amount_ambiguous",
        )
    return text.replace(",", "")


def parse_amount(value, currency: str) -> Decimal:
    """A positive amount in ``currency``'s smallest unit; refuses fractions it does not have and
    separators that could be read two ways. The riel has no minor unit: "40,000" and "40000.00"
    are forty thousand riels, "40,5" and "40.5" are refused."""
    if currency not in Currency.values:
        raise ValidationError("Choose a currency: %(choices)s.", params={"choices": ", ".join(Currency.values)})
    text = str(value).strip()
    try:
        amount = Decimal(_unambiguous(text))
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError("Enter the amount as a number, e.g. 25.00.", code="amount_invalid") from exc
    if not amount.is_finite() or amount <= 0:
        raise ValidationError("The amount must be more than zero.", code="amount_not_positive")
    places = CURRENCY_DECIMALS[currency]
    quantum = Decimal(1).scaleb(-places)
    if amount != amount.quantize(quantum, rounding=ROUND_HALF_UP):
        raise ValidationError(
            "%(currency)s amounts have %(places)s decimal places.",
            params={"currency": currency, "places": places},
            code="amount_precision",
        )
    if amount >= Decimal("1e12"):
        raise ValidationError("The amount is too large.", code="amount_too_large")
    return amount.quantize(quantum)


def offer_maximum(currency: str) -> Decimal:
    """The largest offer in ``currency`` (COMPLAINTS_OFFER_MAXIMUMS), never above the ceiling."""
    try:
        configured = Decimal(settings.COMPLAINTS_OFFER_MAXIMUMS[currency])
    except (KeyError, InvalidOperation):
        return OFFER_AMOUNT_CEILING
    return min(configured, OFFER_AMOUNT_CEILING)


def require_within_maximum(amount: Decimal, currency: str) -> None:
    """Refuse an offer above its currency's maximum: a slip of the keyboard (1e9) is not an offer."""
    maximum = offer_maximum(currency)
    if amount > maximum:
        raise ValidationError(
            "An offer in %(currency)s is at most %(maximum)s.",
            params={"currency": currency, "maximum": format_money(maximum, currency)},
            code="amount_above_maximum",
        )


def format_money(amount: Decimal, currency: str) -> str:
    places = CURRENCY_DECIMALS.get(currency, 2)
    return f"{amount:,.{places}f} {currency}"
