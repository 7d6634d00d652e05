"""The transfer screens: list, create, detail and every consent action, allowed
and refused, through Django's test client. Views only call services, so each test
checks both the page and what was (or was not) written."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from numbers import services
from numbers.choices import ConsentMethod, ConsentParty, IdentityDocumentType, NumberStatus, TransferState
from numbers.identity import document_hash
from numbers.models import ConsentCode, Subscriber, TransferConsent, TransferRequest
from sms.choices import SmsPurpose
from sms.models import SmsMessage
from tests.factories import (
    SubscriberFactory,
    consent_in_person,
    document_of,
    document_photo,
    number_in_state,
    transfer_awaiting_approval,
    transfer_request,
)
from tests.helpers import code_sent_to
from tests.snapshots import number_snapshot

pytestmark = pytest.mark.django_db

LIST = reverse("numbers:transfer_list")
CREATE = reverse("numbers:transfer_create")


# --- Helpers --------------------------------------------------------------------


def detail_url(transfer) -> str:
    return reverse("numbers:transfer_detail", args=[transfer.pk])


def action_urls(transfer, consent=None) -> dict[str, str]:
    """Every POST endpoint of a request's page."""
    urls = {
        "in_person": reverse("numbers:transfer_consent_in_person", args=[transfer.pk]),
        "signed_form": reverse("numbers:transfer_consent_signed_form", args=[transfer.pk]),
        "send_code": reverse("numbers:transfer_send_code", args=[transfer.pk]),
        "verify_code": reverse("numbers:transfer_verify_code", args=[transfer.pk]),
        "cancel": reverse("numbers:transfer_cancel", args=[transfer.pk]),
    }
    if consent is not None:
        urls["revoke"] = reverse("numbers:transfer_consent_revoke", args=[transfer.pk, consent.pk])
        urls["download"] = reverse("numbers:transfer_consent_form", args=[transfer.pk, consent.pk])
    return urls


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def request_snapshot(transfer) -> dict:
    """A request's state, its consents and codes, and its number: all unchanged after a refusal."""
    fresh = TransferRequest.objects.get(pk=transfer.pk)
    return {
        "state": fresh.state,
        "history": fresh.history.count(),
        "consents": list(TransferConsent.objects.filter(request=fresh).order_by("pk").values_list("pk", "revoked_at")),
        "codes": list(ConsentCode.objects.filter(request=fresh).order_by("pk").values_list("pk", "attempts")),
        "number": number_snapshot(fresh.number),
    }


def in_person_data(subscriber, party: str, *, document_number: str | None = None, reason: str = "At the counter"):
    return {
        "inperson-party": party,
        "inperson-document_type": subscriber.id_document_type,
        "inperson-document_number": document_of(subscriber) if document_number is None else document_number,
        "inperson-reason": reason,
    }


@pytest.fixture
def open_a(agent_a, branch_a):
    """An open request on a branch-a number, made by agent_a."""
    return transfer_request(actor=agent_a, branch=branch_a)


@pytest.fixture
def open_b(agent_c, branch_b):
    return transfer_request(actor=agent_c, branch=branch_b)


@pytest.fixture
def outsider(db):
    """A staff account with no branch authority at all."""
    return get_user_model().objects.create_user(username="outsider", password="x", is_staff=True)


# --- The list ---------------------------------------------------------------------


def test_agent_a_lists_branch_a_requests_and_none_of_branch_b(client, agent_a, open_a, open_b):
    client.force_login(agent_a)
    response = client.get(LIST)
    assert response.status_code == 200
    content = response.content.decode()
    assert f"T-{open_a.pk}<" in content
    assert open_a.number.msisdn in content
    assert open_b.number.msisdn not in content
    assert f"T-{open_b.pk}<" not in content
    assert reverse("numbers:transfer_create") in content


def test_list_shows_identity_masked_never_whole(client, agent_a, open_a):
    client.force_login(agent_a)
    content = client.get(LIST).content.decode()
    for subscriber in (open_a.from_holder, open_a.to_subscriber):
        assert subscriber.masked_document in content
        assert document_of(subscriber) not in content


def test_list_filters_by_state_and_mine(client, agent_a, agent_b, branch_a):
    mine = transfer_request(actor=agent_a, branch=branch_a)
    theirs = transfer_awaiting_approval(actor=agent_b, branch=branch_a)
    client.force_login(agent_a)

    def listed(query: str) -> set[int]:
        response = client.get(LIST + query)
        assert response.status_code == 200
        return {row.pk for row in response.context["page"].object_list}

    assert listed("") == {mine.pk, theirs.pk}
    assert listed("?mine=on") == {mine.pk}
    assert listed(f"?state={TransferState.AWAITING_APPROVAL}") == {theirs.pk}
    assert listed(f"?state={TransferState.AWAITING_APPROVAL}&mine=on") == set()


def test_list_shows_which_consents_stand(client, agent_a, open_a):
    consent_in_person(open_a, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    client.force_login(agent_a)
    response = client.get(LIST)
    row = next(iter(response.context["page"].object_list))
    assert (row.holder_consents, row.new_subscriber_consents) == (False, True)


def test_list_is_refused_without_branch_authority(client, outsider):
    client.force_login(outsider)
    assert client.get(LIST).status_code == 403


def test_screens_ask_anonymous_visitors_to_log_in_through_the_admin(client, open_a):
    for url in (LIST, CREATE, detail_url(open_a), reverse("numbers:approval_queue")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_header_links_to_transfers_and_approvals_on_admin_pages(client, agent_a):
    client.force_login(agent_a)
    content = client.get(reverse("admin:index")).content.decode()
    assert f'href="{LIST}"' in content
    assert f'href="{reverse("numbers:approval_queue")}"' in content
    assert "Mobile operator back office" in client.get(LIST).content.decode()


def test_list_pages_keep_the_filters(client, agent_a, branch_a, monkeypatch):
    monkeypatch.setattr("numbers.views.transfers.PER_PAGE", 2)
    made = [transfer_request(actor=agent_a, branch=branch_a) for _ in range(3)]
    client.force_login(agent_a)
    first = client.get(LIST + "?mine=on")
    assert [row.pk for row in first.context["page"].object_list] == [made[2].pk, made[1].pk]
    assert "?mine=on&amp;page=2" in first.content.decode()
    second = client.get(LIST + "?mine=on&page=2")
    assert [row.pk for row in second.context["page"].object_list] == [made[0].pk]


def _list_queries(client, django_assert_max_num_queries, url: str, ceiling: int = 20) -> int:
    with django_assert_max_num_queries(ceiling) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_list_query_count_does_not_grow_with_rows(client, agent_a, branch_a, django_assert_max_num_queries):
    for _ in range(3):
        transfer_request(actor=agent_a, branch=branch_a)
    client.force_login(agent_a)
    small = _list_queries(client, django_assert_max_num_queries, LIST)
    for _ in range(22):
        transfer_request(actor=agent_a, branch=branch_a)
    large = _list_queries(client, django_assert_max_num_queries, LIST)
    assert len(client.get(LIST).context["page"].object_list) == 25
    assert small == large


# --- Creating a request -----------------------------------------------------------


def create_data(number, **overrides) -> dict:
    data = {
        "msisdn": number.msisdn,
        "subscriber_mode": "existing",
        "document_type": IdentityDocumentType.NATIONAL_ID,
        "document_number": "",
        "full_name": "",
        "contact_msisdn": "",
        "reason": "Family hand-over agreed by both",
    }
    data.update(overrides)
    return data


@pytest.fixture
def active_a(admin_user, branch_a):
    return number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)


def test_agent_requests_a_transfer_to_an_existing_subscriber_found_by_document(
    client, agent_a, active_a, django_capture_on_commit_callbacks
):
    newcomer = SubscriberFactory(id_document_type=IdentityDocumentType.PASSPORT, id_document_number="N1234567")
    client.force_login(agent_a)
    national = "0" + active_a.msisdn.removeprefix("+855")
    data = create_data(
        active_a, msisdn=national, document_type=IdentityDocumentType.PASSPORT, document_number="n 123-4567"
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CREATE, data)

    transfer = TransferRequest.objects.get(number=active_a)
    assert response.status_code == 302
    assert response["Location"] == detail_url(transfer)
    assert (transfer.to_subscriber, transfer.requested_by, transfer.state) == (
        newcomer,
        agent_a,
        TransferState.AWAITING_CONSENT,
    )
    # The holder was told at once, on the number itself.
    assert SmsMessage.objects.filter(to_msisdn=active_a.msisdn, purpose=SmsPurpose.TRANSFER_REQUESTED).exists()


def test_create_form_registers_the_new_subscriber_with_identity_checked(client, agent_a, branch_a, active_a):
    client.force_login(agent_a)
    data = create_data(
        active_a,
        subscriber_mode="new",
        document_number="KH-998877",
        full_name="Dara Newholder",
        contact_msisdn="092 600 123",
        identity_checked="on",
    )
    response = client.post(CREATE, data)

    assert response.status_code == 302, response.context["form"].errors
    transfer = TransferRequest.objects.get(number=active_a)
    newcomer = transfer.to_subscriber
    assert (newcomer.full_name, document_of(newcomer), newcomer.contact_msisdn) == (
        "Dara Newholder",
        "KH998877",
        "+85592600123",
    )
    assert (newcomer.created_by, newcomer.registered_branch) == (agent_a, branch_a)
    assert newcomer.history.first().history_change_reason.startswith("Registered as the new subscriber")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"subscriber_mode": "new", "document_number": "NEW1", "full_name": "Dara"}, "identity_checked"),
        ({"subscriber_mode": "new", "document_number": "NEW1", "identity_checked": "on"}, "full_name"),
        ({"document_number": "NOBODY-HAS-THIS"}, "document_number"),
        ({"msisdn": "023 123 456"}, "msisdn"),  # a fixed line, not a mobile number
    ],
)
def test_an_invalid_create_form_writes_nothing(client, agent_a, active_a, overrides, field):
    subscribers = Subscriber.objects.count()
    client.force_login(agent_a)
    response = client.post(CREATE, create_data(active_a, **overrides))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert Subscriber.objects.count() == subscribers
    assert not TransferRequest.objects.exists()


def test_registering_an_existing_document_again_is_refused(client, agent_a, active_a):
    existing = SubscriberFactory()
    client.force_login(agent_a)
    data = create_data(
        active_a,
        subscriber_mode="new",
        document_type=existing.id_document_type,
        document_number=document_of(existing),
        full_name="Someone Else",
        identity_checked="on",
    )
    response = client.post(CREATE, data)
    assert "already exists" in str(response.context["form"].errors["document_number"])
    assert not TransferRequest.objects.exists()


def test_a_request_the_service_refuses_leaves_no_stray_subscriber(client, admin_user, agent_a, branch_a):
    suspended = number_in_state(NumberStatus.SUSPENDED, actor=admin_user, branch=branch_a)
    subscribers = Subscriber.objects.count()
    client.force_login(agent_a)
    data = create_data(
        suspended, subscriber_mode="new", document_number="STRAY1", full_name="Not Kept", identity_checked="on"
    )
    response = client.post(CREATE, data)

    assert response.status_code == 200
    assert "only an active number can be transferred" in " ".join(response.context["form"].non_field_errors())
    assert Subscriber.objects.count() == subscribers
    assert not Subscriber.objects.filter(id_document_hash=document_hash("STRAY1")).exists()
    assert not TransferRequest.objects.exists()


def test_a_number_of_another_branch_is_not_found_for_its_agents(client, agent_c, active_a):
    newcomer = SubscriberFactory()
    client.force_login(agent_c)
    data = create_data(active_a, document_number=document_of(newcomer))
    response = client.post(CREATE, data)
    assert response.status_code == 200
    assert "in the branches where you may request transfers" in str(response.context["form"].errors["msisdn"])
    assert not TransferRequest.objects.exists()


@pytest.mark.parametrize("persona", ["handler_a", "auditor"])
def test_create_screen_is_refused_to_those_who_cannot_operate_a_branch(request, client, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(CREATE).status_code == 403
    assert client.post(CREATE, {}).status_code == 403


# --- The request's page -----------------------------------------------------------


def test_detail_shows_the_request_in_full_with_masked_identity(client, agent_a, open_a):
    client.force_login(agent_a)
    response = client.get(detail_url(open_a))
    assert response.status_code == 200
    content = response.content.decode()
    assert reverse("admin:numbers_mobilenumber_change", args=[open_a.number.pk]) in content
    for subscriber in (open_a.from_holder, open_a.to_subscriber):
        assert subscriber.full_name in content
        assert subscriber.masked_document in content
        assert document_of(subscriber) not in content
    assert open_a.reason in content
    assert "Holder notified" in content
    # The number's recent history, with who and why.
    assert "test sale" in content
    assert len(response.context["number_history"]) <= 10
    # The agent of the branch may act on it.
    for form_id in ("consent-in-person-form", "consent-signed-form-form", "send-code-form", "cancel-form"):
        assert f'id="{form_id}"' in content
    assert 'enctype="multipart/form-data"' in content


@pytest.mark.parametrize("persona", ["handler_a", "auditor"])
def test_those_who_only_view_see_the_request_without_action_forms(request, client, open_a, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(detail_url(open_a))
    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="consent-in-person-form"' not in content
    assert 'id="cancel-form"' not in content


def test_an_agent_of_another_branch_gets_403_on_the_page_and_every_action(client, agent_a, agent_c, open_a, tmp_path):
    consent = consent_in_person(open_a, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    before = request_snapshot(open_a)
    client.force_login(agent_c)

    assert client.get(detail_url(open_a)).status_code == 403
    urls = action_urls(open_a, consent)
    assert client.get(urls.pop("download")).status_code == 403
    for name, url in urls.items():
        response = client.post(url, {"reason": "trying", "code": "123456"})
        assert response.status_code == 403, name
    assert request_snapshot(open_a) == before


def test_a_view_only_employee_gets_403_from_the_services_on_actions(client, handler_a, open_a):
    before = request_snapshot(open_a)
    client.force_login(handler_a)
    response = client.post(
        action_urls(open_a)["in_person"], in_person_data(open_a.to_subscriber, ConsentParty.NEW_SUBSCRIBER)
    )
    assert response.status_code == 403
    assert request_snapshot(open_a) == before


def test_unknown_request_is_404(client, agent_a):
    client.force_login(agent_a)
    assert client.get(reverse("numbers:transfer_detail", args=[999999])).status_code == 404


def test_action_urls_take_only_post(client, agent_a, open_a):
    client.force_login(agent_a)
    assert client.get(action_urls(open_a)["cancel"]).status_code == 405


# --- Consent in person ------------------------------------------------------------


def test_consent_in_person_with_the_document_on_record_is_recorded(client, agent_a, open_a):
    client.force_login(agent_a)
    data = in_person_data(open_a.to_subscriber, ConsentParty.NEW_SUBSCRIBER)
    response = client.post(action_urls(open_a)["in_person"], data)

    assert response.status_code == 302
    assert response["Location"] == detail_url(open_a)
    consent = TransferConsent.objects.get(request=open_a)
    assert (consent.party, consent.method, consent.captured_by) == (
        ConsentParty.NEW_SUBSCRIBER,
        ConsentMethod.IN_PERSON,
        agent_a,
    )
    assert any("recorded" in message for message in messages_of(response))


def test_a_wrong_document_number_shows_the_error_and_records_nothing(client, agent_a, open_a):
    before = request_snapshot(open_a)
    client.force_login(agent_a)
    data = in_person_data(open_a.from_holder, ConsentParty.CURRENT_HOLDER, document_number="WRONG0000")
    response = client.post(action_urls(open_a)["in_person"], data, follow=True)

    assert response.status_code == 200
    assert "does not match" in response.content.decode()
    assert request_snapshot(open_a) == before


def test_a_consent_form_without_a_reason_records_nothing(client, agent_a, open_a):
    before = request_snapshot(open_a)
    client.force_login(agent_a)
    data = in_person_data(open_a.to_subscriber, ConsentParty.NEW_SUBSCRIBER, reason=" ")
    response = client.post(action_urls(open_a)["in_person"], data)
    assert any("Reason for this change: This field is required." in message for message in messages_of(response))
    assert request_snapshot(open_a) == before


def test_both_consents_move_the_request_to_awaiting_approval(client, agent_a, agent_b, supervisor_a, open_a):
    """The holder in person (SIM broken): another agent with a photo of the document,
    then a second employee confirms the check; only then does the request await approval."""
    urls = action_urls(open_a)
    client.force_login(agent_a)
    client.post(urls["in_person"], in_person_data(open_a.to_subscriber, ConsentParty.NEW_SUBSCRIBER))
    client.force_login(agent_b)
    holder_data = in_person_data(open_a.from_holder, ConsentParty.CURRENT_HOLDER)
    response = client.post(urls["in_person"], holder_data)
    assert any("Upload the photo of the document shown" in message for message in messages_of(response))
    response = client.post(urls["in_person"], {**holder_data, "inperson-document_photo": document_photo()})
    assert any("counts once a second employee" in message for message in messages_of(response))
    open_a.refresh_from_db()
    assert open_a.state == TransferState.AWAITING_CONSENT
    consent = TransferConsent.objects.get(request=open_a, party=ConsentParty.CURRENT_HOLDER)
    confirm_url = reverse("numbers:transfer_consent_confirm", args=[open_a.pk, consent.pk])
    form_id = f'id="confirm-{consent.pk}-form"'

    # The capturer is not offered the confirmation, and is refused if she posts it anyway.
    assert form_id not in client.get(detail_url(open_a)).content.decode()
    response = client.post(confirm_url, {f"confirm{consent.pk}-reason": "I checked it myself"})
    assert any("another employee of the branch must confirm" in message for message in messages_of(response))
    # Nor is the requester.
    client.force_login(agent_a)
    assert form_id not in client.get(detail_url(open_a)).content.decode()

    client.force_login(supervisor_a)
    assert form_id in client.get(detail_url(open_a)).content.decode()
    response = client.post(confirm_url, {f"confirm{consent.pk}-reason": "Saw the holder and her card"})
    assert any("You confirmed the check" in message for message in messages_of(response))
    open_a.refresh_from_db()
    assert open_a.state == TransferState.AWAITING_APPROVAL
    # Nothing left to capture: the capture forms are gone.
    client.force_login(agent_a)
    content = client.get(detail_url(open_a)).content.decode()
    assert 'id="consent-in-person-form"' not in content
    assert 'id="send-code-form"' not in content
    assert "Check confirmed by" in content


@pytest.mark.parametrize(
    ("persona", "status"),
    [("auditor", 200), ("admin_user", 200), ("agent_a", 403), ("agent_b", 403), ("supervisor_a", 403)],
)
def test_only_reviewers_open_the_photo_of_the_document(request, client, persona, status, agent_b, open_a):
    consent = consent_in_person(open_a, ConsentParty.CURRENT_HOLDER, actor=agent_b)
    client.force_login(request.getfixturevalue(persona))
    response = client.get(reverse("numbers:transfer_consent_photo", args=[open_a.pk, consent.pk]))
    assert response.status_code == status
    if status == 200:
        assert b"".join(response.streaming_content).startswith(b"\x89PNG")
        assert response["Cache-Control"] == "private, no-store"
        assert 'class="document-photo-link"' in client.get(detail_url(open_a)).content.decode()
    else:
        assert "document-photo-link" not in client.get(detail_url(open_a)).content.decode()


# --- One-time code ----------------------------------------------------------------


def test_the_one_time_code_flow_through_the_screens(
    client, agent_a, open_a, django_capture_on_commit_callbacks, handset
):
    client.force_login(agent_a)
    urls = action_urls(open_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(urls["send_code"], {"sendcode-reason": "Holder on the phone"})
    assert response.status_code == 302
    code = code_sent_to(open_a.number.msisdn)
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    # A wrong try is refused, and counted even though the call failed.
    response = client.post(urls["verify_code"], {"verify-code": wrong, "verify-reason": "Holder read it back"})
    assert any("Wrong code" in message for message in messages_of(response))
    assert ConsentCode.objects.get(request=open_a).attempts == 1
    assert not TransferConsent.objects.filter(request=open_a).exists()

    response = client.post(urls["verify_code"], {"verify-code": code, "verify-reason": "Holder read it back"})
    assert any("Code accepted" in message for message in messages_of(response))
    consent = TransferConsent.objects.get(request=open_a)
    assert (consent.party, consent.method) == (ConsentParty.CURRENT_HOLDER, ConsentMethod.SMS_CODE)


def test_verifying_before_any_code_was_sent_is_refused(client, agent_a, open_a):
    client.force_login(agent_a)
    response = client.post(
        action_urls(open_a)["verify_code"], {"verify-code": "123456", "verify-reason": "Holder read it back"}
    )
    assert any("send one first" in message for message in messages_of(response))
    assert not TransferConsent.objects.filter(request=open_a).exists()


def test_the_verify_form_appears_once_a_code_is_waiting(client, agent_a, open_a):
    client.force_login(agent_a)
    assert 'id="verify-code-form"' not in client.get(detail_url(open_a)).content.decode()
    services.consent_code_send(request=open_a, actor=agent_a, reason="Holder on the phone")
    assert 'id="verify-code-form"' in client.get(detail_url(open_a)).content.decode()


# --- Signed form: upload and protected download -----------------------------------


def signed_form_data(party: str, *, name: str = "consent.pdf", content: bytes = b"%PDF-1.4 signed", reason="Scanned"):
    return {
        "signed-party": party,
        "signed-signed_form": SimpleUploadedFile(name, content, content_type="application/pdf"),
        "signed-reason": reason,
    }


def test_signed_form_is_uploaded_and_downloaded_only_by_branch_staff(
    client, settings, tmp_path, agent_a, agent_c, auditor, open_a
):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(agent_a)
    response = client.post(action_urls(open_a)["signed_form"], signed_form_data(ConsentParty.NEW_SUBSCRIBER))

    assert response.status_code == 302
    consent = TransferConsent.objects.get(request=open_a)
    assert consent.method == ConsentMethod.SIGNED_FORM
    assert (tmp_path / consent.signed_form.name).read_bytes() == b"%PDF-1.4 signed"
    download = action_urls(open_a, consent)["download"]
    assert download in client.get(detail_url(open_a)).content.decode()

    response = client.get(download)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert b"".join(response.streaming_content) == b"%PDF-1.4 signed"

    client.force_login(auditor)  # reads every branch
    assert client.get(download).status_code == 200
    client.force_login(agent_c)
    assert client.get(download).status_code == 403


def test_a_signed_form_of_the_wrong_kind_records_nothing(client, settings, tmp_path, agent_a, open_a):
    settings.MEDIA_ROOT = tmp_path
    client.force_login(agent_a)
    data = signed_form_data(ConsentParty.NEW_SUBSCRIBER, name="consent.exe", content=b"MZ")
    response = client.post(action_urls(open_a)["signed_form"], data)
    assert any("must be a PDF, JPEG or PNG scan" in message for message in messages_of(response))
    assert not TransferConsent.objects.filter(request=open_a).exists()
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


def test_download_of_a_consent_without_a_form_is_404(client, agent_a, open_a):
    consent = consent_in_person(open_a, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    client.force_login(agent_a)
    assert client.get(action_urls(open_a, consent)["download"]).status_code == 404


# --- Revoke and cancel ------------------------------------------------------------


def test_revoking_a_consent_needs_a_reason(client, agent_a, open_a):
    consent = consent_in_person(open_a, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    url = action_urls(open_a, consent)["revoke"]
    client.force_login(agent_a)

    response = client.post(url, {f"revoke{consent.pk}-reason": ""})
    assert any("Reason for this change: This field is required." in message for message in messages_of(response))
    consent.refresh_from_db()
    assert consent.revoked_at is None

    client.post(url, {f"revoke{consent.pk}-reason": "Changed their mind"})
    consent.refresh_from_db()
    assert (consent.revoked_by, consent.revocation_reason) == (agent_a, "Changed their mind")


def test_cancelling_closes_the_request_and_hides_the_actions(client, agent_a, open_a):
    client.force_login(agent_a)
    url = action_urls(open_a)["cancel"]
    client.post(url, {"cancel-reason": ""})
    open_a.refresh_from_db()
    assert open_a.state == TransferState.AWAITING_CONSENT

    response = client.post(url, {"cancel-reason": "Customer withdrew"}, follow=True)
    open_a.refresh_from_db()
    assert (open_a.state, open_a.closed_by, open_a.close_reason) == (
        TransferState.CANCELLED,
        agent_a,
        "Customer withdrew",
    )
    content = response.content.decode()
    assert "cancelled" in content
    assert 'id="consent-in-person-form"' not in content
    assert 'id="cancel-form"' not in content
