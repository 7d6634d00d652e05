"""Transfer locks: at the holder's request no transfer can be requested or approved
for the number until the holder lifts the lock in person."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from numbers import services
from numbers.choices import ConsentParty, IdentityDocumentType, NumberStatus, TransferState
from numbers.models import MobileNumber, TransferLock, TransferRequest
from sms.choices import SmsPurpose
from tests.factories import SubscriberFactory, consent_by_code, consent_in_person, document_of, number_in_state
from tests.helpers import refused, refused_quietly, transfer_snapshot, with_sms

pytestmark = pytest.mark.django_db


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def lock(number, actor, reason="holder fears a SIM-swap fraud"):
    return services.transfer_lock_place(number=number, actor=actor, reason=reason)


def lift(number, actor, *, document_type=IdentityDocumentType.NATIONAL_ID, document_number="N0123456"):
    return services.transfer_lock_lift(
        number=number,
        document_type=document_type,
        document_number=document_number,
        actor=actor,
        reason="holder wants to transfer after all",
    )


def request_transfer(number, actor, buyer=None):
    buyer = buyer or SubscriberFactory()
    return services.transfer_create(number=number, new_subscriber=buyer, actor=actor, reason="sold")


# --- Placing a lock -------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["agent_a", "agent_b", "supervisor_a"])
def test_branch_staff_lock_a_held_number(request, persona, active, holder, capture):
    actor = request.getfixturevalue(persona)
    placed, sent = with_sms(capture, lambda: lock(active, actor))

    placed = TransferLock.objects.get(pk=placed.pk)
    assert (placed.number, placed.subscriber, placed.placed_by) == (active, holder, actor)
    assert placed.place_reason == "holder fears a SIM-swap fraud"
    assert placed.is_active
    record = placed.history.first()
    assert (record.history_user, record.history_change_reason) == (actor, "holder fears a SIM-swap fraud")
    assert [(message.to_msisdn, message.purpose) for message in sent] == [(active.msisdn, SmsPurpose.TRANSFER_LOCK)]


@pytest.mark.parametrize("state", [NumberStatus.SUSPENDED, NumberStatus.BLOCKED])
def test_a_suspended_or_blocked_number_can_be_locked_too(admin_user, agent_a, branch_a, state):
    number = number_in_state(state, actor=admin_user, branch=branch_a)
    assert lock(number, agent_a).subscriber_id == MobileNumber.objects.get(pk=number.pk).holder_id


@pytest.mark.parametrize("persona", ["agent_c", "supervisor_b", "handler_a", "auditor"])
def test_staff_without_counter_authority_on_the_branch_cannot_lock(request, persona, active, capture):
    actor = request.getfixturevalue(persona)
    before = transfer_snapshot(active)
    refused_quietly(capture, PermissionDenied, lambda: lock(active, actor))
    assert transfer_snapshot(active) == before


@pytest.mark.parametrize("state", [NumberStatus.AVAILABLE, NumberStatus.RESERVED, NumberStatus.WITHDRAWN])
def test_an_unheld_number_cannot_be_locked(admin_user, agent_a, branch_a, state, capture):
    number = number_in_state(state, actor=admin_user, branch=branch_a)
    before = transfer_snapshot(number)
    error = refused_quietly(capture, ValidationError, lambda: lock(number, agent_a))
    assert error.code == "not_held"
    assert transfer_snapshot(number) == before


def test_a_number_is_locked_once(agent_a, agent_b, active, capture):
    lock(active, agent_a)
    before = transfer_snapshot(active)
    error = refused_quietly(capture, ValidationError, lambda: lock(active, agent_b))
    assert error.code == "locked"
    assert transfer_snapshot(active) == before


def test_a_lock_needs_a_reason(agent_a, active):
    before = transfer_snapshot(active)
    assert refused(ValidationError, lambda: lock(active, agent_a, reason=" ")).code == "reason_required"
    assert transfer_snapshot(active) == before


# --- What a lock stops ------------------------------------------------------------------


def test_no_transfer_request_while_a_lock_stands(agent_a, agent_b, active, capture):
    lock(active, agent_a)
    buyer = SubscriberFactory()
    before = transfer_snapshot(active)

    error = refused_quietly(capture, ValidationError, lambda: request_transfer(active, agent_b, buyer))

    assert error.code == "transfer_locked"
    assert "lift the lock in person" in error.messages[0]
    assert transfer_snapshot(active) == before

    lift(active, agent_b)
    assert request_transfer(active, agent_b).state == TransferState.AWAITING_CONSENT


def test_no_approval_of_an_open_request_once_a_lock_is_placed(agent_a, agent_b, supervisor_a, active, holder, capture):
    """The lock placed after the request stops its approval: the holder's word wins."""
    request = request_transfer(active, agent_a)
    consent_by_code(request, actor=agent_b)
    consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=agent_b)
    lock(active, agent_b)
    before = transfer_snapshot(active)

    error = refused_quietly(
        capture,
        ValidationError,
        lambda: services.transfer_approve(request=request, actor=supervisor_a, reason="all checked"),
    )

    assert error.messages == ["The holder has locked the number against transfers."]
    assert transfer_snapshot(active) == before
    assert MobileNumber.objects.get(pk=active.pk).holder == holder

    lift(active, agent_b)
    services.transfer_approve(request=request, actor=supervisor_a, reason="lock lifted by the holder in person")
    assert TransferRequest.objects.get(pk=request.pk).state == TransferState.EXECUTED


def test_a_lock_on_one_number_does_not_stop_another(agent_a, branch_a, active):
    lock(active, agent_a)
    other = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    assert request_transfer(other, agent_a).number == other


# --- Lifting a lock -----------------------------------------------------------------------


def test_the_holder_lifts_the_lock_with_their_document(agent_a, agent_b, active, capture):
    placed = lock(active, agent_a)
    lifted, sent = with_sms(capture, lambda: lift(active, agent_b, document_number="n-0123 456"))

    lifted = TransferLock.objects.get(pk=placed.pk)
    assert not lifted.is_active
    assert (lifted.lifted_by, lifted.lift_reason) == (agent_b, "holder wants to transfer after all")
    assert lifted.lift_evidence.startswith("In person: National ID card")
    assert "N0123456" not in lifted.lift_evidence
    assert lifted.history.first().history_user == agent_b
    assert [(message.to_msisdn, message.purpose) for message in sent] == [(active.msisdn, SmsPurpose.TRANSFER_LOCK)]

    # Lifted, the number may be locked again.
    assert lock(active, agent_a).is_active


@pytest.mark.parametrize(
    ("document_type", "document_number"),
    [
        (IdentityDocumentType.NATIONAL_ID, "N0123457"),
        (IdentityDocumentType.PASSPORT, "N0123456"),
        (IdentityDocumentType.NATIONAL_ID, ""),
    ],
    ids=["wrong number", "wrong type", "blank"],
)
def test_a_document_that_does_not_match_the_holder_leaves_the_lock(
    agent_a, active, document_type, document_number, capture
):
    lock(active, agent_a)
    before = transfer_snapshot(active)
    error = refused_quietly(
        capture,
        ValidationError,
        lambda: lift(active, agent_a, document_type=document_type, document_number=document_number),
    )
    assert error.code == "document_mismatch"
    assert transfer_snapshot(active) == before


def test_the_new_subscribers_document_does_not_lift_the_holders_lock(agent_a, active):
    stranger = SubscriberFactory(id_document_type=IdentityDocumentType.NATIONAL_ID)
    lock(active, agent_a)
    before = transfer_snapshot(active)
    refused(
        ValidationError,
        lambda: lift(active, agent_a, document_type=stranger.id_document_type, document_number=document_of(stranger)),
    )
    assert transfer_snapshot(active) == before


def test_an_unlocked_number_has_nothing_to_lift(agent_a, active):
    before = transfer_snapshot(active)
    assert refused(ValidationError, lambda: lift(active, agent_a)).code == "not_locked"
    assert transfer_snapshot(active) == before


@pytest.mark.parametrize("persona", ["agent_c", "supervisor_b", "handler_a", "auditor"])
def test_staff_without_counter_authority_on_the_branch_cannot_lift(request, persona, agent_a, active):
    actor = request.getfixturevalue(persona)
    lock(active, agent_a)
    before = transfer_snapshot(active)
    refused(PermissionDenied, lambda: lift(active, actor))
    assert transfer_snapshot(active) == before
