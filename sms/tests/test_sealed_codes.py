"""One-time codes are never stored readable: the outbox and its history keep the
message masked; only the text handed to the gateway carries the code."""

from __future__ import annotations

import pytest
from django.db import connection

from backoffice.delivery import DeliveryStatus
from sms.choices import SmsPurpose
from sms.models import SmsMessage
from sms.sealing import SealBroken, seal, unseal
from sms.services import SECRET_MASK, sms_deliver, sms_send

pytestmark = pytest.mark.django_db

CODE = "480159"


def send_code(to: str = "+85512345678") -> SmsMessage:
    return sms_send(to=to, body="{secret} is your code (ref T-1).", secret=CODE, purpose=SmsPurpose.CONSENT_CODE)


def sms_rows_containing(text: str) -> list[tuple]:
    """Every row of the sms tables (outbox and history) with ``text`` in any column but
    the recipient's number, read with raw SQL as a DBA would."""
    hits = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            if not table.startswith("sms_"):
                continue
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - table names from introspection
            for row in cursor.fetchall():
                values = [str(v) for name, v in zip(columns, row, strict=True) if name != "to_msisdn"]
                if any(text in value for value in values):
                    hits.append((table, row))
    return hits


def test_the_outbox_keeps_the_code_masked_and_the_handset_receives_it(locmem_sms):
    message = send_code()
    assert message.body == f"{SECRET_MASK} is your code (ref T-1)."
    assert sms_deliver(message_id=message.pk).sent
    assert [sms.body for sms in locmem_sms.sent] == [f"{CODE} is your code (ref T-1)."]
    message.refresh_from_db()
    assert (message.status, message.sealed_secret) == (DeliveryStatus.SENT, "")  # wiped once delivered
    assert sms_rows_containing(CODE) == []
    assert SmsMessage.history.filter(id=message.pk).count() == 2
    assert all(CODE not in record.body for record in SmsMessage.history.filter(id=message.pk))


def test_before_delivery_the_code_is_only_sealed(locmem_sms):
    message = send_code()
    assert message.sealed_secret and CODE not in message.sealed_secret
    assert sms_rows_containing(CODE) == []
    assert not hasattr(SmsMessage.history.model, "sealed_secret")


def test_a_failed_attempt_keeps_the_sealed_code_for_the_retry(locmem_sms):
    message = send_code()
    locmem_sms.fail_next = 1
    assert not sms_deliver(message_id=message.pk).sent
    message.refresh_from_db()
    assert message.status == DeliveryStatus.RETRYING and message.sealed_secret
    assert sms_deliver(message_id=message.pk).sent
    assert [sms.body[:6] for sms in locmem_sms.sent] == [CODE]


def test_giving_up_wipes_the_sealed_code(locmem_sms, settings):
    settings.DELIVERY_MAX_ATTEMPTS = 1
    message = send_code()
    locmem_sms.fail_next = 1
    sms_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert (message.status, message.sealed_secret) == (DeliveryStatus.GAVE_UP, "")


def test_the_real_gateway_receives_the_code_and_the_database_never_holds_it(gateway):
    message = send_code(to="012 888 777")
    assert sms_deliver(message_id=message.pk).sent
    assert [request["body"]["text"] for request in gateway.received] == [f"{CODE} is your code (ref T-1)."]
    assert sms_rows_containing(CODE) == []


@pytest.mark.parametrize("body", ["no slot for it", "{secret} and {secret}"])
def test_a_secret_needs_exactly_one_place_in_the_body(body):
    with pytest.raises(ValueError, match="once"):
        sms_send(to="+85512345678", body=body, secret=CODE, purpose=SmsPurpose.CONSENT_CODE)
    assert not SmsMessage.objects.exists()


def test_a_seal_opens_only_with_its_key(settings):
    sealed = seal(CODE)
    assert unseal(sealed) == CODE and seal(CODE) != sealed  # a fresh nonce each time
    settings.SMS_SEAL_KEY = "another key"
    with pytest.raises(SealBroken):
        unseal(sealed)
