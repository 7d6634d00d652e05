"""Sending SMS: the backends, and that a message leaves only once the transaction
that decided it commits."""

from __future__ import annotations

import io

import pytest
from django.db import transaction

from backoffice.delivery import DeliveryStatus
from backoffice.msisdn import InvalidMsisdn
from numbers.exceptions import DeletionRefused
from sms.backends import Sms
from sms.backends.console import ConsoleBackend
from sms.backends.outbox import OutboxBackend
from sms.choices import SmsPurpose
from sms.models import SmsMessage
from sms.services import Outgoing, get_backend, sms_send, sms_send_many

MESSAGES = [
    Sms(to="+85512345678", body="123456 is your code", purpose=SmsPurpose.CONSENT_CODE),
    Sms(to="+85512345679", body="Your number is locked", purpose=SmsPurpose.TRANSFER_LOCK),
]


# --- Backends ---------------------------------------------------------------------------


def test_the_console_backend_writes_each_message_to_its_stream():
    stream = io.StringIO()
    assert ConsoleBackend(stream=stream).send_messages(MESSAGES) == 2
    assert stream.getvalue().splitlines() == [
        "SMS to +85512345678 [consent_code]: 123456 is your code",
        "SMS to +85512345679 [transfer_lock]: Your number is locked",
    ]


def test_the_console_backend_writes_to_standard_output_by_default(capsys):
    ConsoleBackend().send_messages(MESSAGES[:1])
    assert capsys.readouterr().out == "SMS to +85512345678 [consent_code]: 123456 is your code\n"


def test_the_outbox_backend_delivers_nothing_and_says_it_took_each_message():
    assert OutboxBackend().send_messages(MESSAGES) == 2


@pytest.mark.django_db
def test_the_outbox_is_never_deleted():
    for message in MESSAGES:
        sms_send(to=message.to, body=message.body, purpose=message.purpose)
    message = SmsMessage.objects.first()
    with pytest.raises(DeletionRefused):
        message.delete()
    with pytest.raises(DeletionRefused):
        SmsMessage.objects.all().delete()
    assert SmsMessage.objects.count() == 2


def test_the_backend_follows_the_setting(settings):
    assert isinstance(get_backend(), OutboxBackend)
    settings.SMS_BACKEND = "sms.backends.console.ConsoleBackend"
    assert isinstance(get_backend(), ConsoleBackend)


# --- sms_send: after commit only -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_message_is_stored_with_the_change_and_delivered_when_the_transaction_commits(eager, locmem_sms):
    with transaction.atomic():
        sms_send(to="012 345 678", body="Transfer approved", purpose=SmsPurpose.TRANSFER_EXECUTED)
        assert SmsMessage.objects.get().status == DeliveryStatus.QUEUED
        assert locmem_sms.sent == []
    message = SmsMessage.objects.get()
    # Stored in E.164 whatever form it was given in.
    assert (message.to_msisdn, message.body, message.purpose, message.status) == (
        "+85512345678",
        "Transfer approved",
        SmsPurpose.TRANSFER_EXECUTED,
        DeliveryStatus.SENT,
    )
    assert [m.to for m in locmem_sms.sent] == ["+85512345678"]


@pytest.mark.django_db(transaction=True)
def test_a_message_is_not_delivered_when_the_transaction_rolls_back():
    with pytest.raises(RuntimeError), transaction.atomic():
        sms_send(to="+85512345678", body="Transfer approved", purpose=SmsPurpose.TRANSFER_EXECUTED)
        raise RuntimeError("the transfer failed after all")
    assert not SmsMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_savepoint_drops_only_its_own_messages():
    with transaction.atomic():
        sms_send(to="+85512345678", body="kept", purpose=SmsPurpose.NOTICE)
        with pytest.raises(RuntimeError), transaction.atomic():
            sms_send(to="+85512345678", body="dropped", purpose=SmsPurpose.NOTICE)
            raise RuntimeError("inner step failed")
    assert list(SmsMessage.objects.values_list("body", flat=True)) == ["kept"]


@pytest.mark.django_db(transaction=True)
def test_the_console_backend_is_used_after_commit_too(settings, capsys, eager):
    settings.SMS_BACKEND = "sms.backends.console.ConsoleBackend"
    with transaction.atomic():
        sms_send(to="+85512345678", body="hello", purpose=SmsPurpose.NOTICE)
        assert capsys.readouterr().out == ""
    assert capsys.readouterr().out == "SMS to +85512345678 [notice]: hello\n"
    assert SmsMessage.objects.get().status == DeliveryStatus.SENT


@pytest.mark.django_db
def test_a_bad_number_is_refused_before_anything_is_queued(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(InvalidMsisdn):
        sms_send(to="023 212 345", body="hello", purpose=SmsPurpose.NOTICE)  # a fixed line
    assert callbacks == []
    assert not SmsMessage.objects.exists()


# --- sms_send_many: a batch in one insert ---------------------------------------------------------


def _batch(*keys: str) -> list[Outgoing]:
    return [Outgoing(to=f"+8551234567{i}", body=f"Top up soon ({key})", dedupe_key=key) for i, key in enumerate(keys)]


@pytest.mark.django_db
def test_a_batch_is_stored_in_one_insert_with_its_history_and_delivered_after_commit(
    django_capture_on_commit_callbacks, django_assert_max_num_queries, locmem_sms, eager
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with django_assert_max_num_queries(12):  # a look-up of the keys, the rows, their chained history
            created = sms_send_many(messages=_batch("a", "b", "c"), purpose=SmsPurpose.INACTIVITY_WARNING)
        assert locmem_sms.sent == []
    assert len(callbacks) == 3
    assert sorted(m.to for m in locmem_sms.sent) == ["+85512345670", "+85512345671", "+85512345672"]
    assert {m.dedupe_key for m in created} == {"a", "b", "c"}
    assert SmsMessage.history.filter(history_type="+").count() == 3
    assert set(SmsMessage.history.filter(history_type="+").values_list("history_change_reason", flat=True)) == {
        "Message to the subscriber (Inactivity warning (no top-up))."
    }
    assert SmsMessage.history.filter(history_change_reason="Delivered (attempt 1).").count() == 3


@pytest.mark.django_db
def test_a_key_already_used_is_left_out_of_the_batch(django_capture_on_commit_callbacks):
    sms_send(to="+85512345670", body="first", purpose=SmsPurpose.INACTIVITY_WARNING, dedupe_key="a")
    created = sms_send_many(messages=_batch("a", "b"), purpose=SmsPurpose.INACTIVITY_WARNING)
    assert [m.dedupe_key for m in created] == ["b"]
    assert list(SmsMessage.objects.filter(dedupe_key="a").values_list("body", flat=True)) == ["first"]
    assert sms_send_many(messages=_batch("a", "b"), purpose=SmsPurpose.INACTIVITY_WARNING) == []


@pytest.mark.django_db
@pytest.mark.parametrize("keys", [("a", "a"), ("a", "")])
def test_a_batch_without_a_key_of_its_own_per_message_is_refused_whole(keys, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ValueError, match="own dedupe"):
        sms_send_many(messages=_batch(*keys), purpose=SmsPurpose.INACTIVITY_WARNING)
    assert callbacks == []
    assert not SmsMessage.objects.exists()
