"""The development phone: with DEBUG on, each number's messages as its handset
received them (codes included); without DEBUG, no such URL exists at all."""

from __future__ import annotations

import importlib

import pytest
from django.urls import Resolver404, clear_url_caches, resolve

import backoffice.urls
from numbers import services as ns
from sms.backends.devphone import DevPhoneBackend, received
from sms.choices import SmsPurpose
from sms.models import SmsMessage
from sms.services import SECRET_MASK
from tests.helpers import code_sent_to

pytestmark = pytest.mark.django_db


def reload_urls() -> None:
    importlib.reload(backoffice.urls)
    clear_url_caches()


@pytest.fixture
def debug_on(settings, handset):
    settings.DEBUG = True
    reload_urls()
    yield
    settings.DEBUG = False
    reload_urls()


def test_without_debug_the_phone_is_not_routed(client, admin_user):
    with pytest.raises(Resolver404):
        resolve("/dev/phone/")
    client.force_login(admin_user)  # not even the superuser
    assert client.get("/dev/phone/").status_code == 404
    assert client.get("/dev/phone/+85512345678/").status_code == 404


def test_with_debug_the_phone_shows_what_each_handset_received(client, debug_on, agent_b, active, open_request):
    ns.consent_code_send(request=open_request, actor=agent_b, reason="holder on the phone")
    code = code_sent_to(active.msisdn)  # delivers what waits, as the worker would

    index = client.get("/dev/phone/").content.decode()
    assert active.msisdn in index
    page = client.get(f"/dev/phone/{active.msisdn}/").content.decode()
    assert f"{code} is your code" in page
    assert f"reply NO {open_request.reference} to stop this" in page  # the notice, too
    # The outbox, meanwhile, keeps the code masked.
    stored = SmsMessage.objects.get(purpose=SmsPurpose.CONSENT_CODE)
    assert stored.body.startswith(SECRET_MASK) and code not in stored.body


def test_a_number_with_nothing_received_and_a_bad_number(client, debug_on):
    assert "No message reached" in client.get("/dev/phone/012 999 888/").content.decode()
    assert client.get("/dev/phone/not-a-number/").status_code == 404


def test_a_routed_phone_still_refuses_once_debug_is_off(client, debug_on, settings):
    settings.DEBUG = False  # the URL module was loaded with DEBUG on: the view checks again
    assert client.get("/dev/phone/").status_code == 404


def test_the_phone_keeps_messages_in_its_file(handset):
    from sms.backends import Sms

    DevPhoneBackend().send_messages([Sms(to="+85512345678", body="hello", purpose=SmsPurpose.NOTICE)])
    assert [(sms["to"], sms["text"]) for sms in received()] == [("+85512345678", "hello")]
    assert received("+85512345679") == []
    assert handset.exists()
