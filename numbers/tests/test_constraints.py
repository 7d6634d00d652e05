"""The database keeps the ledger's invariants even when the Python guards are
bypassed: ``service_write_scope()`` opens the door the services use, and the
constraints must still refuse a bad row (and accept a good one)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.utils import timezone

from numbers.choices import (
    HELD_STATUSES,
    HoldingEndReason,
    HoldingStartReason,
    IdentityDocumentType,
    NumberStatus,
)
from numbers.models import Holding, MobileNumber, Subscriber, service_write_scope
from tests.factories import MobileNumberFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


UNHELD_STATUSES = sorted(set(NumberStatus.values) - HELD_STATUSES)


def _new_number(branch, **fields) -> MobileNumber:
    with service_write_scope():
        return MobileNumber.objects.create(branch=branch, **{"msisdn": "+85512345678", **fields})


def _refused(create):
    """Run ``create`` in a savepoint and assert the database refuses it."""
    with pytest.raises(IntegrityError), transaction.atomic(), service_write_scope():
        create()


def _held_number(branch, subscriber) -> MobileNumber:
    """An active number with its open holding, written directly (no services)."""
    number = _new_number(branch, status=NumberStatus.ACTIVE, holder=subscriber)
    with service_write_scope():
        Holding.objects.create(number=number, subscriber=subscriber, start_reason=HoldingStartReason.SALE)
    return number


# --- Holder exactly in the held states ---------------------------------------


@pytest.mark.parametrize("status", sorted(HELD_STATUSES))
def test_held_number_needs_a_holder(branch_a, status):
    _refused(lambda: _new_number(branch_a, status=status, holder=None))
    assert not MobileNumber.objects.exists()
    number = _new_number(branch_a, status=status, holder=SubscriberFactory())
    assert MobileNumber.objects.get(pk=number.pk).status == status


@pytest.mark.parametrize("status", UNHELD_STATUSES)
def test_unheld_number_has_no_holder(branch_a, status):
    _refused(lambda: _new_number(branch_a, status=status, holder=SubscriberFactory()))
    assert not MobileNumber.objects.exists()
    number = _new_number(branch_a, status=status, holder=None)
    assert MobileNumber.objects.get(pk=number.pk).holder_id is None


def test_holder_constraint_also_holds_on_update(branch_a):
    number = _new_number(branch_a, status=NumberStatus.ACTIVE, holder=SubscriberFactory())
    with pytest.raises(IntegrityError), transaction.atomic(), service_write_scope():
        MobileNumber.objects.filter(pk=number.pk).update(holder=None)
    with pytest.raises(IntegrityError), transaction.atomic(), service_write_scope():
        MobileNumber.objects.filter(pk=number.pk).update(status=NumberStatus.AVAILABLE)
    with service_write_scope():
        MobileNumber.objects.filter(pk=number.pk).update(status=NumberStatus.AVAILABLE, holder=None)
    assert MobileNumber.objects.filter(pk=number.pk, status=NumberStatus.AVAILABLE, holder=None).exists()


# --- Status and msisdn values ------------------------------------------------


@pytest.mark.parametrize("status", ["sold", "", "ACTIVE"])
def test_status_must_be_a_known_value(branch_a, status):
    _refused(lambda: _new_number(branch_a, status=status))
    assert not MobileNumber.objects.exists()


@pytest.mark.parametrize("status", UNHELD_STATUSES)
def test_known_unheld_status_values_are_accepted(branch_a, status):
    assert _new_number(branch_a, status=status).pk is not None


# MsisdnField normalizes (or refuses) every value the ORM writes, so only a raw
# SQL value reaches the column unchanged: Value() is not prepared by the field.


@pytest.mark.parametrize(
    "msisdn", ["012345678", "85512345678", "+855 12 345 678", "+012345678", "+85512", "", "+85512345678x"]
)
def test_msisdn_must_be_e164(branch_a, msisdn):
    _refused(lambda: _new_number(branch_a, msisdn=Value(msisdn)))
    assert not MobileNumber.objects.exists()
    number = _new_number(branch_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        MobileNumber.objects.filter(pk=number.pk).update(msisdn=Value(msisdn))
    assert MobileNumber.objects.get(pk=number.pk).msisdn == "+85512345678"


@pytest.mark.parametrize("msisdn", ["+85512345678", "+447911123456", "+1234567", "+123456789012345"])
def test_e164_msisdn_is_accepted(branch_a, msisdn):
    number = _new_number(branch_a, msisdn=Value(msisdn))
    assert MobileNumber.objects.get(pk=number.pk).msisdn == msisdn


def test_the_field_normalizes_what_the_orm_writes(branch_a):
    """The first line of defence, before the constraint: the ORM never writes a raw form."""
    number = _new_number(branch_a, msisdn="012 345 678")
    assert MobileNumber.objects.get(pk=number.pk).msisdn == "+85512345678"
    with pytest.raises(ValidationError), transaction.atomic():
        _new_number(branch_a, msisdn="023 212 345")
    assert MobileNumber.objects.count() == 1


def test_msisdn_is_unique(branch_a, branch_b):
    _new_number(branch_a, msisdn="+85512345678")
    _refused(lambda: _new_number(branch_b, msisdn="+85512345678"))
    _new_number(branch_b, msisdn="+85512345679")
    assert MobileNumber.objects.count() == 2


# --- The holding ledger -------------------------------------------------------


def test_one_open_holding_per_number(branch_a):
    first = SubscriberFactory()
    number = _held_number(branch_a, first)
    second = SubscriberFactory()

    _refused(lambda: Holding.objects.create(number=number, subscriber=second, start_reason=HoldingStartReason.SALE))
    assert Holding.objects.filter(number=number).count() == 1

    # Closing the open holding makes room for the next one.
    now = timezone.now()
    with service_write_scope():
        Holding.objects.filter(number=number).update(ended_at=now, end_reason=HoldingEndReason.WITHDRAWAL)
        Holding.objects.create(number=number, subscriber=second, start_reason=HoldingStartReason.SALE, started_at=now)
    assert Holding.objects.filter(number=number).count() == 2
    assert list(Holding.objects.open().filter(number=number).values_list("subscriber", flat=True)) == [second.pk]


def test_open_holdings_on_different_numbers_are_fine(branch_a):
    subscriber = SubscriberFactory()
    number = _held_number(branch_a, subscriber)
    other = MobileNumberFactory(branch=branch_a, msisdn="+85512345679")
    with service_write_scope():
        Holding.objects.create(number=other, subscriber=subscriber, start_reason=HoldingStartReason.SALE)
    assert Holding.objects.open().filter(subscriber=subscriber).count() == 2
    assert number.holdings.count() == 1


def _holding(number, subscriber, **fields):
    return Holding.objects.create(number=number, subscriber=subscriber, start_reason=HoldingStartReason.SALE, **fields)


def test_an_ended_holding_needs_an_end_reason(branch_a):
    subscriber = SubscriberFactory()
    number = MobileNumberFactory(branch=branch_a)
    now = timezone.now()
    _refused(lambda: _holding(number, subscriber, started_at=now, ended_at=now))
    _refused(lambda: _holding(number, subscriber, started_at=now, end_reason=HoldingEndReason.WITHDRAWAL))
    assert not Holding.objects.exists()
    with service_write_scope():
        _holding(number, subscriber, started_at=now, ended_at=now, end_reason=HoldingEndReason.WITHDRAWAL)
        _holding(number, subscriber, started_at=now)
    assert Holding.objects.count() == 2


def test_a_holding_cannot_end_before_it_starts(branch_a):
    subscriber = SubscriberFactory()
    number = MobileNumberFactory(branch=branch_a)
    start = timezone.now()
    reason = HoldingEndReason.TRANSFER
    _refused(
        lambda: _holding(number, subscriber, started_at=start, ended_at=start - timedelta(seconds=1), end_reason=reason)
    )
    assert not Holding.objects.exists()
    with service_write_scope():
        _holding(number, subscriber, started_at=start, ended_at=start, end_reason=reason)
        _holding(number, subscriber, started_at=start, ended_at=start + timedelta(days=3), end_reason=reason)
    assert Holding.objects.count() == 2


def test_a_holding_start_reason_must_be_known(branch_a):
    subscriber = SubscriberFactory()
    number = MobileNumberFactory(branch=branch_a)
    _refused(lambda: Holding.objects.create(number=number, subscriber=subscriber, start_reason="gift"))
    _refused(lambda: Holding.objects.create(number=number, subscriber=subscriber, start_reason=""))
    assert not Holding.objects.exists()
    # A transfer holding needs an executed request: tests/test_db_triggers.py covers it.
    reasons = [reason for reason in HoldingStartReason.values if reason != HoldingStartReason.TRANSFER]
    with service_write_scope():
        for reason in reasons:
            Holding.objects.create(
                number=number,
                subscriber=subscriber,
                start_reason=reason,
                ended_at=timezone.now() + timedelta(days=1),
                end_reason=HoldingEndReason.TRANSFER,
            )
    assert Holding.objects.count() == len(reasons)


# --- Subscribers ----------------------------------------------------------------


def test_identity_document_is_unique_per_type():
    Subscriber.objects.create(
        full_name="Dara Sok", id_document_type=IdentityDocumentType.NATIONAL_ID, id_document_number="N0001"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscriber.objects.create(
            full_name="Someone Else", id_document_type=IdentityDocumentType.NATIONAL_ID, id_document_number="N0001"
        )
    assert Subscriber.objects.filter(id_document_number="N0001").count() == 1
    # The same number on another kind of document is another document.
    Subscriber.objects.create(
        full_name="Vanna Kim", id_document_type=IdentityDocumentType.PASSPORT, id_document_number="N0001"
    )
    assert Subscriber.objects.filter(id_document_number="N0001").count() == 2


@pytest.mark.parametrize(
    ("document_type", "document_number"),
    [(IdentityDocumentType.NATIONAL_ID, ""), ("library_card", "N0001"), ("", "N0001")],
)
def test_identity_document_must_be_present_and_of_a_known_type(document_type, document_number):
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscriber.objects.create(
            full_name="Dara Sok", id_document_type=document_type, id_document_number=document_number
        )
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize("document_type", IdentityDocumentType.values)
def test_every_known_document_type_is_accepted(document_type):
    Subscriber.objects.create(full_name="Dara Sok", id_document_type=document_type, id_document_number="N0001")
    assert Subscriber.objects.get().id_document_type == document_type
