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
from sms.services import get_backend, sms_send

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
