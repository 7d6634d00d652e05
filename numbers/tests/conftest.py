"""Fixtures shared by the number tests: a holder with an active number in branch A,
a newcomer who wants it, and an open transfer request between them."""

import pytest

from numbers import services
from numbers.choices import IdentityDocumentType, NumberStatus
from tests.factories import SubscriberFactory, number_in_state


@pytest.fixture
def holder(db):
    return SubscriberFactory(
        full_name="Rightful Holder", id_document_type=IdentityDocumentType.NATIONAL_ID, id_document_number="N0123456"
    )


@pytest.fixture
def newcomer(db):
    return SubscriberFactory(
        full_name="New Subscriber", id_document_type=IdentityDocumentType.PASSPORT, id_document_number="P7654321"
    )


@pytest.fixture
def active(agent_a, branch_a, holder):
    """An active number of branch A held by ``holder``, sold by agent_a."""
    return number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)


@pytest.fixture
def open_request(agent_a, active, newcomer):
    """Requested by agent_a; no consent yet."""
    return services.transfer_create(number=active, new_subscriber=newcomer, actor=agent_a, reason="sold to a friend")
