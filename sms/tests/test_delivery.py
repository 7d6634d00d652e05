"""Delivery of stored messages: at most once, every attempt recorded, failures
retried with backoff until they go or the portal gives up."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from backoffice.delivery import DeliveryStatus, backoff
from jobs.registry import run_job
from sms.choices import SmsPurpose
from sms.models import SmsMessage
from sms.services import sms_deliver, sms_send
from tests.helpers import race

pytestmark = pytest.mark.django_db


def stored(**kwargs) -> SmsMessage:
    return sms_send(to="+85512345678", body="Your number is locked", purpose=SmsPurpose.TRANSFER_LOCK, **kwargs)


def test_a_stored_message_is_delivered_once(locmem_sms):
    message = stored()
    assert sms_deliver(message_id=message.pk).sent is True
    assert sms_deliver(message_id=message.pk).skipped is True
    message.refresh_from_db()
    assert (message.status, message.attempts) == (DeliveryStatus.SENT, 1)
    assert len(locmem_sms.sent) == 1
    reasons = list(
        SmsMessage.history.filter(id=message.pk).order_by("history_id").values_list("history_change_reason", flat=True)
    )
    assert reasons == ["Message to the subscriber (Transfer lock placed or lifted).", "Delivered (attempt 1)."]


def test_a_failed_attempt_is_recorded_and_retried_after_its_backoff(locmem_sms):
    message = stored()
    locmem_sms.fail_next = 2
    first = sms_deliver(message_id=message.pk)
    assert (first.sent, first.retry_in) == (False, timedelta(minutes=1))
    message.refresh_from_db()
    assert message.status == DeliveryStatus.RETRYING
    assert "gateway unavailable" in message.last_error
    failed_at = message.next_attempt_at - timedelta(minutes=1)

    # The notifications job retries only once the backoff has passed.
    with time_machine.travel(failed_at + timedelta(seconds=30), tick=False):
        assert "  SMS delivered on retry: 0" in run_job("notifications")
    with time_machine.travel(failed_at + timedelta(minutes=1, seconds=1), tick=False):
        assert "  SMS delivered on retry: 0" in run_job("notifications")  # second failure
    message.refresh_from_db()
    assert (message.status, message.attempts) == (DeliveryStatus.RETRYING, 2)
    assert message.next_attempt_at - failed_at > timedelta(minutes=2)  # doubled
    with time_machine.travel(message.next_attempt_at + timedelta(seconds=1), tick=False):
        assert "  SMS delivered on retry: 1" in run_job("notifications")
    message.refresh_from_db()
    assert (message.status, message.attempts, message.last_error) == (DeliveryStatus.SENT, 3, "")
    assert len(locmem_sms.sent) == 1


def test_after_the_last_attempt_the_portal_gives_up_and_says_so(locmem_sms, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 2
    message = stored()
    locmem_sms.fail_next = 5
    sms_deliver(message_id=message.pk)
    assert sms_deliver(message_id=message.pk).retry_in is None
    message.refresh_from_db()
    assert (message.status, message.next_attempt_at) == (DeliveryStatus.GAVE_UP, None)
    assert sms_deliver(message_id=message.pk).skipped is True
    assert locmem_sms.sent == []


def test_backoff_doubles_and_is_capped():
    assert [backoff(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert backoff(30) == timedelta(hours=6)


def test_a_message_with_a_used_key_is_not_stored_again():
    first = stored(dedupe_key="inactivity:1:day60")
    assert stored(dedupe_key="inactivity:1:day60") is None
    assert stored(dedupe_key="inactivity:1:day75") is not None
    assert SmsMessage.objects.filter(dedupe_key="inactivity:1:day60").get() == first


def test_a_message_whose_dispatch_was_lost_is_sent_by_the_sweep(locmem_sms):
    message = stored()  # its on-commit dispatch never runs in this test transaction
    with time_machine.travel(timezone.now() + timedelta(minutes=1), tick=False):
        assert "  SMS delivered on retry: 0" in run_job("notifications")
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        assert "  SMS delivered on retry: 1" in run_job("notifications")
    message.refresh_from_db()
    assert message.status == DeliveryStatus.SENT


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_two_workers_delivering_the_same_message_send_it_once(locmem_sms):
    with transaction.atomic():
        message = stored()
    outcomes = race(lambda: sms_deliver(message_id=message.pk), lambda: sms_deliver(message_id=message.pk))
    assert sorted(outcome.sent for outcome in outcomes) == [False, True]
    assert len(locmem_sms.sent) == 1
    message.refresh_from_db()
    assert (message.status, message.attempts) == (DeliveryStatus.SENT, 1)
