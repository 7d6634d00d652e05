"""MSISDN parsing: every accepted format gives one E.164 string; everything else
is refused with a code a form can act on."""

import phonenumbers
import pytest
from django.core.exceptions import ValidationError

from backoffice.msisdn import InvalidMsisdn, MsisdnQuery, format_msisdn, msisdn_search_query, normalize_msisdn
from numbers.choices import IdentityDocumentType
from numbers.identity import identity_fields
from numbers.models import MobileNumber, Subscriber

# A Cambodian fixed-line number (Phnom Penh, area code 23) that phonenumbers
# accepts as a valid number of type FIXED_LINE: valid, but not a mobile.
KH_FIXED_LINE = "023 212 345"


@pytest.mark.parametrize(
    "raw",
    ["012 345 678", "+855 12 345 678", "85512345678", "012-345-678", "(012) 345 678", "+85512345678", " 012345678 "],
)
def test_cambodian_formats_give_one_e164(raw):
    assert normalize_msisdn(raw) == "+85512345678"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+44 7911 123456", "+447911123456"),
        ("+44 7911-123-456", "+447911123456"),
        ("447911123456", "+447911123456"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("097 123 4567", "+855971234567"),
    ],
)
def test_other_countries_and_operators_in_international_form(raw, expected):
    assert normalize_msisdn(raw) == expected


def test_default_region_can_be_overridden():
    assert normalize_msisdn("07911 123456", region="gb") == "+447911123456"
    # The same national digits mean nothing in the default (Cambodian) region.
    with pytest.raises(InvalidMsisdn) as exc:
        normalize_msisdn("07911 123456")
    assert exc.value.code == "invalid"


def test_the_fixed_line_example_really_is_a_valid_fixed_line_number():
    """Guards the refusal test below: it must be about 'not mobile', not 'invalid'."""
    parsed = phonenumbers.parse(KH_FIXED_LINE, "KH")
    assert phonenumbers.is_valid_number(parsed)
    assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.FIXED_LINE


@pytest.mark.parametrize("raw", [KH_FIXED_LINE, "+855 23 212 345", "85523212345", "+44 20 7946 0000"])
def test_valid_fixed_line_number_is_refused_as_not_mobile(raw):
    with pytest.raises(InvalidMsisdn) as exc:
        normalize_msisdn(raw)
    assert exc.value.code == "not_mobile"
    assert "not a mobile number" in exc.value.messages[0]


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("", "empty"),
        ("   ", "empty"),
        (None, "empty"),
        ("abc", "invalid_characters"),
        ("012 345 67a", "invalid_characters"),
        ("+855 12 345 678 ext 9", "invalid_characters"),
        ("+", "invalid_characters"),
        ("0123", "invalid"),  # too short
        ("012 345", "invalid"),  # too short
        ("0123456789012", "invalid"),  # too long
        ("+85512345678901234", "invalid"),  # too long
        ("023 456 789", "invalid"),  # Phnom Penh area code, but not an allocated national number
        ("+0 12 345 678", "invalid"),
    ],
)
def test_bad_input_is_refused_with_a_code(raw, code):
    with pytest.raises(InvalidMsisdn) as exc:
        normalize_msisdn(raw)
    assert exc.value.code == code
    assert isinstance(exc.value, ValidationError)


def test_invalid_national_number_is_reported_with_the_region():
    with pytest.raises(InvalidMsisdn) as exc:
        normalize_msisdn("023 456 789")
    assert exc.value.messages == [
        "'023 456 789' is not a valid mobile number for region KH or in international format."
    ]


def test_format_msisdn_for_screens():
    assert format_msisdn("+85512345678") == "+855 12 345 678"
    assert format_msisdn("not a number") == "not a number"


# --- Search -----------------------------------------------------------------


@pytest.mark.parametrize("raw", ["+85512345678", "012 345 678", "85512345678", "+855 12-345-678"])
def test_search_full_number_is_exact(raw):
    assert msisdn_search_query(raw) == MsisdnQuery("+85512345678", exact=True)


@pytest.mark.parametrize(
    ("raw", "prefix"),
    [("+85512", "+85512"), ("012 34", "+8551234"), ("85512", "+85512"), ("012-345", "+85512345"), ("+44 79", "+4479")],
)
def test_search_partial_number_is_a_prefix_of_the_e164_form(raw, prefix):
    assert msisdn_search_query(raw) == MsisdnQuery(prefix, exact=False)


@pytest.mark.parametrize("raw", ["", "   ", None, "abc", "Sokha Chan", "1", "+", "012 34x", "+85512345678901234"])
def test_search_non_number_is_none(raw):
    assert msisdn_search_query(raw) is None


# --- The model field --------------------------------------------------------


@pytest.mark.django_db
def test_msisdn_field_normalizes_in_full_clean(branch_a):
    number = MobileNumber(msisdn="(012) 345-678", branch=branch_a)
    number.full_clean()
    assert number.msisdn == "+85512345678"

    subscriber = Subscriber(
        full_name="Dara Sok",
        id_document_type=IdentityDocumentType.NATIONAL_ID,
        **identity_fields("N123456"),
        contact_msisdn="012 345 678",
        alternate_msisdn="",
    )
    subscriber.full_clean()
    assert subscriber.contact_msisdn == "+85512345678"
    assert subscriber.alternate_msisdn == ""


@pytest.mark.django_db
def test_msisdn_field_refuses_bad_input_in_full_clean(branch_a):
    number = MobileNumber(msisdn=KH_FIXED_LINE, branch=branch_a)
    with pytest.raises(ValidationError) as exc:
        number.full_clean()
    assert [error.code for error in exc.value.error_dict["msisdn"]] == ["not_mobile"]

    number = MobileNumber(msisdn="", branch=branch_a)
    with pytest.raises(ValidationError) as exc:
        number.full_clean()
    assert "msisdn" in exc.value.error_dict  # a number is required; blank is only for contacts
