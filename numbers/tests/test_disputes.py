"""The holder stops a transfer by SMS: "NO <ref>" in reply to the request's notice
cancels it, marks it disputed and opens a complaint, whatever staff did."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from django.core.exceptions import PermissionDenied

from audit.context import job_scope
from complaints.choices import Channel, ComplaintCategory, ComplaintState
from complaints.models import Complaint
from numbers import services
from numbers.choices import TransferState
from numbers.models import TransferDispute, TransferRequest
from sms.choices import InboundStatus, SmsPurpose
from sms.models import InboundSms, SmsMessage
from sms.services import inbound_sms_receive
from tests.factories import transfer_awaiting_approval
from tests.helpers import refused

TOKEN = "gateway-inbound-token"


def reply(text: str, sender: str, message_id: str = "gw-1") -> InboundSms:
    """What the gateway's endpoint does with one message (in its job scope)."""
    with job_scope("sms.inbound"):
        return inbound_sms_receive(message_id=message_id, sender=sender, text=text)


def state_of(request: TransferRequest) -> tuple:
    request.refresh_from_db()
    return request.state, TransferDispute.objects.filter(request=request).count(), Complaint.objects.count()


# --- Service level -------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_holder_replying_no_from_the_number_stops_the_request(active, open_request, sla_presets):
    inbound = reply(f"NO {open_request.reference}", sender=active.msisdn)

    assert (inbound.status, inbound.keyword) == (InboundStatus.HANDLED, "NO")
    assert "disputed by the holder" in inbound.answer
    open_request.refresh_from_db()
    assert open_request.state == TransferState.CANCELLED and open_request.closed_by is None
    assert open_request.close_reason.startswith("Disputed by the holder")
    dispute = open_request.dispute
    assert dispute.sender == active.msisdn
    complaint = Complaint.objects.get()
    assert (complaint.category, complaint.state, complaint.channel) == (
        ComplaintCategory.UNAUTHORISED_TRANSFER,
        ComplaintState.NEW,
        Channel.SMS,
    )
    assert (complaint.branch, complaint.complainant, complaint.created_by, complaint.assigned_to) == (
        active.branch,
        open_request.from_holder,
        None,
        None,
    )
    assert list(complaint.numbers.all()) == [active]
    assert open_request.reference in complaint.description
    # Who acted: the gateway's job, never an employee.
    record = TransferDispute.history.get(id=dispute.pk)
    assert (record.history_user_id, record.actor_label) == (None, "job:sms.inbound")
    # The holder is told the request is closed.
    assert SmsMessage.objects.filter(purpose=SmsPurpose.TRANSFER_CANCELLED, to_msisdn=active.msisdn).exists()


@pytest.mark.django_db
def test_the_holders_contact_number_may_reply_too(open_request, sla_presets):
    inbound = reply(f"no {open_request.reference.lower()}", sender=open_request.from_holder.contact_msisdn)
    assert inbound.status == InboundStatus.HANDLED
    assert state_of(open_request) == (TransferState.CANCELLED, 1, 1)


@pytest.mark.django_db
def test_a_reply_from_any_other_number_changes_nothing(open_request, newcomer, sla_presets):
    for sender in (newcomer.contact_msisdn, "+85599000111", "SHORTCODE"):
        inbound = reply(f"NO {open_request.reference}", sender=sender, message_id=f"gw-{sender}")
        assert inbound.status == InboundStatus.REFUSED
        assert state_of(open_request) == (TransferState.AWAITING_CONSENT, 0, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "status", "answer"),
    [
        ("YES T-1", InboundStatus.UNKNOWN_KEYWORD, "not understood"),
        ("", InboundStatus.UNKNOWN_KEYWORD, "not understood"),
        ("NO", InboundStatus.REFUSED, "followed by the reference"),
        ("NO please", InboundStatus.REFUSED, "followed by the reference"),
        ("NO T-999999", InboundStatus.REFUSED, "no transfer request T-999999"),
    ],
)
def test_unknown_keywords_and_references_are_stored_and_answered(active, open_request, text, status, answer):
    inbound = reply(text, sender=active.msisdn)
    assert inbound.status == status and answer in inbound.answer
    assert InboundSms.objects.get(pk=inbound.pk).text == text
    assert state_of(open_request) == (TransferState.AWAITING_CONSENT, 0, 0)


@pytest.mark.django_db
def test_a_replayed_message_answers_as_the_first_time_and_changes_nothing(active, open_request, sla_presets):
    first = reply(f"NO {open_request.reference}", sender=active.msisdn)
    after_first = state_of(open_request), InboundSms.history.count(), SmsMessage.objects.count()
    again = reply(f"NO {open_request.reference}", sender=active.msisdn)
    assert (again.pk, again.status, again.answer) == (first.pk, first.status, first.answer)
    assert (state_of(open_request), InboundSms.history.count(), SmsMessage.objects.count()) == after_first


@pytest.mark.django_db
def test_a_second_no_with_another_id_is_refused(active, open_request, sla_presets):
    reply(f"NO {open_request.reference}", sender=active.msisdn)
    second = reply(f"NO {open_request.reference}", sender=open_request.from_holder.contact_msisdn, message_id="gw-2")
    assert second.status == InboundStatus.REFUSED and "already disputed" in second.answer
    assert state_of(open_request) == (TransferState.CANCELLED, 1, 1)


@pytest.mark.django_db
def test_a_closed_request_cannot_be_disputed(agent_a, active, open_request):
    services.transfer_cancel(request=open_request, actor=agent_a, reason="customer changed mind")
    inbound = reply(f"NO {open_request.reference}", sender=open_request.from_holder.contact_msisdn)
    assert inbound.status == InboundStatus.REFUSED and "nothing to stop" in inbound.answer
    assert state_of(open_request) == (TransferState.CANCELLED, 0, 0)


@pytest.mark.django_db
def test_an_executed_request_is_disputed_from_the_former_holders_contact_number(
    agent_a, supervisor_a, branch_a, sla_presets
):
    request = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    services.transfer_approve(request=request, actor=supervisor_a, reason="documents fine")
    # The number itself is now the new holder's: only the former holder's contact counts.
    assert reply(f"NO {request.reference}", sender=request.number.msisdn).status == InboundStatus.REFUSED
    inbound = reply(f"NO {request.reference}", sender=request.from_holder.contact_msisdn, message_id="gw-2")
    assert inbound.status == InboundStatus.HANDLED
    assert state_of(request) == (TransferState.EXECUTED, 1, 1)


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["admin_user", "supervisor_a", "agent_a"])
def test_no_employee_can_dispute_in_the_holders_name(request, persona, active, open_request):
    actor = request.getfixturevalue(persona)
    error = refused(
        PermissionDenied,
        lambda: services.transfer_dispute(
            request=open_request, sender=active.msisdn, text="NO", actor=actor, reason="holder called"
        ),
    )
    assert "Only the holder" in str(error)
    assert state_of(open_request) == (TransferState.AWAITING_CONSENT, 0, 0)


@pytest.mark.django_db
def test_a_complaint_without_an_employee_is_refused_outside_a_job(active):
    from complaints.services import complaint_create

    with pytest.raises(PermissionDenied):
        complaint_create(
            complainant=active.holder,
            category=ComplaintCategory.UNAUTHORISED_TRANSFER,
            severity="critical",
            channel=Channel.SMS,
            description="x",
            numbers=[active],
            actor=None,
        )
    assert not Complaint.objects.exists()


@pytest.mark.django_db
def test_the_request_page_and_the_queue_show_the_dispute(client, supervisor_a, active, open_request, sla_presets):
    reply(f"NO {open_request.reference}", sender=active.msisdn)
    client.force_login(supervisor_a)
    page = client.get(f"/transfers/{open_request.pk}/").content.decode()
    assert 'id="transfer-dispute"' in page and "Disputed by the holder" in page
    queue = client.get("/approvals/").content.decode()
    assert open_request.reference in queue and "Disputed by the holder" in queue


@pytest.mark.django_db
def test_the_notice_tells_the_holder_how_to_stop_it(open_request):
    notice = SmsMessage.objects.filter(purpose=SmsPurpose.TRANSFER_REQUESTED).first()
    assert f"reply NO {open_request.reference} to stop this" in notice.body


# --- The gateway posting to the live server --------------------------------------------------


def post(live_server, payload, token: str | None = TOKEN):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - the test's own live server
        f"{live_server.url}/sms/inbound/", data=json.dumps(payload).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def gateway_token(settings):
    settings.SMS_INBOUND_TOKEN = TOKEN
    return TOKEN


@pytest.mark.django_db(transaction=True)
def test_the_gateway_posts_the_holders_no_and_a_replay_changes_nothing(
    live_server, gateway_token, active, open_request, sla_presets
):
    payload = {"id": "smsc-0001", "from": active.msisdn, "text": f"NO {open_request.reference}"}
    status, body = post(live_server, payload)
    assert status == 200
    assert body["status"] == InboundStatus.HANDLED and "disputed by the holder" in body["detail"]
    assert state_of(open_request) == (TransferState.CANCELLED, 1, 1)
    counts = InboundSms.objects.count(), InboundSms.history.count(), SmsMessage.objects.count()

    assert post(live_server, payload) == (200, body)  # the gateway retried: same answer
    assert state_of(open_request) == (TransferState.CANCELLED, 1, 1)
    assert (InboundSms.objects.count(), InboundSms.history.count(), SmsMessage.objects.count()) == counts


@pytest.mark.django_db(transaction=True)
def test_the_gateway_gets_200_for_an_unknown_keyword(live_server, gateway_token, active):
    status, body = post(live_server, {"id": "smsc-0002", "from": active.msisdn, "text": "STOP ADS"})
    assert (status, body["status"]) == (200, InboundStatus.UNKNOWN_KEYWORD)
    assert InboundSms.objects.get().keyword == "STOP"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("token", "configured", "expected"),
    [(None, TOKEN, 401), ("wrong", TOKEN, 403), (TOKEN, "", 403), ("", "", 401)],
)
def test_the_endpoint_refuses_without_the_right_token(live_server, settings, active, token, configured, expected):
    settings.SMS_INBOUND_TOKEN = configured
    status, body = post(live_server, {"id": "smsc-3", "from": active.msisdn, "text": "NO T-1"}, token=token)
    assert (status, body["status"]) == (expected, "refused")
    assert not InboundSms.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload", [b"not json", b"{}", b'{"id": 1, "from": "x", "text": "NO"}', b'{"id": "", "from": "x", "text": "NO"}']
)
def test_a_malformed_post_is_a_bad_request(client, gateway_token, payload):
    response = client.post(
        "/sms/inbound/", data=payload, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {TOKEN}"
    )
    assert response.status_code == 400
    assert not InboundSms.objects.exists()


@pytest.mark.django_db
def test_the_endpoint_takes_posts_only(client, gateway_token):
    assert client.get("/sms/inbound/", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


@pytest.mark.django_db
@pytest.mark.parametrize(("persona", "sees"), [("auditor", True), ("admin_user", True), ("agent_a", False)])
def test_inbound_messages_are_read_only_in_the_admin(request, client, persona, sees, active, open_request):
    inbound = reply("HELLO", sender=active.msisdn)
    client.force_login(request.getfixturevalue(persona))
    listing = client.get("/admin/sms/inboundsms/")
    assert listing.status_code == (200 if sees else 403)
    assert ("HELLO" in listing.content.decode()) is sees
    assert client.get("/admin/sms/inboundsms/add/").status_code == 403
    assert client.post(f"/admin/sms/inboundsms/{inbound.pk}/change/", {"text": "x"}).status_code == 403
    assert client.post(f"/admin/sms/inboundsms/{inbound.pk}/delete/", {"post": "yes"}).status_code == 403
    assert InboundSms.objects.get(pk=inbound.pk).text == "HELLO"
