"""Money as a Decimal and a currency code: never a float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError

from .choices import CURRENCY_DECIMALS, Currency


def parse_amount(value, currency: str) -> Decimal:
    """A positive amount in ``currency``'s smallest unit; refuses fractions it does not have."""
    if currency not in Currency.values:
        raise ValidationError("Choose a currency: %(choices)s.", params={"choices": ", ".join(Currency.values)})
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
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


def format_money(amount: Decimal, currency: str) -> str:
    places = CURRENCY_DECIMALS.get(currency, 2)
    return f"{amount:,.{places}f} {currency}"
