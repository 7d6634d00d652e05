"""The approval queue and the decision screens: who sees what, four eyes, risk
flags without a query per row, and refusals that change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from numbers import selectors, services
from numbers.choices import ConsentParty, HoldingStartReason, NumberStatus, TransferState
from numbers.models import Holding, TransferRequest
from numbers.selectors import approval_queue, attach_risk_flags
from sms.choices import SmsPurpose
from sms.models import SmsMessage
from tests.factories import (
    MobileNumberFactory,
    SubscriberFactory,
    consent_by_code,
    consent_in_person,
    document_of,
    transfer_awaiting_approval,
    transfer_request,
)
from tests.helpers import back_date
from tests.snapshots import number_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _office_hours(settings):
    """Whatever the hour the tests run, requests are made in hours (out of hours has its own test)."""
    settings.TRANSFER_RISK_OPEN_HOUR, settings.TRANSFER_RISK_CLOSE_HOUR = 0, 24


QUEUE = reverse("numbers:approval_queue")


def detail_url(transfer) -> str:
    return reverse("numbers:approval_detail", args=[transfer.pk])


def approve_url(transfer) -> str:
    return reverse("numbers:transfer_approve", args=[transfer.pk])


def reject_url(transfer) -> str:
    return reverse("numbers:transfer_reject", args=[transfer.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def unchanged(transfer) -> tuple:
    fresh = TransferRequest.objects.get(pk=transfer.pk)
    return fresh.state, fresh.decided_by_id, fresh.history.count(), number_snapshot(fresh.number)


def queued(client, query: str = "") -> list[int]:
    response = client.get(QUEUE + query)
    assert response.status_code == 200
    return [row.pk for row in response.context["rows"]]


def quiet_number(*, actor, branch):
    """An active number sold long ago, last topped up long ago: no risk flag of its own."""
    long_ago = timezone.now() - timedelta(days=200)
    number = MobileNumberFactory(branch=branch)
    return services.number_transition(
        number=number,
        to_status=NumberStatus.ACTIVE,
        subscriber=SubscriberFactory(created_at=long_ago),
        actor=actor,
        reason="sold long ago",
        at=long_ago,
    )


def quiet_request(*, actor, branch):
    return transfer_request(
        actor=actor,
        branch=branch,
        number=quiet_number(actor=actor, branch=branch),
        new_subscriber=SubscriberFactory(created_at=timezone.now() - timedelta(days=30)),
    )


@pytest.fixture
def ready_a(agent_a, branch_a):
    """Requested by agent_a, both consents captured by agent_a: supervisor_a may approve."""
    return transfer_awaiting_approval(actor=agent_a, branch=branch_a)


# --- The queue --------------------------------------------------------------------


def test_queue_lists_open_requests_of_supervised_branches_waiting_first_then_oldest(
    client, agent_a, agent_c, supervisor_a, branch_a, branch_b
):
    consenting_old = transfer_request(actor=agent_a, branch=branch_a)
    ready_old = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    consenting_new = transfer_request(actor=agent_a, branch=branch_a)
    ready_new = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    cancelled = transfer_request(actor=agent_a, branch=branch_a)
    services.transfer_cancel(request=cancelled, actor=agent_a, reason="withdrawn")
    other_branch = transfer_awaiting_approval(actor=agent_c, branch=branch_b)
    client.force_login(supervisor_a)

    assert queued(client) == [ready_old.pk, ready_new.pk, consenting_old.pk, consenting_new.pk]
    assert queued(client, f"?state={TransferState.AWAITING_APPROVAL}") == [ready_old.pk, ready_new.pk]
    assert queued(client, f"?state={TransferState.AWAITING_CONSENT}") == [consenting_old.pk, consenting_new.pk]
    content = client.get(QUEUE).content.decode()
    assert other_branch.number.msisdn not in content
    assert cancelled.number.msisdn not in content


def test_queue_leaves_out_requests_past_their_expiry(client, agent_a, supervisor_a, branch_a):
    """Nobody can approve them; the expiry job closes them."""
    in_time = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    late = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    now = timezone.now()
    back_date(TransferRequest, late.pk, created_at=now - timedelta(days=8), expires_at=now - timedelta(minutes=1))
    client.force_login(supervisor_a)
    assert queued(client) == [in_time.pk]


def test_queue_shows_parties_masked_and_which_consents_stand(client, agent_a, supervisor_a, branch_a):
    transfer = transfer_request(actor=agent_a, branch=branch_a)
    consent_by_code(transfer, actor=agent_a)
    client.force_login(supervisor_a)
    response = client.get(QUEUE)
    row = response.context["rows"][0]
    assert (row.holder_consents, row.new_subscriber_consents) == (True, False)
    content = response.content.decode()
    for subscriber in (transfer.from_holder, transfer.to_subscriber):
        assert subscriber.masked_document in content
        assert document_of(subscriber) not in content


@pytest.mark.parametrize("persona", ["agent_a", "agent_c", "handler_a", "auditor"])
def test_queue_is_refused_to_those_who_supervise_no_branch(request, client, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(QUEUE).status_code == 403


def test_supervisor_b_does_not_see_branch_a_requests(client, supervisor_b, ready_a):
    client.force_login(supervisor_b)
    assert queued(client) == []


# --- Risk flags -------------------------------------------------------------------


def flags_of(transfer, user) -> set[str]:
    row = next(row for row in attach_risk_flags(approval_queue(user=user)) if row.pk == transfer.pk)
    return {flag.code for flag in row.risk_flags}


def test_a_quiet_request_raises_no_flag(agent_a, supervisor_a, branch_a):
    assert flags_of(quiet_request(actor=agent_a, branch=branch_a), supervisor_a) == set()


def test_a_fresh_sale_to_a_new_subscriber_raises_its_flags(agent_a, supervisor_a, branch_a):
    # Sold now (holder started and topped up today), to a subscriber registered today.
    transfer = transfer_request(actor=agent_a, branch=branch_a)
    assert flags_of(transfer, supervisor_a) == {"recent_topup", "recent_holder", "new_subscriber"}


def test_a_recent_topup_is_flagged(agent_a, supervisor_a, branch_a, settings):
    transfer = quiet_request(actor=agent_a, branch=branch_a)
    days = settings.TRANSFER_RISK_TOPUP_DAYS
    services.number_record_topup(
        number=transfer.number, actor=agent_a, reason="cash top-up", at=timezone.now() - timedelta(days=days + 1)
    )
    assert flags_of(transfer, supervisor_a) == set()
    services.number_record_topup(
        number=transfer.number, actor=agent_a, reason="cash top-up", at=timezone.now() - timedelta(days=days - 1)
    )
    assert flags_of(transfer, supervisor_a) == {"recent_topup"}


def test_a_holder_change_within_90_days_is_flagged(agent_a, supervisor_a, branch_a):
    number = MobileNumberFactory(branch=branch_a)
    services.number_transition(
        number=number,
        to_status=NumberStatus.ACTIVE,
        subscriber=SubscriberFactory(created_at=timezone.now() - timedelta(days=200)),
        actor=agent_a,
        reason="sold",
        at=timezone.now() - timedelta(days=60),
    )
    services.number_record_topup(
        number=number, actor=agent_a, reason="old top-up", at=timezone.now() - timedelta(days=30)
    )
    transfer = transfer_request(
        actor=agent_a,
        branch=branch_a,
        number=number,
        new_subscriber=SubscriberFactory(created_at=timezone.now() - timedelta(days=30)),
    )
    assert flags_of(transfer, supervisor_a) == {"recent_holder"}


def test_a_busy_requester_is_flagged(agent_a, agent_b, supervisor_a, branch_a, settings):
    settings.TRANSFER_RISK_REQUESTS_30D = 2
    busy = [quiet_request(actor=agent_a, branch=branch_a) for _ in range(3)]
    calm = quiet_request(actor=agent_b, branch=branch_a)
    assert all(flags_of(transfer, supervisor_a) == {"busy_requester"} for transfer in busy)
    assert flags_of(calm, supervisor_a) == set()


def test_the_requester_count_stops_at_the_cap(agent_a, supervisor_a, branch_a, settings, monkeypatch):
    """Counting a prolific requester's every request made the queue slow; past the cap
    the flag says "N+" instead."""
    monkeypatch.setattr(selectors, "RISK_REQUESTER_COUNT_CAP", 3)
    settings.TRANSFER_RISK_REQUESTS_30D = 1
    first, second = (quiet_request(actor=agent_a, branch=branch_a) for _ in range(2))
    [row] = attach_risk_flags(approval_queue(user=supervisor_a).filter(pk=first.pk))
    assert row.requester_requests_30d == 2 and "Requester: 2 in 30 d" in [flag.short for flag in row.risk_flags]
    for _ in range(3):
        quiet_request(actor=agent_a, branch=branch_a)
    [row] = attach_risk_flags(approval_queue(user=supervisor_a).filter(pk=first.pk))
    assert row.requester_requests_30d == 3 and "Requester: 3+ in 30 d" in [flag.short for flag in row.risk_flags]


def test_an_active_transfer_lock_is_flagged_and_blocks_approval(client, agent_a, supervisor_a, branch_a):
    transfer = quiet_request(actor=agent_a, branch=branch_a)
    consent_by_code(transfer, actor=agent_a)
    consent_in_person(transfer, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    services.transfer_lock_place(number=transfer.number, actor=agent_a, reason="holder asked for a lock")
    assert flags_of(transfer, supervisor_a) == {"locked", "requester_captured"}
    client.force_login(supervisor_a)
    assert "locked the number against transfers" in " ".join(client.get(detail_url(transfer)).context["blockers"])


def test_queue_query_count_does_not_grow_with_rows(
    client, agent_a, supervisor_a, branch_a, settings, django_assert_max_num_queries
):
    settings.TRANSFER_RISK_REQUESTS_30D = 1  # every row carries flags, the busy-requester one included

    def count() -> int:
        with django_assert_max_num_queries(20) as captured:
            response = client.get(QUEUE)
        assert response.status_code == 200
        assert all(row.risk_flags for row in response.context["rows"])
        return len(captured.captured_queries)

    for _ in range(3):
        transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    client.force_login(supervisor_a)
    small = count()
    for _ in range(22):
        transfer_request(actor=agent_a, branch=branch_a)
    large = count()
    assert len(client.get(QUEUE).context["rows"]) == 25
    assert small == large


# --- The decision page ------------------------------------------------------------


def test_supervisor_a_sees_the_full_request_and_no_blocker(client, supervisor_a, ready_a):
    client.force_login(supervisor_a)
    response = client.get(detail_url(ready_a))
    assert response.status_code == 200
    assert response.context["blockers"] == []
    content = response.content.decode()
    assert reverse("admin:numbers_mobilenumber_change", args=[ready_a.number.pk]) in content
    assert ready_a.to_subscriber.masked_document in content
    assert 'id="approve-form"' in content
    assert 'id="reject-form"' in content
    assert "Why you cannot approve" not in content


@pytest.mark.parametrize("persona", ["supervisor_b", "agent_a", "agent_c", "handler_a", "auditor"])
def test_those_without_supervision_of_the_branch_get_403_and_change_nothing(request, client, ready_a, persona):
    before = unchanged(ready_a)
    client.force_login(request.getfixturevalue(persona))
    assert client.get(detail_url(ready_a)).status_code == 403
    assert client.post(approve_url(ready_a), {"approve-reason": "looks fine"}).status_code == 403
    assert client.post(reject_url(ready_a), {"reject-reason": "no"}).status_code == 403
    assert unchanged(ready_a) == before


def test_the_requester_cannot_approve_and_is_told_why(client, supervisor_a, branch_a):
    own = transfer_awaiting_approval(actor=supervisor_a, branch=branch_a)
    before = unchanged(own)
    client.force_login(supervisor_a)

    page = client.get(detail_url(own))
    assert "You made this request: another supervisor must approve it." in page.context["blockers"]
    assert "Why you cannot approve" in page.content.decode()

    response = client.post(approve_url(own), {"approve-reason": "approving my own"}, follow=True)
    assert response.redirect_chain[-1][0] == detail_url(own)
    assert "You made this request" in response.content.decode()
    assert unchanged(own) == before


def test_supervisor_a_approves_and_the_number_changes_holder(
    client, supervisor_a, ready_a, django_capture_on_commit_callbacks
):
    number = ready_a.number
    client.force_login(supervisor_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(approve_url(ready_a), {"approve-reason": "Both consents checked"})

    assert response.status_code == 302
    assert response["Location"] == QUEUE
    assert any("approved" in message for message in messages_of(response))
    ready_a.refresh_from_db()
    number.refresh_from_db()
    assert (ready_a.state, ready_a.decided_by, ready_a.decision_reason) == (
        TransferState.EXECUTED,
        supervisor_a,
        "Both consents checked",
    )
    assert number.holder == ready_a.to_subscriber
    holding = Holding.objects.get(number=number, ended_at__isnull=True)
    assert (holding.start_reason, holding.transfer_request_id) == (HoldingStartReason.TRANSFER, ready_a.pk)
    assert number.history.first().history_change_reason == f"T-{ready_a.pk} approved: Both consents checked"
    assert SmsMessage.objects.filter(purpose=SmsPurpose.TRANSFER_EXECUTED).exists()
    # Decided: off the queue, and no decision forms on its page any more.
    assert queued(client) == []
    assert 'id="approve-form"' not in client.get(detail_url(ready_a)).content.decode()


def test_approval_without_a_reason_changes_nothing(client, supervisor_a, ready_a):
    before = unchanged(ready_a)
    client.force_login(supervisor_a)
    response = client.post(approve_url(ready_a), {"approve-reason": ""})
    assert response["Location"] == detail_url(ready_a)
    assert any("Reason for this change" in message for message in messages_of(response))
    assert unchanged(ready_a) == before


def test_a_lapsed_consent_blocks_approval(client, supervisor_a, ready_a, settings):
    before = unchanged(ready_a)
    later = timezone.now() + timedelta(hours=settings.TRANSFER_CONSENT_VALID_HOURS + 1)
    with time_machine.travel(later, tick=False):
        # Three days on, a session from before would have expired (12 hours): sign in then.
        client.force_login(supervisor_a)
        page = client.get(detail_url(ready_a))
        response = client.post(approve_url(ready_a), {"approve-reason": "late"}, follow=True)
    assert any("No standing consent" in blocker for blocker in page.context["blockers"])
    assert "No standing consent from the current holder" in response.content.decode()
    assert unchanged(ready_a) == before


def test_a_request_missing_consent_cannot_be_approved(client, agent_a, supervisor_a, branch_a):
    transfer = transfer_request(actor=agent_a, branch=branch_a)
    before = unchanged(transfer)
    client.force_login(supervisor_a)
    response = client.post(approve_url(transfer), {"approve-reason": "go"}, follow=True)
    assert "No standing consent" in response.content.decode()
    assert unchanged(transfer) == before


def test_reject_needs_a_reason(client, supervisor_a, ready_a, django_capture_on_commit_callbacks):
    before = unchanged(ready_a)
    client.force_login(supervisor_a)
    response = client.post(reject_url(ready_a), {"reject-reason": "   "})
    assert response["Location"] == detail_url(ready_a)
    assert any("Reason for this change" in message for message in messages_of(response))
    assert unchanged(ready_a) == before

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reject_url(ready_a), {"reject-reason": "Holder called to object"})
    assert response["Location"] == QUEUE
    ready_a.refresh_from_db()
    assert (ready_a.state, ready_a.decided_by, ready_a.decision_reason) == (
        TransferState.REJECTED,
        supervisor_a,
        "Holder called to object",
    )
    assert ready_a.number.holder == ready_a.from_holder
    assert SmsMessage.objects.filter(purpose=SmsPurpose.TRANSFER_REJECTED).exists()


def test_the_requester_cannot_reject_either(client, supervisor_a, branch_a):
    own = transfer_awaiting_approval(actor=supervisor_a, branch=branch_a)
    before = unchanged(own)
    client.force_login(supervisor_a)
    response = client.post(reject_url(own), {"reject-reason": "never mind"})
    assert any("You made this request" in message for message in messages_of(response))
    assert unchanged(own) == before
