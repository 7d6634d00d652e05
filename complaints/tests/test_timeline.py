"""One complaint's timeline: its own events and its numbers' history (changes,
holdings, transfer requests) merged in time order, with the employee behind each."""

from __future__ import annotations

import pytest

from backoffice.msisdn import format_msisdn
from complaints import services as cs
from complaints.choices import ComplaintCategory, EventKind
from complaints.selectors import complaint_timeline, flaggable_changes
from complaints.tests.casework import new_complaint, wrongful_transfer
from numbers.choices import NumberStatus
from numbers.models import Holding, TransferRequest
from tests.factories import number_in_state

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(admin_user, agent_b, supervisor_a, supervisor_a2, handler_a, branch_a, holder, newcomer, active):
    """The wrongful transfer, the complaint, a note, the block, the restoration and an offer."""
    request = wrongful_transfer(number=active, to=newcomer, agent=agent_b, supervisor=supervisor_a)
    complaint = new_complaint(
        actor=handler_a,
        complainant=holder,
        numbers=[active],
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
    )
    cs.complaint_note(complaint=complaint, actor=supervisor_a, reason="I approved that transfer; consents looked fine")
    cs.complaint_block_number(complaint=complaint, number=active, actor=handler_a, reason="stop misuse")
    restoration = cs.restoration_request(complaint=complaint, number=active, actor=handler_a, reason="give back")
    cs.restoration_approve(restoration=restoration, actor=supervisor_a2, reason="ID checked")
    cs.offer_propose(
        complaint=complaint, kind="airtime_credit", amount="5", currency="USD", actor=handler_a, reason="sorry"
    )
    return complaint, request


def test_the_timeline_is_in_time_order(incident):
    complaint, _ = incident
    timeline = complaint_timeline(complaint)
    assert [entry.at for entry in timeline] == sorted(entry.at for entry in timeline)


def test_the_timeline_merges_the_complaints_events_and_its_numbers_history(incident, active):
    complaint, request = incident
    timeline = complaint_timeline(complaint)
    sources = {entry.source for entry in timeline}
    assert sources == {"complaint", "mobilenumber", "holding", "transferrequest"}

    events = [entry for entry in timeline if entry.source == "complaint"]
    assert [entry.extra["kind"] for entry in events] == list(
        complaint.events.order_by("at", "id").values_list("kind", flat=True)
    )
    note = next(entry for entry in events if entry.extra["kind"] == EventKind.NOTE)
    assert (note.text, note.actor.username) == ("I approved that transfer; consents looked fine", "supervisor_a")
    offer = next(entry for entry in events if entry.extra["kind"] == EventKind.OFFER)
    assert "5.00 USD" in offer.text and offer.actor.username == "handler_a"
    blocked = next(entry for entry in events if entry.extra["kind"] == EventKind.BLOCKED)
    assert blocked.number == format_msisdn(active.msisdn)

    # Every holding of the number, each with the employee who opened or closed it.
    holdings = [entry for entry in timeline if entry.source == "holding"]
    assert Holding.history.filter(number_id=active.pk).count() == len(holdings)
    assert {entry.actor.username for entry in holdings if entry.actor} == {"agent_a", "supervisor_a", "supervisor_a2"}
    assert any("(Restoration to rightful holder)" in entry.text for entry in holdings)
    # The transfer request's whole story.
    transfers = [entry for entry in timeline if entry.source == "transferrequest"]
    assert len(transfers) == TransferRequest.history.filter(id=request.pk).count()
    assert all(f"T-{request.pk}" in entry.text for entry in transfers)


def test_the_story_reads_in_the_order_it_happened(incident):
    complaint, request = incident
    timeline = complaint_timeline(complaint)

    def first(predicate):
        return next(index for index, entry in enumerate(timeline) if predicate(entry))

    requested = first(lambda e: e.source == "transferrequest")
    handed_over = first(lambda e: e.source == "holding" and "(Transfer (dual consent))" in e.text)
    received = first(lambda e: e.extra.get("kind") == EventKind.RECEIVED)
    blocked = first(lambda e: e.extra.get("kind") == EventKind.BLOCKED)
    restored = first(lambda e: e.source == "holding" and "(Restoration to rightful holder)" in e.text)
    approved = first(lambda e: e.extra.get("kind") == EventKind.RESTORATION_APPROVED)
    assert requested < handed_over < received < blocked < restored <= approved


def test_staff_changes_carry_a_key_to_flag_and_the_flaggable_list_matches(incident):
    complaint, _ = incident
    timeline = complaint_timeline(complaint)
    keyed = {entry.change_key: entry for entry in timeline if entry.change_key}
    assert all(entry.actor is not None for entry in keyed.values())
    assert all(not entry.change_key for entry in timeline if entry.source == "complaint")
    # Changes nobody made (the number's import by a factory) carry no key.
    assert any(entry.source == "mobilenumber" and entry.actor is None and not entry.change_key for entry in timeline)
    assert set(dict(flaggable_changes(complaint))) == set(keyed)
    changes = flaggable_changes(complaint)
    assert [summary for _, summary in changes] == [keyed[key].text for key, _ in changes]
    assert [keyed[key].at for key, _ in changes] == sorted((keyed[key].at for key, _ in changes), reverse=True)


def test_the_timeline_shows_only_the_complaints_numbers(incident, agent_b, branch_a):
    complaint, _ = incident
    elsewhere = number_in_state(NumberStatus.ACTIVE, actor=agent_b, branch=branch_a)
    entries = complaint_timeline(complaint)
    assert format_msisdn(elsewhere.msisdn) not in {entry.number for entry in entries}
    assert not any(elsewhere.msisdn in entry.text or format_msisdn(elsewhere.msisdn) in entry.text for entry in entries)
    # Added to the complaint, its history joins the timeline.
    cs.complaint_add_number(complaint=complaint, number=elsewhere, actor=complaint.assigned_to, reason="also")
    assert format_msisdn(elsewhere.msisdn) in {entry.number for entry in complaint_timeline(complaint)}


def test_history_older_than_the_lookback_is_left_out(settings, incident):
    complaint, _ = incident
    settings.COMPLAINTS_TIMELINE_LOOKBACK_DAYS = 0
    timeline = complaint_timeline(complaint)
    # The transfer happened before the complaint came in: out of a zero-day lookback.
    assert not any(entry.source == "transferrequest" for entry in timeline)
    assert all(entry.at >= complaint.received_at for entry in timeline)
    assert any(entry.source == "holding" for entry in timeline)  # the restoration came after
