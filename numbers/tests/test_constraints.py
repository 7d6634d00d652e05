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
    OPEN_TRANSFER_STATES,
    ConsentMethod,
    ConsentParty,
    HoldingEndReason,
    HoldingStartReason,
    IdentityDocumentType,
    NumberStatus,
    TransferState,
)
from numbers.identity import document_hash, identity_fields
from numbers.models import (
    ConsentCode,
    Holding,
    MobileNumber,
    Subscriber,
    TransferConsent,
    TransferLock,
    TransferRequest,
    service_write_scope,
)
from tests.factories import MobileNumberFactory, SubscriberFactory
from tests.helpers import holder_code_consent_row

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

    # Closing the open holding makes room for the next one (the same subscriber's: within
    # the quarantine nobody else's, see tests/test_ledger_triggers.py).
    now = timezone.now()
    with service_write_scope():
        Holding.objects.filter(number=number).update(ended_at=now, end_reason=HoldingEndReason.WITHDRAWAL)
        Holding.objects.create(number=number, subscriber=first, start_reason=HoldingStartReason.SALE, started_at=now)
    assert Holding.objects.filter(number=number).count() == 2
    assert list(Holding.objects.open().filter(number=number).values_list("subscriber", flat=True)) == [first.pk]


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
    # A transfer holding needs an executed request, a restoration holding an executed
    # restoration: tests/test_db_triggers.py covers both.
    reasons = [
        reason
        for reason in HoldingStartReason.values
        if reason not in (HoldingStartReason.TRANSFER, HoldingStartReason.RESTORATION)
    ]
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
        full_name="Dara Sok", id_document_type=IdentityDocumentType.NATIONAL_ID, **identity_fields("N0001")
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscriber.objects.create(
            full_name="Someone Else", id_document_type=IdentityDocumentType.NATIONAL_ID, **identity_fields("n-0001")
        )
    assert Subscriber.objects.filter(id_document_hash=document_hash("N0001")).count() == 1
    # The same number on another kind of document is another document.
    Subscriber.objects.create(
        full_name="Vanna Kim", id_document_type=IdentityDocumentType.PASSPORT, **identity_fields("N0001")
    )
    assert Subscriber.objects.filter(id_document_hash=document_hash("N0001")).count() == 2


@pytest.mark.parametrize("missing", ["id_document_hash", "id_document_last4", "id_document_sealed"])
def test_identity_document_hash_last4_and_seal_must_be_present(missing):
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscriber.objects.create(
            full_name="Dara Sok",
            id_document_type=IdentityDocumentType.NATIONAL_ID,
            **{**identity_fields("N0001"), missing: ""},
        )
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize("document_type", ["library_card", ""])
def test_identity_document_must_be_of_a_known_type(document_type):
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscriber.objects.create(full_name="Dara Sok", id_document_type=document_type, **identity_fields("N0001"))
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize("document_type", IdentityDocumentType.values)
def test_every_known_document_type_is_accepted(document_type):
    Subscriber.objects.create(full_name="Dara Sok", id_document_type=document_type, **identity_fields("N0001"))
    assert Subscriber.objects.get().id_document_type == document_type


# --- Transfers ------------------------------------------------------------------------
# The services check these rules first (tests in test_transfers.py and
# test_transfer_consents.py); the database still refuses a row that breaks them.


def _refused_by(constraint: str, create) -> None:
    """``_refused``, and the database names the constraint that refused."""
    with pytest.raises(IntegrityError) as exc, transaction.atomic(), service_write_scope():
        create()
    assert constraint in str(exc.value)


@pytest.fixture
def transfer_parties(branch_a, agent_a, supervisor_a):
    holder, newcomer = SubscriberFactory(), SubscriberFactory()
    return {
        "number": _held_number(branch_a, holder),
        "holder": holder,
        "newcomer": newcomer,
        "agent": agent_a,
        "supervisor": supervisor_a,
    }


def _transfer(parties, **fields) -> TransferRequest:
    now = timezone.now()
    values = {
        "number": parties["number"],
        "from_holder": parties["holder"],
        "to_subscriber": parties["newcomer"],
        "branch": parties["number"].branch,
        "requested_by": parties["agent"],
        "reason": "sold to a friend",
        "created_at": now,
        "expires_at": now + timedelta(days=7),
        **fields,
    }
    return TransferRequest.objects.create(**values)


def _decided(parties, state=TransferState.EXECUTED, **fields) -> dict:
    return {
        "state": state,
        "decided_by": parties["supervisor"],
        "decided_at": timezone.now(),
        "decision_reason": "both consents checked",
        **fields,
    }


def test_one_open_transfer_request_per_number(transfer_parties, branch_a):
    """Even when the service's own check is bypassed, a second open request fails."""
    with service_write_scope():
        first = _transfer(transfer_parties)
    for state in (TransferState.AWAITING_CONSENT, TransferState.AWAITING_APPROVAL):
        _refused(lambda state=state: _transfer(transfer_parties, state=state))
    assert list(TransferRequest.objects.values_list("pk", flat=True)) == [first.pk]

    # Closed requests do not count, and another number has its own slot.
    with service_write_scope():
        _transfer(
            transfer_parties,
            state=TransferState.CANCELLED,
            closed_by=transfer_parties["agent"],
            closed_at=timezone.now(),
            close_reason="changed mind",
        )
        _transfer(transfer_parties, **_decided(transfer_parties, TransferState.REJECTED))
        other_holder = SubscriberFactory()
        other = _new_number(branch_a, msisdn="+85512345679", status=NumberStatus.ACTIVE, holder=other_holder)
        Holding.objects.create(number=other, subscriber=other_holder, start_reason=HoldingStartReason.SALE)
        _transfer(transfer_parties, number=other, from_holder=other_holder)
    assert TransferRequest.objects.filter(state__in=OPEN_TRANSFER_STATES).count() == 2

    # Once the first is closed, the number takes a new open request.
    with service_write_scope():
        TransferRequest.objects.filter(pk=first.pk).update(
            state=TransferState.CANCELLED, closed_at=timezone.now(), close_reason="changed mind"
        )
        _transfer(transfer_parties)
    assert (
        TransferRequest.objects.filter(number=transfer_parties["number"], state__in=OPEN_TRANSFER_STATES).count() == 1
    )


def test_four_eyes_the_requester_does_not_decide(transfer_parties):
    agent = transfer_parties["agent"]
    for state in (TransferState.EXECUTED, TransferState.REJECTED):
        _refused_by(
            "transfer_four_eyes",
            lambda state=state: _transfer(transfer_parties, **_decided(transfer_parties, state, decided_by=agent)),
        )
    assert not TransferRequest.objects.exists()

    with service_write_scope():
        request = _transfer(transfer_parties, **_decided(transfer_parties, TransferState.REJECTED))
    assert request.decided_by != request.requested_by
    # Nor can a decision be rewritten onto the requester afterwards.
    with pytest.raises(IntegrityError), transaction.atomic(), service_write_scope():
        TransferRequest.objects.filter(pk=request.pk).update(decided_by=agent)
    assert TransferRequest.objects.get(pk=request.pk).decided_by == transfer_parties["supervisor"]


@pytest.mark.parametrize("state", [TransferState.EXECUTED, TransferState.REJECTED])
@pytest.mark.parametrize(
    "missing", [{"decided_by": None}, {"decided_at": None}, {"decision_reason": ""}], ids=["by", "at", "reason"]
)
def test_a_decision_records_who_when_and_why(transfer_parties, state, missing):
    _refused_by(
        "transfer_decision_recorded",
        lambda: _transfer(transfer_parties, **_decided(transfer_parties, state, **missing)),
    )
    assert not TransferRequest.objects.exists()
    with service_write_scope():
        _transfer(transfer_parties, **_decided(transfer_parties, state))
    assert TransferRequest.objects.get().state == state


def _code(request, actor) -> ConsentCode:
    now = timezone.now()
    return ConsentCode.objects.create(
        request=request,
        sent_to=request.number.msisdn,
        code_hash="salt$digest",
        sent_by=actor,
        created_at=now,
        expires_at=now + timedelta(minutes=10),
    )


def _sms_consent(request, party, subscriber, code, actor) -> TransferConsent:
    now = timezone.now()
    return TransferConsent.objects.create(
        request=request,
        party=party,
        subscriber=subscriber,
        method=ConsentMethod.SMS_CODE,
        code=code,
        captured_by=actor,
        captured_at=now,
        lapses_at=now + timedelta(hours=72),
    )


def test_a_code_consent_is_the_current_holders_and_names_its_code(transfer_parties):
    """The code goes to the number itself: only its holder can read it back."""
    agent = transfer_parties["agent"]
    with service_write_scope():
        request = _transfer(transfer_parties)
        code = _code(request, agent)
    newcomer, holder = transfer_parties["newcomer"], transfer_parties["holder"]
    _refused_by(
        "consent_sms_code_by_holder",
        lambda: _sms_consent(request, ConsentParty.NEW_SUBSCRIBER, newcomer, code, agent),
    )
    _refused_by(
        "consent_sms_code_by_holder", lambda: _sms_consent(request, ConsentParty.CURRENT_HOLDER, holder, None, agent)
    )
    assert not TransferConsent.objects.exists()
    with service_write_scope():
        consent = _sms_consent(request, ConsentParty.CURRENT_HOLDER, holder, code, agent)
    assert TransferConsent.objects.get().pk == consent.pk


def test_a_holding_names_a_transfer_request_exactly_when_a_transfer_opened_it(transfer_parties):
    """The check constraint; that the request is executed is the trigger's
    (tests/test_db_triggers.py)."""
    number, newcomer = transfer_parties["number"], transfer_parties["newcomer"]
    with service_write_scope():
        executed = _transfer(transfer_parties, **_decided(transfer_parties))
    now = timezone.now()
    holder_code_consent_row(executed, by=transfer_parties["agent"], at=now)
    # Closed, so the number's open holding stays as it is.
    ended = {"started_at": now - timedelta(days=1), "ended_at": now, "end_reason": HoldingEndReason.TRANSFER}
    _refused_by(
        "holding_transfer_has_request",
        lambda: Holding.objects.create(
            number=number, subscriber=newcomer, start_reason=HoldingStartReason.SALE, transfer_request=executed, **ended
        ),
    )
    _refused(
        lambda: Holding.objects.create(
            number=number, subscriber=newcomer, start_reason=HoldingStartReason.TRANSFER, **ended
        )
    )
    assert Holding.objects.filter(number=number).count() == 1

    with service_write_scope():
        Holding.objects.create(
            number=number,
            subscriber=newcomer,
            start_reason=HoldingStartReason.TRANSFER,
            transfer_request=executed,
            **ended,
        )
    assert Holding.objects.filter(number=number, transfer_request=executed).count() == 1


def test_one_standing_transfer_lock_per_number(transfer_parties):
    number, holder, agent = transfer_parties["number"], transfer_parties["holder"], transfer_parties["agent"]

    def place():
        return TransferLock.objects.create(number=number, subscriber=holder, placed_by=agent, place_reason="asked")

    with service_write_scope():
        first = place()
    _refused(place)
    assert TransferLock.objects.count() == 1
    with service_write_scope():
        TransferLock.objects.filter(pk=first.pk).update(
            lifted_at=timezone.now(), lifted_by=agent, lift_reason="asked", lift_evidence="card checked"
        )
        place()
    assert TransferLock.objects.filter(lifted_at__isnull=True).count() == 1
