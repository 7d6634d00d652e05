"""Money typed by a handler: a comma or point that could be read two ways is refused (on main,
"1,5" USD became 15.00, a tenfold offer still under the approval limit), and no offer exceeds its
currency's maximum (a 1e9 USD offer was accepted): in parse_amount, the service, the form and the
database. Every rule both ways; a refusal writes nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from hypothesis import given
from hypothesis import strategies as st

from complaints.choices import ComplaintState, Currency, OfferKind, OfferState
from complaints.models import CompensationOffer
from complaints.money import OFFER_AMOUNT_CEILING, format_money, offer_maximum, parse_amount
from complaints.tests.casework import bring_to, complaint_snapshot, new_complaint, propose
from complaints.tests.views_helpers import messages_of
from numbers.models import service_write_scope
from tests.helpers import refused

AMBIGUOUS = "amount_ambiguous"


@pytest.mark.parametrize(
    ("value", "currency", "amount"),
    [
        ("1500", Currency.USD, Decimal("1500.00")),
        ("1500.5", Currency.USD, Decimal("1500.50")),
        ("1,500.00", Currency.USD, Decimal("1500.00")),
        ("1,500", Currency.USD, Decimal("1500.00")),
        ("1,234,567.8", Currency.USD, Decimal("1234567.80")),
        ("0.5", Currency.USD, Decimal("0.50")),
        ("40,000", Currency.KHR, Decimal("40000")),
        ("1,500.00", Currency.KHR, Decimal("1500")),
        ("20000000", Currency.KHR, Decimal("20000000")),
    ],
)
def test_unambiguous_amounts_are_accepted(value, currency, amount):
    assert parse_amount(value, currency) == amount


@pytest.mark.parametrize(
    "value",
    ["1,5", "1,50", "1,5000", "1.500,00", "1,50,000", ",5", "1,,000", "1,000,00", "1.000.000", "12,34.5", "1,000.5,0"],
)
@pytest.mark.parametrize("currency", [Currency.USD, Currency.KHR])
def test_ambiguous_separators_are_refused_with_a_clear_message(value, currency):
    with pytest.raises(ValidationError) as exc:
        parse_amount(value, currency)
    assert exc.value.code == AMBIGUOUS
    assert exc.value.messages == [
        f"{value} is ambiguous: write the decimal point as a dot and group thousands with commas in threes, "
        "or not at all (e.g. 1500.50 or 1,500.50)."
    ]


@pytest.mark.parametrize(("value", "currency"), [("40.5", Currency.KHR), ("1.500", Currency.KHR)])
def test_the_riel_has_no_minor_unit(value, currency):
    with pytest.raises(ValidationError) as exc:
        parse_amount(value, currency)
    assert exc.value.code == "amount_precision"


cents = st.integers(min_value=1, max_value=10**11 - 1).map(lambda n: Decimal(n).scaleb(-2))


@given(amount=cents, grouped=st.booleans())
def test_a_shown_amount_reads_back_as_itself(amount, grouped):
    """What format_money shows (grouped) or a plain number parses back to the same amount."""
    shown = format_money(amount, Currency.USD).removesuffix(" USD") if grouped else f"{amount:.2f}"
    assert parse_amount(shown, Currency.USD) == amount


@given(whole=st.integers(min_value=1, max_value=999), fraction=st.integers(min_value=0, max_value=99))
def test_a_decimal_comma_never_passes(whole, fraction):
    """ "12,5" and "12,50" are refused, never read as 125 or 1250."""
    for digits in (f"{fraction}", f"{fraction:02d}"):
        with pytest.raises(ValidationError) as exc:
            parse_amount(f"{whole},{digits}", Currency.USD)
        assert exc.value.code == AMBIGUOUS


# --- The maximum offer ---------------------------------------------------------------------------


@pytest.fixture
def complaint(db, handler_a, holder, active):
    complaint = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    return bring_to(complaint, ComplaintState.ACKNOWLEDGED, handler=handler_a)


def test_the_maximums_come_from_the_settings_under_the_ceiling(settings):
    assert (offer_maximum(Currency.USD), offer_maximum(Currency.KHR)) == (Decimal(5000), Decimal(20000000))
    settings.COMPLAINTS_OFFER_MAXIMUMS = {"USD": "1e12"}
    assert (offer_maximum(Currency.USD), offer_maximum(Currency.KHR)) == (OFFER_AMOUNT_CEILING, OFFER_AMOUNT_CEILING)


@pytest.mark.django_db
@pytest.mark.parametrize(("amount", "currency"), [("5000", Currency.USD), ("20,000,000", Currency.KHR)])
def test_an_offer_at_the_maximum_is_proposed_for_approval(amount, currency, handler_a, complaint):
    offer = propose(complaint, handler_a, amount, currency)
    assert offer.state == OfferState.AWAITING_APPROVAL


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("1000000000", Currency.USD, "An offer in USD is at most 5,000.00 USD."),
        ("5000.01", Currency.USD, "An offer in USD is at most 5,000.00 USD."),
        ("20000001", Currency.KHR, "An offer in KHR is at most 20,000,000 KHR."),
    ],
)
def test_an_offer_above_the_maximum_is_refused_by_the_service(amount, currency, message, handler_a, complaint):
    before = complaint_snapshot(complaint)
    error = refused(ValidationError, lambda: propose(complaint, handler_a, amount, currency))
    assert (error.code, error.messages) == ("amount_above_maximum", [message])
    assert complaint_snapshot(complaint) == before and not CompensationOffer.objects.exists()


@pytest.mark.django_db
def test_a_decimal_comma_offer_is_refused_by_the_service(handler_a, complaint):
    before = complaint_snapshot(complaint)
    assert refused(ValidationError, lambda: propose(complaint, handler_a, "1,5")).code == AMBIGUOUS
    assert complaint_snapshot(complaint) == before and not CompensationOffer.objects.exists()


@pytest.mark.django_db
def test_the_database_refuses_an_amount_above_the_ceiling(handler_a, complaint):
    """Even a write inside the services' scope (as a bug or a console would make) stays under it."""
    offer = propose(complaint, handler_a, "10")
    offers = CompensationOffer.objects.filter(pk=offer.pk)
    with service_write_scope():
        offers.update(amount=OFFER_AMOUNT_CEILING)  # at the ceiling: allowed
    with pytest.raises(IntegrityError), transaction.atomic(), service_write_scope():
        offers.update(amount=OFFER_AMOUNT_CEILING + 1)
    assert CompensationOffer.objects.get(pk=offer.pk).amount == OFFER_AMOUNT_CEILING


# --- Through the complaint page ------------------------------------------------------------------


def propose_on_page(client, complaint, amount: str, currency: str = Currency.USD):
    from django.urls import reverse

    data = {
        "propose-kind": OfferKind.values[0],
        "propose-amount": amount,
        "propose-currency": currency,
        "propose-description": "",
        "propose-valid_days": "",
        "propose-reason": "We are sorry",
    }
    return client.post(reverse("complaints:offer_propose", args=[complaint.pk]), data)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("1,5", "Amount: 1,5 is ambiguous: write the decimal point as a dot"),
        ("1e9", "Amount: An offer in USD is at most 5,000.00 USD."),
        ("1000000000", "Amount: An offer in USD is at most 5,000.00 USD."),
    ],
)
def test_the_offer_form_refuses_and_writes_nothing(amount, text, client, handler_a, complaint):
    client.force_login(handler_a)
    before = complaint_snapshot(complaint)
    response = propose_on_page(client, complaint, amount)
    assert any(text in message for message in messages_of(response)), messages_of(response)
    assert complaint_snapshot(complaint) == before and not CompensationOffer.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(("amount", "shown"), [("1,500.00", "1,500.00 USD"), ("1500.5", "1,500.50 USD")])
def test_the_offer_form_accepts_an_unambiguous_amount(amount, shown, client, handler_a, complaint):
    client.force_login(handler_a)
    response = propose_on_page(client, complaint, amount)
    assert any(f"Offer of {shown} proposed" in message for message in messages_of(response)), messages_of(response)
    assert CompensationOffer.objects.get().amount_display == shown
