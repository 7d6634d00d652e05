"""Races on PostgreSQL with real threads and connections: row locks, not luck,
decide who wins. SQLite serializes writers anyway, so these run on PostgreSQL only."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from numbers import services
from numbers.choices import ConsentParty, HoldingStartReason, NumberStatus, TransferState
from numbers.models import Holding, MobileNumber, TransferRequest
from tests.factories import SubscriberFactory, consent_by_code, consent_in_person, number_in_state
from tests.helpers import race

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def test_two_supervisors_approving_at_once_execute_one_transfer(
    admin_user, agent_a, agent_b, supervisor_a, supervisor_a2, branch_a
):
    other_supervisor = supervisor_a2
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    holder, newcomer = number.holder, SubscriberFactory()
    request = services.transfer_create(number=number, new_subscriber=newcomer, actor=agent_a, reason="gift")
    consent_by_code(request, actor=agent_b)
    consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=agent_b)

    outcomes = race(
        *(
            lambda approver=approver: services.transfer_approve(
                request=TransferRequest.objects.get(pk=request.pk), actor=approver, reason="both consents checked"
            )
            for approver in (supervisor_a, other_supervisor)
        )
    )

    winners = [outcome for outcome in outcomes if isinstance(outcome, TransferRequest)]
    losers = [outcome for outcome in outcomes if not isinstance(outcome, TransferRequest)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert isinstance(losers[0], ValidationError), losers[0]
    assert losers[0].messages == ["The request is approved and executed."]

    request.refresh_from_db()
    assert request.state == TransferState.EXECUTED
    assert request.decided_by_id == winners[0].decided_by_id
    assert MobileNumber.objects.get(pk=number.pk).holder == newcomer
    ledger = list(Holding.objects.filter(number=number).order_by("pk").values_list("subscriber", "start_reason"))
    assert ledger == [(holder.pk, HoldingStartReason.SALE), (newcomer.pk, HoldingStartReason.TRANSFER)]
    assert request.history.filter(state=TransferState.EXECUTED).count() == 1


def test_two_requests_for_one_number_at_once_leave_one_open(agent_a, agent_b, branch_a):
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    buyers = [SubscriberFactory(), SubscriberFactory()]

    outcomes = race(
        *(
            lambda actor=actor, buyer=buyer: services.transfer_create(
                number=MobileNumber.objects.get(pk=number.pk), new_subscriber=buyer, actor=actor, reason="sale"
            )
            for actor, buyer in zip((agent_a, agent_b), buyers, strict=True)
        )
    )

    made = [outcome for outcome in outcomes if isinstance(outcome, TransferRequest)]
    refusals = [outcome for outcome in outcomes if not isinstance(outcome, TransferRequest)]
    assert len(made) == 1 and len(refusals) == 1, outcomes
    assert isinstance(refusals[0], ValidationError), refusals[0]
    assert "already has an open transfer request" in refusals[0].messages[0]
    assert list(TransferRequest.objects.filter(number=number).values_list("pk", "state")) == [
        (made[0].pk, TransferState.AWAITING_CONSENT)
    ]
