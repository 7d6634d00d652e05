"""Registering and correcting subscribers: one subscriber per identity document,
however it is typed, and only a supervisor rewrites who a subscriber is."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from backoffice.msisdn import InvalidMsisdn
from numbers import services
from numbers.choices import IdentityDocumentType
from numbers.models import Subscriber, mask_document_number, normalize_document_number
from tests.factories import SubscriberFactory, document_of

pytestmark = pytest.mark.django_db


NATIONAL_ID = IdentityDocumentType.NATIONAL_ID
PASSPORT = IdentityDocumentType.PASSPORT


def register(actor, **overrides) -> Subscriber:
    fields = {
        "full_name": "  Sokha Chan ",
        "id_document_type": NATIONAL_ID,
        "id_document_number": "ab 12-34 56",
        "contact_msisdn": "012 345 678",
        "actor": actor,
        "reason": "Registered at the counter",
    }
    return services.subscriber_create(**{**fields, **overrides})


def row_of(subscriber: Subscriber) -> dict:
    fresh = Subscriber.objects.get(pk=subscriber.pk)
    return {
        "full_name": fresh.full_name,
        "id_document_type": fresh.id_document_type,
        "id_document_number": document_of(fresh),
        "contact_msisdn": fresh.contact_msisdn,
        "alternate_msisdn": fresh.alternate_msisdn,
        "history": fresh.history.count(),
    }


@pytest.fixture
def customer(branch_a):
    return SubscriberFactory(
        full_name="Dara Sok",
        id_document_type=NATIONAL_ID,
        id_document_number="N0012345",
        contact_msisdn="+85512345678",
        registered_branch=branch_a,
    )


# --- Registering --------------------------------------------------------------


def test_subscriber_create_normalizes_and_records_who_and_why(agent_a, branch_a):
    subscriber = register(agent_a, alternate_msisdn="+44 7911 123456", registered_branch=branch_a)

    subscriber.refresh_from_db()
    assert subscriber.full_name == "Sokha Chan"
    assert document_of(subscriber) == "AB123456"
    assert subscriber.contact_msisdn == "+85512345678"
    assert subscriber.alternate_msisdn == "+447911123456"
    assert (subscriber.created_by, subscriber.registered_branch) == (agent_a, branch_a)
    record = subscriber.history.get()
    assert (record.history_user, record.history_change_reason) == (agent_a, "Registered at the counter")


@pytest.mark.parametrize("spelling", ["AB123456", "ab123456", "AB-123-456", " a b 1 2 3 4 5 6 ", "ab.123.456"])
def test_subscriber_create_refuses_a_duplicate_document_in_another_spelling(agent_a, supervisor_b, spelling):
    first = register(agent_a)
    with pytest.raises(ValidationError) as exc:
        register(supervisor_b, full_name="Someone Else", id_document_number=spelling)
    assert exc.value.code == "duplicate_document"
    assert list(Subscriber.objects.all()) == [first]


def test_the_same_number_on_another_kind_of_document_is_another_subscriber(agent_a):
    register(agent_a)
    passport_holder = register(agent_a, full_name="Vanna Kim", id_document_type=PASSPORT)
    assert document_of(passport_holder) == "AB123456"
    assert Subscriber.objects.count() == 2


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"full_name": "   "}, "name_required"),
        ({"id_document_number": " - "}, "document_required"),
        ({"id_document_type": "library_card"}, "document_type"),
        ({"reason": ""}, "reason_required"),
        ({"reason": "  "}, "reason_required"),
    ],
)
def test_subscriber_create_refuses_incomplete_details(agent_a, overrides, code):
    with pytest.raises(ValidationError) as exc:
        register(agent_a, **overrides)
    assert exc.value.code == code
    assert not Subscriber.objects.exists()


def test_subscriber_create_refuses_a_contact_that_is_not_a_mobile(agent_a):
    with pytest.raises(InvalidMsisdn) as exc:
        register(agent_a, contact_msisdn="023 212 345")
    assert exc.value.code == "not_mobile"
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize("persona", ["handler_a", "auditor"])
def test_subscriber_create_needs_add_subscriber(request, persona):
    actor = request.getfixturevalue(persona)
    assert not actor.has_perm("numbers.add_subscriber")
    with pytest.raises(PermissionDenied):
        register(actor)
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize("persona", ["agent_a", "agent_c", "supervisor_b"])
def test_counter_staff_of_any_branch_register_subscribers(request, persona):
    actor = request.getfixturevalue(persona)
    assert register(actor).created_by == actor


# --- Correcting ---------------------------------------------------------------


def test_agent_corrects_name_and_contacts(agent_a, customer):
    updated = services.subscriber_update(
        subscriber=customer,
        actor=agent_a,
        reason="Customer's new SIM",
        full_name="Dara Sok Chan",
        contact_msisdn="097 123 4567",
        alternate_msisdn="(012) 345-678",
    )
    fresh = Subscriber.objects.get(pk=customer.pk)
    assert (fresh.full_name, fresh.contact_msisdn, fresh.alternate_msisdn) == (
        "Dara Sok Chan",
        "+855971234567",
        "+85512345678",
    )
    assert document_of(updated) == "N0012345"
    record = fresh.history.first()
    assert (record.history_user, record.history_change_reason) == (agent_a, "Customer's new SIM")


@pytest.mark.parametrize(
    "identity",
    [
        {"id_document_number": "N0099999"},
        {"id_document_type": PASSPORT},
        {"id_document_type": PASSPORT, "id_document_number": "P7654321"},
    ],
)
def test_identity_change_is_refused_to_an_agent(agent_a, customer, identity):
    before = row_of(customer)
    with pytest.raises(PermissionDenied) as exc:
        services.subscriber_update(subscriber=customer, actor=agent_a, reason="Typo", full_name="X", **identity)
    assert "identity document" in str(exc.value)
    assert row_of(customer) == before


@pytest.mark.parametrize(
    "identity",
    [
        {"id_document_number": "n-0099 999"},
        {"id_document_type": PASSPORT},
        {"id_document_type": PASSPORT, "id_document_number": "P7654321"},
    ],
)
def test_identity_change_is_allowed_to_the_branch_supervisor(supervisor_a, customer, identity):
    services.subscriber_update(subscriber=customer, actor=supervisor_a, reason="Card renewed", **identity)
    fresh = Subscriber.objects.get(pk=customer.pk)
    expected_number = normalize_document_number(identity.get("id_document_number", "N0012345"))
    assert (fresh.id_document_type, document_of(fresh)) == (
        identity.get("id_document_type", NATIONAL_ID),
        expected_number,
    )
    record = fresh.history.first()
    assert (record.history_user, record.history_change_reason) == (supervisor_a, "Card renewed")


def test_identity_change_is_refused_to_another_branchs_supervisor(supervisor_b, customer):
    before = row_of(customer)
    with pytest.raises(PermissionDenied):
        services.subscriber_update(subscriber=customer, actor=supervisor_b, reason="x", id_document_number="N1")
    assert row_of(customer) == before


@pytest.mark.parametrize("spelling", ["N0012345", "n0012345", "N-001-2345", " n 0012345 "])
def test_restating_the_same_document_is_no_identity_change(agent_a, customer, spelling):
    """A form that sends the document back as typed is not a takeover attempt."""
    services.subscriber_update(
        subscriber=customer,
        actor=agent_a,
        reason="Name spelling",
        full_name="Dara Sokh",
        id_document_type=NATIONAL_ID,
        id_document_number=spelling,
    )
    fresh = Subscriber.objects.get(pk=customer.pk)
    assert (fresh.full_name, document_of(fresh)) == ("Dara Sokh", "N0012345")


@pytest.mark.parametrize("spelling", ["AB123456", "ab-123 456"])
def test_identity_change_to_a_document_already_registered_is_refused(supervisor_a, agent_a, customer, spelling):
    register(agent_a)  # national ID AB123456
    before = row_of(customer)
    with pytest.raises(ValidationError) as exc:
        services.subscriber_update(subscriber=customer, actor=supervisor_a, reason="x", id_document_number=spelling)
    assert "already exists" in " ".join(exc.value.messages)
    assert row_of(customer) == before


def test_subscriber_of_another_branch_cannot_be_corrected(agent_c, supervisor_b, customer):
    before = row_of(customer)
    for actor in (agent_c, supervisor_b):
        with pytest.raises(PermissionDenied):
            services.subscriber_update(subscriber=customer, actor=actor, reason="x", full_name="Someone")
    assert row_of(customer) == before


@pytest.mark.parametrize("persona", ["handler_a", "auditor"])
def test_subscriber_update_needs_change_subscriber(request, persona, customer):
    actor = request.getfixturevalue(persona)
    before = row_of(customer)
    with pytest.raises(PermissionDenied):
        services.subscriber_update(subscriber=customer, actor=actor, reason="x", full_name="Someone")
    assert row_of(customer) == before


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"registered_branch": None}, "cannot be changed here"),
        ({"created_by": None}, "cannot be changed here"),
        ({"full_name": ""}, "Enter the subscriber's full name"),
        ({"contact_msisdn": "023 212 345"}, "not a mobile number"),
    ],
)
def test_subscriber_update_refuses_bad_changes(supervisor_a, customer, changes, message):
    before = row_of(customer)
    with pytest.raises(ValidationError) as exc:
        services.subscriber_update(subscriber=customer, actor=supervisor_a, reason="x", **changes)
    assert message in " ".join(exc.value.messages)
    assert row_of(customer) == before


def test_subscriber_update_needs_a_reason(agent_a, customer):
    before = row_of(customer)
    with pytest.raises(ValidationError) as exc:
        services.subscriber_update(subscriber=customer, actor=agent_a, reason=" ", full_name="Someone")
    assert exc.value.code == "reason_required"
    assert row_of(customer) == before


# --- Masking ------------------------------------------------------------------


def test_masked_document_shows_only_the_last_four(customer):
    assert customer.masked_document == "••••2345"
    assert "N0012345" not in str(customer)
    assert str(customer) == "Dara Sok (National ID card ••••2345)"


@pytest.mark.parametrize(
    ("document", "masked"),
    [
        ("AB123456", "••••3456"),
        ("P1234567890", "•••••••7890"),
        ("12345", "•••2345"),  # at least three dots, so the length is not a clue
        ("1234", "•••4"),  # a short number is never shown whole
        ("12", "•••2"),
        ("", ""),
    ],
)
def test_mask_document_number(document, masked):
    assert mask_document_number(document) == masked
    if document:
        assert document not in masked
