"""The HTTP gateway backend against a real HTTP server on localhost."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from backoffice.delivery import DeliveryStatus
from sms.backends import Sms, SmsDeliveryError
from sms.backends.http import HttpGatewayBackend
from sms.choices import SmsPurpose
from sms.services import sms_deliver, sms_send


def test_each_message_is_posted_as_json_with_the_token_and_its_reference(gateway):
    sent = HttpGatewayBackend().send_messages(
        [Sms(to="+85512345678", body="hello", purpose=SmsPurpose.NOTICE, reference="sms-7")]
    )
    assert sent == 1
    assert gateway.received == [
        {
            "body": {"to": "+85512345678", "text": "hello", "purpose": "notice", "reference": "sms-7"},
            "auth": "Bearer secret-token",
        }
    ]


@pytest.mark.parametrize("answer", [500, 503, 400])
def test_a_refusal_is_a_failed_delivery(gateway, answer):
    gateway.answer = answer
    with pytest.raises(SmsDeliveryError, match=str(answer)):
        HttpGatewayBackend().send_messages([Sms(to="+85512345678", body="hello", purpose=SmsPurpose.NOTICE)])


def test_an_unreachable_gateway_is_a_failed_delivery(settings):
    settings.SMS_GATEWAY_URL = "http://127.0.0.1:9/send"  # discard port: nothing listens
    with pytest.raises(SmsDeliveryError, match="unreachable"):
        HttpGatewayBackend().send_messages([Sms(to="+85512345678", body="hello", purpose=SmsPurpose.NOTICE)])


def test_no_url_is_a_configuration_error(settings):
    settings.SMS_GATEWAY_URL = ""
    with pytest.raises(ImproperlyConfigured):
        HttpGatewayBackend()


@pytest.mark.django_db
def test_a_gateway_outage_is_retried_and_the_message_goes_once(gateway):
    message = sms_send(to="012 345 678", body="Top up soon", purpose=SmsPurpose.INACTIVITY_WARNING)
    gateway.answer = 503
    assert sms_deliver(message_id=message.pk).retry_in is not None
    gateway.answer = 200
    assert sms_deliver(message_id=message.pk).sent
    assert sms_deliver(message_id=message.pk).skipped
    message.refresh_from_db()
    assert (message.status, message.attempts) == (DeliveryStatus.SENT, 2)
    references = [request["body"]["reference"] for request in gateway.received]
    assert references == [f"sms-{message.pk}", f"sms-{message.pk}"]  # the failed try, then the one that went
