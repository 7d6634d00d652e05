"""Transfer requests and the four-eyes decision: who may ask, who may approve,
what an approval does, and that every refusal leaves everything as it was.

Consents are in test_transfer_consents.py, transfer locks in test_transfer_locks.py
and races on PostgreSQL in test_transfer_concurrency.py; they share the helpers here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from backoffice.delivery import DeliveryStatus
from demo.numbers_seed import withdraw_as_lifecycle
from numbers import services
from numbers.choices import (
    ConsentParty,
    HoldingEndReason,
    HoldingStartReason,
    NumberStatus,
    TransferState,
)
from numbers.exceptions import DeletionRefused, GuardedFieldChange
from numbers.models import (
    ConsentCode,
    Holding,
    MobileNumber,
    TransferConsent,
    TransferLock,
    TransferRequest,
    service_write_scope,
)
from sms.choices import SmsPurpose
from sms.models import SmsMessage
from staff.choices import EmploymentStatus
from staff.services import employee_set_status
from tests.factories import SubscriberFactory, consent_by_code, consent_in_person, number_in_state, transfer_request
from tests.helpers import back_date, refused, refused_quietly, transfer_snapshot, with_sms
from tests.snapshots import number_snapshot

pytestmark = pytest.mark.django_db


# --- Fixtures -------------------------------------------------------------------------


@pytest.fixture
def ready(open_request, agent_b):
    """Both consents captured by agent_b: supervisor_a may approve it."""
    consent_by_code(open_request, actor=agent_b)
    consent_in_person(open_request, ConsentParty.NEW_SUBSCRIBER, actor=agent_b)
    open_request.refresh_from_db()
    assert open_request.state == TransferState.AWAITING_APPROVAL
    return open_request


def give(request, party, *, actor, reason="identity checked at the counter"):
    """A party's consent by its everyday factor: the holder's code sent to the number,
    the new subscriber's document at the counter."""
    if party == ConsentParty.CURRENT_HOLDER:
        return consent_by_code(request, actor=actor, reason=reason)
    return consent_in_person(request, party, actor=actor, reason=reason)


def approve(request, actor, reason="both parties seen at the counter"):
    return services.transfer_approve(request=request, actor=actor, reason=reason)


# --- Requesting a transfer --------------------------------------------------------------


def test_an_agent_requests_a_transfer_and_the_holder_is_told_at_once(
    agent_a, active, holder, newcomer, django_capture_on_commit_callbacks
):
    """The holder hears of the request before anyone can approve it, on the number
    itself and on their contact number."""
    before = number_snapshot(active)

    request, sent = with_sms(
        django_capture_on_commit_callbacks,
        lambda: services.transfer_create(number=active, new_subscriber=newcomer, actor=agent_a, reason="gift"),
    )

    request = TransferRequest.objects.get(pk=request.pk)
    assert request.state == TransferState.AWAITING_CONSENT
    assert (request.number, request.from_holder, request.to_subscriber) == (active, holder, newcomer)
    assert (request.branch_id, request.requested_by, request.reason) == (active.branch_id, agent_a, "gift")
    assert request.holder_notified_at == request.created_at
    assert request.decided_by is None and request.closed_at is None
    record = request.history.first()
    assert (record.history_user, record.history_change_reason) == (agent_a, "gift")

    assert sorted(message.to_msisdn for message in sent) == sorted([active.msisdn, holder.contact_msisdn])
    assert {message.purpose for message in sent} == {SmsPurpose.TRANSFER_REQUESTED}
    assert all(f"ref T-{request.pk}" in message.body for message in sent)
    # Asking changes nothing about who holds the number.
    assert number_snapshot(active) == before


def test_a_holder_without_a_contact_number_is_told_on_the_number(
    agent_a, branch_a, newcomer, django_capture_on_commit_callbacks
):
    holder = SubscriberFactory(contact_msisdn="")
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)
    _, sent = with_sms(
        django_capture_on_commit_callbacks,
        lambda: services.transfer_create(number=number, new_subscriber=newcomer, actor=agent_a, reason="gift"),
    )
    assert [message.to_msisdn for message in sent] == [number.msisdn]


def test_a_request_expires_after_the_configured_days(agent_a, branch_a, settings):
    first = transfer_request(actor=agent_a, branch=branch_a)
    assert settings.TRANSFER_REQUEST_EXPIRY_DAYS == 7
    assert first.expires_at - first.created_at == timedelta(days=7)

    settings.TRANSFER_REQUEST_EXPIRY_DAYS = 3
    second = transfer_request(actor=agent_a, branch=branch_a)
    assert second.expires_at - second.created_at == timedelta(days=3)

    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    third = services.transfer_create(
        number=number, new_subscriber=SubscriberFactory(), actor=agent_a, reason="x", expires_in_days=1
    )
    assert third.expires_at - third.created_at == timedelta(days=1)


def test_a_request_open_for_less_than_a_day_is_refused(agent_a, active, newcomer):
    before = transfer_snapshot(active)
    error = refused(
        ValidationError,
        lambda: services.transfer_create(
            number=active, new_subscriber=newcomer, actor=agent_a, reason="x", expires_in_days=0
        ),
    )
    assert error.code == "expiry"
    assert transfer_snapshot(active) == before


@pytest.mark.parametrize("persona", ["agent_a", "agent_b", "supervisor_a"])
def test_staff_of_the_branch_may_request(request, persona, active, newcomer):
    actor = request.getfixturevalue(persona)
    made = services.transfer_create(number=active, new_subscriber=newcomer, actor=actor, reason="gift")
    assert TransferRequest.objects.get(pk=made.pk).requested_by == actor


@pytest.mark.parametrize("persona", ["agent_c", "supervisor_b", "handler_a", "auditor"])
def test_staff_without_counter_authority_on_the_branch_may_not_request(
    request, persona, active, newcomer, django_capture_on_commit_callbacks
):
    """agent_c and supervisor_b work for branch B; the complaint handler and the
    auditor do no counter work."""
    actor = request.getfixturevalue(persona)
    before = transfer_snapshot(active)
    error = refused_quietly(
        django_capture_on_commit_callbacks,
        PermissionDenied,
        lambda: services.transfer_create(number=active, new_subscriber=newcomer, actor=actor, reason="gift"),
    )
    assert "request transfers" in str(error)
    assert transfer_snapshot(active) == before


@pytest.mark.parametrize(
    "state",
    [s for s in NumberStatus.values if s != NumberStatus.ACTIVE],
)
def test_only_an_active_number_can_be_transferred(
    admin_user, agent_a, branch_a, newcomer, state, django_capture_on_commit_callbacks
):
    number = number_in_state(state, actor=admin_user, branch=branch_a)
    before = transfer_snapshot(number)
    error = refused_quietly(
        django_capture_on_commit_callbacks,
        ValidationError,
        lambda: services.transfer_create(number=number, new_subscriber=newcomer, actor=agent_a, reason="gift"),
    )
    assert error.code == "not_active"
    assert "only an active number can be transferred" in error.messages[0]
    assert transfer_snapshot(number) == before


def test_the_new_subscriber_must_differ_from_the_holder(agent_a, active, holder, django_capture_on_commit_callbacks):
    before = transfer_snapshot(active)
    error = refused_quietly(
        django_capture_on_commit_callbacks,
        ValidationError,
        lambda: services.transfer_create(number=active, new_subscriber=holder, actor=agent_a, reason="x"),
    )
    assert error.code == "same_holder"
    assert transfer_snapshot(active) == before


def test_a_request_needs_a_reason(agent_a, active, newcomer):
    before = transfer_snapshot(active)
    error = refused(
        ValidationError,
        lambda: services.transfer_create(number=active, new_subscriber=newcomer, actor=agent_a, reason="  "),
    )
    assert error.code == "reason_required"
    assert transfer_snapshot(active) == before


def test_one_open_request_per_number(agent_a, agent_b, active, open_request, django_capture_on_commit_callbacks):
    """A second request waits until the first is closed; then it is allowed."""
    buyer = SubscriberFactory()
    before = transfer_snapshot(active)
    error = refused_quietly(
        django_capture_on_commit_callbacks,
        ValidationError,
        lambda: services.transfer_create(number=active, new_subscriber=buyer, actor=agent_b, reason="another buyer"),
    )
    assert error.code == "already_open"
    assert f"T-{open_request.pk}" in error.messages[0]
    assert transfer_snapshot(active) == before

    services.transfer_cancel(request=open_request, actor=agent_a, reason="the buyer changed their mind")
    second = services.transfer_create(
        number=active, new_subscriber=SubscriberFactory(), actor=agent_b, reason="another buyer"
    )
    assert second.state == TransferState.AWAITING_CONSENT
    assert list(TransferRequest.objects.filter(number=active).order_by("pk").values_list("state", flat=True)) == [
        TransferState.CANCELLED,
        TransferState.AWAITING_CONSENT,
    ]


def _suspend(user, admin):
    """Suspend the employee and return the user as the next request would load it."""
    employee_set_status(employee=user.employee, status=EmploymentStatus.SUSPENDED, actor=admin, reason="inquiry")
    return get_user_model().objects.get(pk=user.pk)


def _reinstate(user, admin):
    employee_set_status(employee=user.employee, status=EmploymentStatus.ACTIVE, actor=admin, reason="cleared")
    return get_user_model().objects.get(pk=user.pk)


def test_a_suspended_employee_cannot_request(admin_user, agent_b, active, newcomer):
    suspended = _suspend(agent_b, admin_user)
    before = transfer_snapshot(active)
    refused(
        PermissionDenied,
        lambda: services.transfer_create(number=active, new_subscriber=newcomer, actor=suspended, reason="gift"),
    )
    assert transfer_snapshot(active) == before

    reinstated = _reinstate(agent_b, admin_user)
    services.transfer_create(number=active, new_subscriber=newcomer, actor=reinstated, reason="gift")


def test_a_suspended_supervisor_cannot_approve(admin_user, supervisor_a, active, ready):
    suspended = _suspend(supervisor_a, admin_user)
    before = transfer_snapshot(active)
    refused(PermissionDenied, lambda: approve(ready, suspended))
    assert transfer_snapshot(active) == before

    approve(ready, _reinstate(supervisor_a, admin_user))
    assert TransferRequest.objects.get(pk=ready.pk).state == TransferState.EXECUTED


def test_requests_for_different_numbers_are_independent(agent_a, branch_a, open_request):
    other = transfer_request(actor=agent_a, branch=branch_a)
    assert {open_request.state, other.state} == {TransferState.AWAITING_CONSENT}


# --- The four-eyes approval -------------------------------------------------------------


def test_a_supervisor_approves_and_the_number_changes_holder(
    supervisor_a, active, holder, newcomer, ready, django_capture_on_commit_callbacks
):
    old = active.holdings.get()

    request, sent = with_sms(
        django_capture_on_commit_callbacks,
        lambda: approve(ready, supervisor_a, reason="both parties seen, documents checked"),
    )

    request = TransferRequest.objects.get(pk=ready.pk)
    assert request.state == TransferState.EXECUTED
    assert request.decided_by == supervisor_a
    assert request.decision_reason == "both parties seen, documents checked"
    assert request.decided_at is not None

    number = MobileNumber.objects.get(pk=active.pk)
    assert (number.status, number.holder) == (NumberStatus.ACTIVE, newcomer)

    old.refresh_from_db()
    assert (old.subscriber, old.ended_at, old.end_reason, old.ended_by) == (
        holder,
        request.decided_at,
        HoldingEndReason.TRANSFER,
        supervisor_a,
    )
    new = Holding.objects.open().get(number=number)
    assert (new.subscriber, new.start_reason, new.started_by, new.started_at) == (
        newcomer,
        HoldingStartReason.TRANSFER,
        supervisor_a,
        request.decided_at,
    )
    assert new.transfer_request == request
    assert request.opened_holding == new

    # Who and why, on every row the approval wrote.
    for record in (number.history.first(), old.history.first(), new.history.first(), request.history.first()):
        assert record.history_user == supervisor_a
        assert "both parties seen, documents checked" in record.history_change_reason
    assert f"T-{request.pk}" in number.history.first().history_change_reason

    # Both parties are told: the old holder on their contact number, the new one on
    # the number and their contact number.
    assert {message.purpose for message in sent} == {SmsPurpose.TRANSFER_EXECUTED}
    assert sorted(message.to_msisdn for message in sent) == sorted(
        [holder.contact_msisdn, number.msisdn, newcomer.contact_msisdn]
    )


def test_approval_messages_leave_only_after_commit(
    supervisor_a, ready, django_capture_on_commit_callbacks, eager, locmem_sms
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approve(ready, supervisor_a)
        stored = SmsMessage.objects.filter(purpose=SmsPurpose.TRANSFER_EXECUTED)
        assert set(stored.values_list("status", flat=True)) == {DeliveryStatus.QUEUED}
        assert locmem_sms.sent == []
    assert len(callbacks) == 3
    for callback in callbacks:
        callback()
    assert len(locmem_sms.sent) == 3
    assert set(stored.values_list("status", flat=True)) == {DeliveryStatus.SENT}


def test_a_rolled_back_approval_changes_nothing_and_tells_nobody(
    supervisor_a, active, ready, django_capture_on_commit_callbacks
):
    """If the surrounding transaction fails after the approval, the number stays with
    its holder and no subscriber is told it moved."""
    before = transfer_snapshot(active)
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        approve(ready, supervisor_a)
        assert MobileNumber.objects.get(pk=active.pk).holder == ready.to_subscriber
        raise RuntimeError("a later step of the same transaction failed")
    assert callbacks == []
    assert transfer_snapshot(active) == before


@pytest.mark.parametrize("persona", ["supervisor_b", "agent_a", "agent_b", "agent_c", "handler_a", "auditor"])
def test_approval_needs_supervisor_authority_on_the_branch(
    request, persona, active, ready, django_capture_on_commit_callbacks
):
    actor = request.getfixturevalue(persona)
    before = transfer_snapshot(active)
    error = refused_quietly(django_capture_on_commit_callbacks, PermissionDenied, lambda: approve(ready, actor))
    assert "approve transfers" in str(error)
    assert transfer_snapshot(active) == before


def test_a_superuser_does_not_approve(admin_user, supervisor_a, active, ready, django_capture_on_commit_callbacks):
    """The administrator has authority everywhere, but approval is a named
    supervisor's accountable duty."""
    before = transfer_snapshot(active)
    error = refused_quietly(django_capture_on_commit_callbacks, ValidationError, lambda: approve(ready, admin_user))
    assert any("Superuser accounts do not approve" in message for message in error.messages)
    assert transfer_snapshot(active) == before

    approve(ready, supervisor_a)
    assert TransferRequest.objects.get(pk=ready.pk).state == TransferState.EXECUTED


def test_the_requester_does_not_approve(
    supervisor_a, supervisor_a2, agent_b, active, newcomer, django_capture_on_commit_callbacks
):
    request = services.transfer_create(number=active, new_subscriber=newcomer, actor=supervisor_a, reason="gift")
    consent_by_code(request, actor=agent_b)
    consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=agent_b)
    before = transfer_snapshot(active)

    error = refused_quietly(django_capture_on_commit_callbacks, ValidationError, lambda: approve(request, supervisor_a))
    assert error.messages == ["You made this request: another supervisor must approve it."]
    assert transfer_snapshot(active) == before

    approve(request, supervisor_a2)
    request.refresh_from_db()
    assert (request.state, request.decided_by, request.requested_by) == (
        TransferState.EXECUTED,
        supervisor_a2,
        supervisor_a,
    )


@pytest.mark.parametrize("party", ConsentParty.values)
def test_whoever_captured_a_consent_does_not_approve(
    supervisor_a, supervisor_a2, agent_b, active, open_request, party, django_capture_on_commit_callbacks
):
    give(open_request, party, actor=supervisor_a)
    other = next(p for p in ConsentParty.values if p != party)
    give(open_request, other, actor=agent_b)
    before = transfer_snapshot(active)

    error = refused_quietly(
        django_capture_on_commit_callbacks, ValidationError, lambda: approve(open_request, supervisor_a)
    )
    label = ConsentParty(party).label.lower()
    assert error.messages == [f"You captured the {label}'s consent: another supervisor must approve."]
    assert transfer_snapshot(active) == before

    approve(open_request, supervisor_a2)
    assert TransferRequest.objects.get(pk=open_request.pk).state == TransferState.EXECUTED


@pytest.mark.parametrize("missing", ConsentParty.values)
def test_approval_needs_both_consents(
    supervisor_a, agent_b, active, open_request, missing, django_capture_on_commit_callbacks
):
    given = next(p for p in ConsentParty.values if p != missing)
    give(open_request, given, actor=agent_b)
    before = transfer_snapshot(active)

    error = refused_quietly(
        django_capture_on_commit_callbacks, ValidationError, lambda: approve(open_request, supervisor_a)
    )
    label = ConsentParty(missing).label.lower()
    assert error.messages == [f"No standing consent from the {label} (missing, revoked or lapsed)."]
    assert transfer_snapshot(active) == before

    give(open_request, missing, actor=agent_b)
    approve(open_request, supervisor_a)
    assert TransferRequest.objects.get(pk=open_request.pk).state == TransferState.EXECUTED


@pytest.mark.parametrize("party", ConsentParty.values)
def test_a_revoked_consent_does_not_count(
    supervisor_a, agent_b, active, ready, party, django_capture_on_commit_callbacks
):
    consent = ready.consents.get(party=party)
    services.consent_revoke(consent=consent, actor=agent_b, reason="changed their mind")
    before = transfer_snapshot(active)

    error = refused_quietly(django_capture_on_commit_callbacks, ValidationError, lambda: approve(ready, supervisor_a))
    assert any("No standing consent" in message for message in error.messages)
    assert transfer_snapshot(active) == before

    give(ready, party, actor=agent_b, reason="consents again")
    approve(ready, supervisor_a)
    assert TransferRequest.objects.get(pk=ready.pk).state == TransferState.EXECUTED


@pytest.mark.parametrize("party", ConsentParty.values)
def test_a_lapsed_consent_does_not_count(
    supervisor_a, agent_b, active, ready, party, django_capture_on_commit_callbacks
):
    """Consent is given for a time; once it lapses the party must consent again."""
    consent = ready.consents.get(party=party)
    now = timezone.now()
    back_date(TransferConsent, consent.pk, captured_at=now - timedelta(hours=80), lapses_at=now - timedelta(hours=8))
    before = transfer_snapshot(active)

    error = refused_quietly(django_capture_on_commit_callbacks, ValidationError, lambda: approve(ready, supervisor_a))
    label = ConsentParty(party).label.lower()
    assert error.messages == [f"No standing consent from the {label} (missing, revoked or lapsed)."]
    assert transfer_snapshot(active) == before

    give(ready, party, actor=agent_b, reason="consents again")
    approve(ready, supervisor_a)
    assert TransferRequest.objects.get(pk=ready.pk).state == TransferState.EXECUTED


def test_the_number_must_still_be_active(supervisor_a, agent_a, active, ready, django_capture_on_commit_callbacks):
    """What was true when the request was made is checked again at approval."""
    leave, back = NumberStatus.SUSPENDED, NumberStatus.ACTIVE
    services.number_transition(number=active, to_status=leave, actor=agent_a, reason="unpaid bill")
    before = transfer_snapshot(active)

    error = refused_quietly(django_capture_on_commit_callbacks, ValidationError, lambda: approve(ready, supervisor_a))
    assert error.messages == [f"The number is {NumberStatus(leave).label.lower()}, not active."]
    assert transfer_snapshot(active) == before

    services.number_transition(number=active, to_status=back, actor=agent_a, reason="resolved")
    approve(ready, supervisor_a)
    assert MobileNumber.objects.get(pk=active.pk).holder == ready.to_subscriber


def test_blocking_the_number_cancels_its_open_request(handler_a, supervisor_a, active, ready):
    """A number frozen for a complaint ends the transfer matters on it: the request is
    cancelled with the block's reason, and stays cancelled after the unblock."""
    services.number_block(number=active, actor=handler_a, reason="complaint: stolen phone")
    ready.refresh_from_db()
    assert ready.state == TransferState.CANCELLED
    assert ready.close_reason == "Number blocked: complaint: stolen phone"
    assert ready.closed_by == handler_a
    services.number_unblock(number=active, actor=handler_a, reason="resolved")
    error = refused(ValidationError, lambda: approve(ready, supervisor_a))
    assert error.messages == ["The request is cancelled."]
    assert MobileNumber.objects.get(pk=active.pk).holder == ready.from_holder


def test_the_number_must_still_be_held_by_the_same_subscriber(supervisor_a, ready, newcomer):
    """No service changes an active number's holder while a request is open (see
    test_holder_paths.py), so this is the queue's check on a changed copy."""
    assert services.transfer_approval_blockers(request=ready, actor=supervisor_a) == []
    ready.number.holder_id = newcomer.pk
    assert services.transfer_approval_blockers(request=ready, actor=supervisor_a) == [
        "The number is no longer held by the subscriber named in the request."
    ]


def test_the_number_must_still_be_in_the_requests_branch(
    supervisor_a, active, ready, branch_a, branch_b, django_capture_on_commit_callbacks
):
    """The branch is not a guarded field; a number moved away is decided there."""
    active.branch = branch_b
    active.save()
    before = transfer_snapshot(active)

    error = refused_quietly(django_capture_on_commit_callbacks, ValidationError, lambda: approve(ready, supervisor_a))
    assert error.messages == ["The number has moved to another branch since the request."]
    assert transfer_snapshot(active) == before

    active.branch = branch_a
    active.save()
    approve(ready, supervisor_a)
    assert TransferRequest.objects.get(pk=ready.pk).state == TransferState.EXECUTED


def test_an_expired_request_cannot_be_approved(supervisor_a, active, ready, django_capture_on_commit_callbacks):
    """Expired by the clock, before the expiry job closed it."""
    now = timezone.now()
    back_date(TransferRequest, ready.pk, created_at=now - timedelta(days=8), expires_at=now - timedelta(days=1))
    before = transfer_snapshot(active)
    error = refused_quietly(django_capture_on_commit_callbacks, ValidationError, lambda: approve(ready, supervisor_a))
    assert error.messages == ["The request has expired."]
    assert transfer_snapshot(active) == before


def test_a_request_closed_by_the_expiry_job_cannot_be_approved(
    supervisor_a, active, ready, django_capture_on_commit_callbacks
):
    assert services.transfer_expire_due(now=ready.expires_at) == 1
    before = transfer_snapshot(active)
    error = refused_quietly(django_capture_on_commit_callbacks, ValidationError, lambda: approve(ready, supervisor_a))
    assert error.messages == ["The request is expired."]
    assert transfer_snapshot(active) == before


def test_approval_needs_a_reason(supervisor_a, active, ready):
    before = transfer_snapshot(active)
    error = refused(ValidationError, lambda: approve(ready, supervisor_a, reason=""))
    assert error.code == "reason_required"
    assert transfer_snapshot(active) == before


def test_an_approved_request_is_decided_once(supervisor_a, supervisor_a2, agent_a, active, ready):
    approve(ready, supervisor_a)
    before = transfer_snapshot(active)
    error = refused(ValidationError, lambda: approve(ready, supervisor_a2))
    assert error.messages == ["The request is approved and executed."]
    error = refused(ValidationError, lambda: services.transfer_reject(request=ready, actor=supervisor_a2, reason="x"))
    assert error.code == "not_open"
    error = refused(ValidationError, lambda: services.transfer_cancel(request=ready, actor=agent_a, reason="x"))
    assert error.code == "not_open"
    assert transfer_snapshot(active) == before


def test_approval_blockers_list_every_reason_at_once(supervisor_a, open_request):
    """The queue shows why before anyone tries; empty once approval may go ahead."""
    consent_by_code(open_request, actor=supervisor_a)
    blockers = services.transfer_approval_blockers(request=open_request, actor=supervisor_a)
    assert blockers == [
        "You captured the current holder's consent: another supervisor must approve.",
        "No standing consent from the new subscriber (missing, revoked or lapsed).",
    ]


def test_a_number_can_be_transferred_again(supervisor_a, agent_b, active, holder, newcomer, ready):
    """The second transfer closes a holding that a transfer opened."""
    approve(ready, supervisor_a)
    third = SubscriberFactory(full_name="Third Holder")
    again = services.transfer_create(number=active, new_subscriber=third, actor=agent_b, reason="passed on")
    assert again.from_holder == newcomer
    consent_by_code(again, actor=agent_b)
    consent_in_person(again, ConsentParty.NEW_SUBSCRIBER, actor=agent_b)
    approve(again, supervisor_a)

    assert MobileNumber.objects.get(pk=active.pk).holder == third
    ledger = list(Holding.objects.filter(number=active).order_by("pk").values_list("subscriber", "end_reason"))
    assert ledger == [(holder.pk, HoldingEndReason.TRANSFER), (newcomer.pk, HoldingEndReason.TRANSFER), (third.pk, "")]


# --- Rejection ----------------------------------------------------------------------------


def test_a_supervisor_rejects_with_a_reason(supervisor_a, agent_b, active, ready, django_capture_on_commit_callbacks):
    before = number_snapshot(active)
    request, sent = with_sms(
        django_capture_on_commit_callbacks,
        lambda: services.transfer_reject(request=ready, actor=supervisor_a, reason="holder sounded coerced"),
    )
    request = TransferRequest.objects.get(pk=ready.pk)
    assert request.state == TransferState.REJECTED
    assert (request.decided_by, request.decision_reason) == (supervisor_a, "holder sounded coerced")
    assert request.decided_at is not None
    assert (request.history.first().history_user, request.history.first().history_change_reason) == (
        supervisor_a,
        "holder sounded coerced",
    )
    assert number_snapshot(active) == before
    assert {message.purpose for message in sent} == {SmsPurpose.TRANSFER_REJECTED}
    assert sorted(message.to_msisdn for message in sent) == sorted([active.msisdn, ready.from_holder.contact_msisdn])

    # Closed: no longer blocks a new request for the number.
    services.transfer_create(number=active, new_subscriber=SubscriberFactory(), actor=agent_b, reason="new buyer")


def test_rejection_needs_a_reason(supervisor_a, active, ready):
    before = transfer_snapshot(active)
    error = refused(ValidationError, lambda: services.transfer_reject(request=ready, actor=supervisor_a, reason=" "))
    assert error.code == "reason_required"
    assert transfer_snapshot(active) == before


def test_the_requester_cannot_reject_their_own_request(
    supervisor_a, supervisor_a2, active, newcomer, django_capture_on_commit_callbacks
):
    request = services.transfer_create(number=active, new_subscriber=newcomer, actor=supervisor_a, reason="gift")
    before = transfer_snapshot(active)
    error = refused_quietly(
        django_capture_on_commit_callbacks,
        ValidationError,
        lambda: services.transfer_reject(request=request, actor=supervisor_a, reason="never mind"),
    )
    assert error.code == "four_eyes"
    assert transfer_snapshot(active) == before

    services.transfer_reject(request=request, actor=supervisor_a2, reason="no consent from the holder")
    assert TransferRequest.objects.get(pk=request.pk).state == TransferState.REJECTED


@pytest.mark.parametrize("persona", ["agent_a", "agent_b", "supervisor_b", "handler_a", "auditor"])
def test_rejection_needs_supervisor_authority_on_the_branch(request, persona, active, ready):
    actor = request.getfixturevalue(persona)
    before = transfer_snapshot(active)
    refused(PermissionDenied, lambda: services.transfer_reject(request=ready, actor=actor, reason="no"))
    assert transfer_snapshot(active) == before


# --- Cancellation -------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["agent_a", "agent_b", "supervisor_a"])
def test_branch_staff_cancel_an_open_request(request, persona, active, ready, django_capture_on_commit_callbacks):
    actor = request.getfixturevalue(persona)
    before = number_snapshot(active)
    _, sent = with_sms(
        django_capture_on_commit_callbacks,
        lambda: services.transfer_cancel(request=ready, actor=actor, reason="the holder refused at the counter"),
    )
    request = TransferRequest.objects.get(pk=ready.pk)
    assert request.state == TransferState.CANCELLED
    assert (request.closed_by, request.close_reason) == (actor, "the holder refused at the counter")
    assert request.closed_at is not None and request.decided_by is None
    assert number_snapshot(active) == before
    assert {message.purpose for message in sent} == {SmsPurpose.TRANSFER_CANCELLED}


@pytest.mark.parametrize("persona", ["agent_c", "supervisor_b", "handler_a", "auditor"])
def test_staff_of_another_branch_cannot_cancel(request, persona, active, ready):
    actor = request.getfixturevalue(persona)
    before = transfer_snapshot(active)
    refused(PermissionDenied, lambda: services.transfer_cancel(request=ready, actor=actor, reason="no"))
    assert transfer_snapshot(active) == before


def test_a_closed_request_cannot_be_cancelled(agent_a, supervisor_a, active, ready):
    services.transfer_reject(request=ready, actor=supervisor_a, reason="documents doubtful")
    before = transfer_snapshot(active)
    error = refused(ValidationError, lambda: services.transfer_cancel(request=ready, actor=agent_a, reason="x"))
    assert error.code == "not_open"
    assert transfer_snapshot(active) == before


# --- Closed requests stay on record ----------------------------------------------------------


def _close_as(state, *, request, agent, supervisor):
    if state == TransferState.CANCELLED:
        services.transfer_cancel(request=request, actor=agent, reason="changed mind")
    elif state == TransferState.REJECTED:
        services.transfer_reject(request=request, actor=supervisor, reason="doubtful")
    elif state == TransferState.EXPIRED:
        services.transfer_expire_due(now=request.expires_at)
    else:
        approve(request, supervisor)
    request.refresh_from_db()
    assert request.state == state
    return request


@pytest.mark.parametrize("state", [s for s in TransferState.values if s != TransferState.AWAITING_CONSENT])
@pytest.mark.parametrize("how", ["instance", "queryset", "relation"])
def test_requests_are_never_deleted(agent_a, supervisor_a, ready, state, how):
    if state != TransferState.AWAITING_APPROVAL:
        _close_as(state, request=ready, agent=agent_a, supervisor=supervisor_a)
    delete = {
        "instance": ready.delete,
        "queryset": TransferRequest.objects.filter(pk=ready.pk).delete,
        "relation": ready.number.transfer_requests.all().delete,
    }[how]
    error = refused(DeletionRefused, delete)
    assert error.code == "no_delete"
    assert TransferRequest.objects.filter(pk=ready.pk, state=state).exists()
    assert ready.consents.count() == 2


def test_consents_codes_and_locks_are_never_deleted(agent_a, agent_b, branch_a, ready):
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    request = services.transfer_create(number=number, new_subscriber=SubscriberFactory(), actor=agent_a, reason="x")
    code = services.consent_code_send(request=request, actor=agent_b, reason="holder on the phone")
    lock = services.transfer_lock_place(number=number, actor=agent_b, reason="holder asked")
    rows = [ready.consents.first(), code, lock]
    for row in rows:
        assert refused(DeletionRefused, row.delete).code == "no_delete"
        assert refused(DeletionRefused, type(row).objects.all().delete).code == "no_delete"
    assert all(type(row).objects.filter(pk=row.pk).exists() for row in rows)


# --- Expiry -------------------------------------------------------------------------------------


def test_the_expiry_job_closes_only_requests_past_their_time(
    agent_a, supervisor_a, branch_a, ready, django_capture_on_commit_callbacks
):
    longer = transfer_request(actor=agent_a, branch=branch_a)
    back_date(TransferRequest, longer.pk, expires_at=longer.created_at + timedelta(days=10))
    decided = transfer_request(actor=agent_a, branch=branch_a)
    services.transfer_reject(request=decided, actor=supervisor_a, reason="doubtful")
    decided_before = TransferRequest.objects.filter(pk=decided.pk).values().get()
    at = ready.expires_at + timedelta(minutes=1)

    expired, sent = with_sms(django_capture_on_commit_callbacks, lambda: services.transfer_expire_due(now=at))

    assert expired == 1
    ready.refresh_from_db()
    assert ready.state == TransferState.EXPIRED
    assert ready.closed_at == at
    assert ready.close_reason.startswith("Expired: not approved by ")
    assert ready.closed_by is None and ready.decided_by is None
    assert TransferRequest.objects.get(pk=longer.pk).state == TransferState.AWAITING_CONSENT
    assert TransferRequest.objects.filter(pk=decided.pk).values().get() == decided_before
    assert {message.purpose for message in sent} == {SmsPurpose.TRANSFER_CANCELLED}
    assert {message.to_msisdn for message in sent} == {ready.number.msisdn, ready.from_holder.contact_msisdn}

    # Run again: nothing more is due.
    assert services.transfer_expire_due(now=at) == 0
    assert TransferRequest.objects.filter(state=TransferState.EXPIRED).count() == 1


def test_the_expiry_job_leaves_requests_still_in_time(ready):
    assert services.transfer_expire_due() == 0
    assert TransferRequest.objects.get(pk=ready.pk).state == TransferState.AWAITING_APPROVAL
    assert services.transfer_expire_due(now=ready.expires_at - timedelta(seconds=1)) == 0
    assert TransferRequest.objects.get(pk=ready.pk).is_open


def test_the_expiry_job_sends_a_request_whose_consent_lapsed_back_to_awaiting_consent(ready):
    """The queue must not show as approvable a request that approval would refuse."""
    lapse = min(consent.lapses_at for consent in ready.consents.all())
    services.transfer_expire_due(now=lapse - timedelta(seconds=1))
    assert TransferRequest.objects.get(pk=ready.pk).state == TransferState.AWAITING_APPROVAL

    services.transfer_expire_due(now=lapse)

    request = TransferRequest.objects.get(pk=ready.pk)
    assert request.state == TransferState.AWAITING_CONSENT
    assert request.history.first().history_change_reason == "A consent lapsed; consent is needed again."


# --- Withdrawal ends the transfer matters of a number -------------------------------------------


def test_withdrawing_a_number_cancels_its_request(supervisor_a, ready):
    withdraw_as_lifecycle(ready.number, actor=supervisor_a, reason="90 days without top-up")

    ready.refresh_from_db()
    assert ready.state == TransferState.CANCELLED
    assert ready.closed_by == supervisor_a
    assert ready.close_reason == "Number withdrawn: 90 days without top-up"


def test_a_locked_number_is_not_withdrawn_even_by_the_lifecycles_own_write(supervisor_a, agent_a, branch_a):
    """The lock survives every path but its own consented lift: the database refuses
    the withdrawal of a locked number even to code that skips the services' checks."""
    locked = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    lock = services.transfer_lock_place(number=locked, actor=agent_a, reason="holder asked")
    before = number_snapshot(locked)

    with pytest.raises(IntegrityError), transaction.atomic():
        withdraw_as_lifecycle(locked, actor=supervisor_a, reason="90 days without top-up")

    assert number_snapshot(locked) == before
    assert TransferLock.objects.get(pk=lock.pk).lifted_at is None


def test_suspending_a_number_keeps_its_request_and_lock(agent_a, active, open_request):
    """Only withdrawal ends them; approval re-checks the status anyway."""
    lock_number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=active.branch)
    lock = services.transfer_lock_place(number=lock_number, actor=agent_a, reason="holder asked")
    for number in (active, lock_number):
        services.number_transition(number=number, to_status=NumberStatus.SUSPENDED, actor=agent_a, reason="unpaid")
    assert TransferRequest.objects.get(pk=open_request.pk).state == TransferState.AWAITING_CONSENT
    assert TransferLock.objects.get(pk=lock.pk).lifted_at is None


# --- Writes outside the services -----------------------------------------------------------------


@pytest.fixture
def transfer_rows(agent_a, agent_b, branch_a, ready):
    """One row of each service-written transfer model."""
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    request = services.transfer_create(number=number, new_subscriber=SubscriberFactory(), actor=agent_a, reason="x")
    code = services.consent_code_send(request=request, actor=agent_b, reason="holder on the phone")
    lock_number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    lock = services.transfer_lock_place(number=lock_number, actor=agent_b, reason="holder asked")
    return {
        TransferRequest: ready,
        TransferConsent: ready.consents.first(),
        ConsentCode: code,
        TransferLock: lock,
    }


def _fields_of(model):
    return {
        TransferRequest: {"state": TransferState.EXECUTED},
        TransferConsent: {"revoked_at": timezone.now()},
        ConsentCode: {"attempts": 0, "expires_at": timezone.now() + timedelta(days=365)},
        TransferLock: {"lifted_at": timezone.now()},
    }[model]


def _row_values(rows):
    return {model: model.objects.filter(pk=row.pk).values().get() for model, row in rows.items()}


@pytest.mark.parametrize(
    "model", [TransferRequest, TransferConsent, ConsentCode, TransferLock], ids=lambda model: model.__name__
)
@pytest.mark.parametrize("how", ["save", "create", "update", "bulk_update", "bulk_create"])
def test_writes_outside_the_services_are_refused(transfer_rows, model, how):
    row = transfer_rows[model]
    before = _row_values(transfer_rows)
    counts = {m: m.objects.count() for m in transfer_rows}
    changes = _fields_of(model)

    def save():
        for field, value in changes.items():
            setattr(row, field, value)
        row.save()

    def create():
        copy = model.objects.filter(pk=row.pk).get()
        copy.pk = None
        copy.save()

    def bulk_create():
        copy = model.objects.filter(pk=row.pk).get()
        copy.pk = None
        model.objects.bulk_create([copy])

    def bulk_update():
        for field, value in changes.items():
            setattr(row, field, value)
        model.objects.bulk_update([row], list(changes))

    action = {
        "save": save,
        "create": create,
        "update": lambda: model.objects.filter(pk=row.pk).update(**changes),
        "bulk_update": bulk_update,
        "bulk_create": bulk_create,
    }[how]

    error = refused(GuardedFieldChange, action)

    assert error.code == "ledger_write_refused"
    assert "written only by the number services" in error.messages[0]
    assert _row_values(transfer_rows) == before
    assert {m: m.objects.count() for m in transfer_rows} == counts


def test_the_services_write_inside_their_scope(transfer_rows):
    """The allowed side of the guard: the same write in the services' scope passes."""
    lock = transfer_rows[TransferLock]
    with service_write_scope():
        TransferLock.objects.filter(pk=lock.pk).update(place_reason="holder asked by phone")
    assert TransferLock.objects.get(pk=lock.pk).place_reason == "holder asked by phone"


# --- Decisions made in review ------------------------------------------------------------------


def test_withdrawal_closes_the_request_without_telling_the_holder_the_number_stays(
    supervisor_a, ready, django_capture_on_commit_callbacks
):
    """'Your number stays with you' would be false: the number is being withdrawn."""
    _, sent = with_sms(
        django_capture_on_commit_callbacks,
        lambda: withdraw_as_lifecycle(ready.number, actor=supervisor_a, reason="90 days without top-up"),
    )
    assert not [sms for sms in sent if sms.purpose == SmsPurpose.TRANSFER_CANCELLED]


def test_cancelling_still_tells_the_holder_the_number_stays(agent_a, ready, django_capture_on_commit_callbacks):
    _, sent = with_sms(
        django_capture_on_commit_callbacks,
        lambda: services.transfer_cancel(request=ready, actor=agent_a, reason="new subscriber changed their mind"),
    )
    assert [sms.purpose for sms in sent] and all(sms.purpose == SmsPurpose.TRANSFER_CANCELLED for sms in sent)
    assert "stays with you" in sent[0].body


def test_the_blockers_name_missing_branch_authority(supervisor_a, supervisor_b, ready):
    assert services.transfer_approval_blockers(request=ready, actor=supervisor_a) == []
    assert "You have no authority to approve transfers for this branch." in services.transfer_approval_blockers(
        request=ready, actor=supervisor_b
    )


def test_a_superuser_may_reject_though_not_approve(admin_user, ready):
    """Stopping a transfer never harms a holder; handing a number over needs a named supervisor."""
    with pytest.raises(ValidationError):
        services.transfer_approve(request=ready, actor=admin_user, reason="looks fine")
    services.transfer_reject(request=ready, actor=admin_user, reason="holder called to object")
    ready.refresh_from_db()
    assert ready.state == TransferState.REJECTED and ready.decided_by == admin_user
