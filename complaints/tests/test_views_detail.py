"""A complaint's page and every action on it, allowed and refused: the assigned
handler acts, the branch's supervisors decide, the branch's other staff and the
auditor read, other branches get 403. A refusal changes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from complaints import services as cs
from complaints.choices import ComplaintCategory, ComplaintState, OfferState, RestorationState
from complaints.models import CompensationOffer, EmployeeFlag, RegulatorCase, Restoration
from complaints.selectors import flaggable_changes
from complaints.tests.views_helpers import (
    complaint_snapshot,
    detail_url,
    make_handler,
    make_incident,
    messages_of,
    national,
    new_complaint,
    wrongly_transferred,
)
from numbers.choices import NumberStatus
from numbers.models import MobileNumber
from staff.choices import Role
from staff.services import employee_create
from tests.factories import SubscriberFactory, document_of, number_in_state
from tests.helpers import chain_lock_queries

pytestmark = pytest.mark.django_db

# Every form a page can show, by id.
STATE_FORMS = ("acknowledge-form", "investigate-form", "resolve-form", "close-form", "reopen-form")
FORM_IDS = (
    *STATE_FORMS,
    "take-form",
    "assign-form",
    "note-form",
    "add-number-form",
    "block-form",
    "restoration-request-form",
    "offer-propose-form",
    "regulator-case-form",
    "employee-flag-form",
)


# The actions on the complaint itself (no row id in the URL).
COMPLAINT_ACTIONS = (
    "complaint_acknowledge",
    "complaint_investigate",
    "complaint_note",
    "complaint_assign",
    "complaint_take",
    "complaint_add_number",
    "complaint_block",
    "restoration_request",
    "offer_propose",
    "regulator_case_record",
    "employee_flag",
    "complaint_resolve",
    "complaint_close",
    "complaint_reopen",
)


@pytest.fixture
def incident(agent_b, supervisor_a, handler_a, holder, newcomer, active):
    return make_incident(
        agent_b=agent_b, supervisor_a=supervisor_a, handler_a=handler_a, holder=holder, newcomer=newcomer, active=active
    )


def url(name: str, complaint, *args) -> str:
    return reverse(f"complaints:{name}", args=[complaint.pk, *args])


def forms_on(response) -> set[str]:
    content = response.content.decode()
    return {form_id for form_id in FORM_IDS if f'id="{form_id}"' in content}


def post(client, name: str, complaint, data: dict, *args, follow: bool = False):
    return client.post(url(name, complaint, *args), data, follow=follow)


def number_of(complaint) -> MobileNumber:
    return MobileNumber.objects.get(complaint_links__complaint=complaint)


def blocked(complaint, actor):
    return cs.complaint_block_number(complaint=complaint, number=number_of(complaint), actor=actor, reason="freeze")


def requested(complaint, actor) -> Restoration:
    return cs.restoration_request(complaint=complaint, number=number_of(complaint), actor=actor, reason="give back")


def proposed(complaint, actor, amount="20") -> CompensationOffer:
    return cs.offer_propose(
        complaint=complaint, kind="airtime_credit", amount=amount, currency="USD", actor=actor, reason="sorry"
    )


# --- Who sees what ----------------------------------------------------------------------


def test_the_assigned_handler_sees_the_complaint_in_full_with_its_actions(client, handler_a, holder, incident):
    client.force_login(handler_a)
    response = client.get(detail_url(incident))
    assert response.status_code == 200
    content = response.content.decode()
    number = number_of(incident)
    for text in (
        incident.reference,
        "Critical",
        "Unauthorised transfer",
        holder.full_name,
        holder.masked_document,
        "Heng Handler",
        "My number was given to someone else",
        "Block the number",
        "Not blocked yet",
        number.msisdn,
        "New Subscriber",  # the number's holder now
    ):
        assert text in content, text
    assert document_of(holder) not in content
    assert forms_on(response) == {
        "acknowledge-form",
        "note-form",
        "add-number-form",
        "block-form",
        "offer-propose-form",
        "regulator-case-form",
        "employee-flag-form",
    }  # no assign form: there is no other handler to hand it over to
    assert response.context["perms"].act


@pytest.mark.parametrize("persona", ["agent_a", "agent_b", "auditor"])
def test_read_only_viewers_see_everything_but_no_form(request, client, handler_a, incident, persona):
    blocked(incident, handler_a)
    proposed(incident, handler_a)
    client.force_login(request.getfixturevalue(persona))
    response = client.get(detail_url(incident))
    assert response.status_code == 200
    content = response.content.decode()
    assert forms_on(response) == set()
    assert 'class="complaint-action"' not in content
    assert "You see this complaint read-only" in content
    assert "20.00 USD" in content
    assert "Number blocked" in content  # the timeline


@pytest.mark.parametrize("persona", ["agent_c", "supervisor_b"])
def test_other_branches_get_403_on_the_page_and_every_action(request, client, handler_a, incident, persona):
    blocked(incident, handler_a)
    restoration = requested(incident, handler_a)
    offer = proposed(incident, handler_a)
    case = cs.regulator_case_record(
        complaint=incident, regulator="TRC", case_number="T-1", notified_on=date.today(), actor=handler_a, reason="r"
    )
    block = incident.blocks.get()
    before = complaint_snapshot(incident)
    client.force_login(request.getfixturevalue(persona))

    assert client.get(detail_url(incident)).status_code == 403
    targets = [(name, ()) for name in COMPLAINT_ACTIONS]
    targets += [("complaint_lift_block", (block.pk,))]
    targets += [(f"restoration_{name}", (restoration.pk,)) for name in ("approve", "reject", "cancel")]
    targets += [(f"offer_{name}", (offer.pk,)) for name in ("approve", "refuse", "make", "respond", "withdraw")]
    targets += [("regulator_response_record", (case.pk,))]
    for name, args in targets:
        response = client.post(url(name, incident, *args), {"reason": "trying"})
        assert response.status_code == 403, name
    assert complaint_snapshot(incident) == before


def test_a_read_only_post_is_refused_with_a_message_and_changes_nothing(client, agent_a, supervisor_a, incident):
    before = complaint_snapshot(incident)
    client.force_login(agent_a)
    response = post(client, "complaint_acknowledge", incident, {"ack-reason": "I am not the handler"})
    assert response.status_code == 302
    assert response["Location"] == detail_url(incident)
    assert any("Only the handler assigned" in message for message in messages_of(response))
    # A supervisor may note, but not acknowledge: that is the handler's.
    client.force_login(supervisor_a)
    response = post(client, "complaint_acknowledge", incident, {"ack-reason": "on their behalf"})
    assert any("refused, nothing changed" in message for message in messages_of(response))
    assert complaint_snapshot(incident) == before


@pytest.mark.parametrize("persona", ["agent_a", "auditor"])
def test_every_valid_post_from_a_read_only_viewer_changes_nothing(request, client, handler_a, incident, persona):
    number = number_of(incident)
    today = timezone.localdate().isoformat()
    attempts = {
        "complaint_note": {"note-reason": "A note"},
        "complaint_take": {"take-reason": "Mine now"},
        "complaint_block": {"block-number": number.pk, "block-reason": "Freeze"},
        "offer_propose": {
            "propose-kind": "refund",
            "propose-amount": "5",
            "propose-currency": "USD",
            "propose-reason": "Sorry",
        },
        "regulator_case_record": {
            "regcase-regulator": "TRC",
            "regcase-case_number": "TRC-1",
            "regcase-notified_on": today,
            "regcase-reason": "Letter",
        },
        "complaint_resolve": {"resolve-reason": "Done"},
    }
    before = complaint_snapshot(incident)
    client.force_login(request.getfixturevalue(persona))
    for name, data in attempts.items():
        response = post(client, name, incident, data)
        assert response.status_code == 302, name
        assert any("refused, nothing changed" in message for message in messages_of(response)), name
    assert complaint_snapshot(incident) == before


def test_unknown_complaint_and_parts_of_another_complaint_are_404(client, handler_a, holder, branch_a, incident):
    other = new_complaint(actor=handler_a, complainant=SubscriberFactory(), branch=branch_a)
    offer = proposed(other, handler_a)
    client.force_login(handler_a)
    assert client.get(reverse("complaints:complaint_detail", args=[999999])).status_code == 404
    response = post(client, "offer_withdraw", incident, {f"owithdraw{offer.pk}-reason": "wrong page"}, offer.pk)
    assert response.status_code == 404
    assert CompensationOffer.objects.get(pk=offer.pk).state == OfferState.PROPOSED


def test_action_urls_take_only_post(client, handler_a, incident):
    client.force_login(handler_a)
    assert client.get(url("complaint_acknowledge", incident)).status_code == 405


# --- The complaint's moves ------------------------------------------------------------------


def test_acknowledge_needs_a_reason_then_moves_the_complaint(client, handler_a, incident):
    before = complaint_snapshot(incident)
    client.force_login(handler_a)
    response = post(client, "complaint_acknowledge", incident, {"ack-reason": "  "})
    assert any("Reason for this change: This field is required." in m for m in messages_of(response))
    assert complaint_snapshot(incident) == before

    response = post(client, "complaint_acknowledge", incident, {"ack-reason": "Called the customer"}, follow=True)
    incident.refresh_from_db()
    assert (incident.state, incident.acknowledged_by) == (ComplaintState.ACKNOWLEDGED, handler_a)
    content = response.content.decode()
    assert "acknowledged; the customer has been told" in content
    assert "Acknowledged: Called the customer" in content  # the timeline
    assert {"investigate-form", "resolve-form"} <= forms_on(response)
    assert "acknowledge-form" not in forms_on(response)


def test_investigate_resolve_close_and_reopen(client, handler_a, supervisor_a, branch_a):
    complaint = new_complaint(actor=handler_a, complainant=SubscriberFactory(), branch=branch_a)
    cs.complaint_acknowledge(complaint=complaint, actor=handler_a, reason="called")
    client.force_login(handler_a)
    post(client, "complaint_investigate", complaint, {"investigate-reason": "Checking the bills"})
    complaint.refresh_from_db()
    assert complaint.state == ComplaintState.INVESTIGATING

    post(client, "complaint_resolve", complaint, {"resolve-reason": "Refunded the double charge"})
    complaint.refresh_from_db()
    assert (complaint.state, complaint.resolution) == (ComplaintState.RESOLVED, "Refunded the double charge")

    # The supervisor closes and reopens (the handler may too).
    client.force_login(supervisor_a)
    page = client.get(detail_url(complaint))
    assert {"close-form", "reopen-form", "note-form"} <= forms_on(page)
    post(client, "complaint_close", complaint, {"close-reason": "Customer satisfied"})
    complaint.refresh_from_db()
    assert complaint.state == ComplaintState.CLOSED
    response = post(client, "complaint_reopen", complaint, {"reopen-reason": "Charged again"}, follow=True)
    complaint.refresh_from_db()
    assert (complaint.state, complaint.reopen_count) == (ComplaintState.REOPENED, 1)
    assert "reopened; to resolve by" in response.content.decode()


def test_resolving_while_a_block_stands_is_refused_with_the_reason(client, handler_a, incident):
    cs.complaint_acknowledge(complaint=incident, actor=handler_a, reason="called")
    blocked(incident, handler_a)
    before = complaint_snapshot(incident)
    client.force_login(handler_a)
    response = post(client, "complaint_resolve", incident, {"resolve-reason": "done"}, follow=True)
    assert "a number is still blocked" in response.content.decode()
    assert complaint_snapshot(incident) == before


def test_a_supervisor_adds_a_note(client, supervisor_a, incident):
    client.force_login(supervisor_a)
    response = post(client, "complaint_note", incident, {"note-reason": "Customer called again, upset"}, follow=True)
    assert "Note added" in response.content.decode()
    assert incident.events.filter(kind="note", actor=supervisor_a, text="Customer called again, upset").exists()


def test_a_handler_takes_an_unassigned_complaint_and_a_supervisor_reassigns_it(
    client, admin_user, agent_a, handler_a, supervisor_a, branch_a
):
    second = make_handler("handler_a2", branch=branch_a, admin=admin_user)
    complaint = new_complaint(actor=agent_a, complainant=SubscriberFactory(), branch=branch_a)
    assert complaint.assigned_to is None
    client.force_login(handler_a)
    assert "take-form" in forms_on(client.get(detail_url(complaint)))
    post(client, "complaint_take", complaint, {"take-reason": "My shift"})
    complaint.refresh_from_db()
    assert complaint.assigned_to == handler_a
    page = client.get(detail_url(complaint))
    assert "take-form" not in forms_on(page)
    assert "assign-form" in forms_on(page)  # now theirs, they may hand it over
    assert list(page.context["assign_form"].fields["assignee"].queryset) == [second]

    # The other handler neither takes nor acts on it now.
    client.force_login(second)
    page = client.get(detail_url(complaint))
    assert forms_on(page) == set()
    post(client, "complaint_take", complaint, {"take-reason": "Mine too"})
    complaint.refresh_from_db()
    assert complaint.assigned_to == handler_a

    client.force_login(supervisor_a)
    page = client.get(detail_url(complaint))
    assert list(page.context["assign_form"].fields["assignee"].queryset) == [second]
    post(client, "complaint_assign", complaint, {"assign-assignee": second.pk, "assign-reason": "Leave cover"})
    complaint.refresh_from_db()
    assert complaint.assigned_to == second


def test_assigning_to_someone_who_does_not_handle_complaints_is_refused(client, agent_a, supervisor_a, incident):
    before = complaint_snapshot(incident)
    client.force_login(supervisor_a)
    response = post(client, "complaint_assign", incident, {"assign-assignee": agent_a.pk, "assign-reason": "x"})
    assert any("Assignment: nothing was recorded" in message for message in messages_of(response))
    assert complaint_snapshot(incident) == before


# --- Numbers, blocks, restorations -------------------------------------------------------------


def test_adding_a_number_in_any_format(client, admin_user, handler_a, branch_a, branch_b, incident):
    extra = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    elsewhere = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_b)
    client.force_login(handler_a)
    response = post(
        client, "complaint_add_number", incident, {"addnumber-msisdn": national(elsewhere), "addnumber-reason": "x"}
    )
    assert any("No number" in message for message in messages_of(response))
    post(
        client, "complaint_add_number", incident, {"addnumber-msisdn": national(extra), "addnumber-reason": "Also his"}
    )
    assert extra in incident.numbers.all()
    assert elsewhere not in incident.numbers.all()


def test_blocking_shows_the_time_from_complaint_to_block(client, handler_a, incident):
    number = number_of(incident)
    client.force_login(handler_a)
    response = post(
        client, "complaint_block", incident, {"block-number": number.pk, "block-reason": "Stop misuse"}, follow=True
    )
    number.refresh_from_db()
    incident.refresh_from_db()
    assert number.status == NumberStatus.BLOCKED
    assert incident.first_blocked_at is not None
    content = response.content.decode()
    assert "Time from complaint to block: under 1 min" in content
    assert "deadline 24 h 00 min" in content
    assert "blocked, under 1 min after the complaint was received" in content
    assert "restoration-request-form" in forms_on(response)
    assert "block-form" not in forms_on(response)  # nothing left to block


@pytest.mark.parametrize(
    ("ago", "shown", "clock", "breaches"),
    [
        (timedelta(hours=3, minutes=5), "3 h 05 min", "met", "none"),
        (timedelta(hours=30), "30 h 00 min", "met late", "acknowledge, block"),
    ],
)
def test_the_time_to_block_counts_from_receipt_and_a_late_block_stays_breached(
    client, agent_b, supervisor_a, handler_a, holder, newcomer, active, ago, shown, clock, breaches
):
    wrongly_transferred(active, to=newcomer, agent=agent_b, supervisor=supervisor_a)
    complaint = new_complaint(
        actor=handler_a,
        complainant=holder,
        numbers=[active],
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        received_at=timezone.now() - ago,
    )
    blocked(complaint, handler_a)
    client.force_login(handler_a)
    response = client.get(detail_url(complaint))
    content = response.content.decode()
    assert f"Time from complaint to block: {shown}" in content
    assert f"Breaches on record: {breaches}." in content
    assert [row["status"] for row in response.context["clocks"] if row["name"] == "block"] == [clock]


def test_blocking_a_number_twice_is_refused(client, handler_a, incident):
    number = number_of(incident)
    blocked(incident, handler_a)
    before = complaint_snapshot(incident)
    client.force_login(handler_a)
    response = post(client, "complaint_block", incident, {"block-number": number.pk, "block-reason": "again"})
    assert any("already blocked" in message for message in messages_of(response))
    assert complaint_snapshot(incident) == before


def test_a_supervisor_lifts_a_block(client, handler_a, supervisor_a, incident):
    block = blocked(incident, handler_a)
    client.force_login(supervisor_a)
    post(client, "complaint_lift_block", incident, {f"lift{block.pk}-reason": "Holder is rightful"}, block.pk)
    block.refresh_from_db()
    assert block.lifted_by == supervisor_a
    assert number_of(incident).status == NumberStatus.ACTIVE


def test_restoration_requested_by_the_handler_and_approved_by_a_supervisor(
    client, handler_a, supervisor_a, holder, newcomer, incident
):
    blocked(incident, handler_a)
    number = number_of(incident)
    client.force_login(handler_a)
    response = post(client, "restoration_request", incident, {"restore-number": number.pk, "restore-reason": "Ledger"})
    restoration = Restoration.objects.get()
    assert any(f"Restoration {restoration.reference} requested" in message for message in messages_of(response))
    page = client.get(detail_url(incident)).content.decode()
    assert f'id="rcancel{restoration.pk}-form"' in page
    assert f'id="rapprove{restoration.pk}-form"' not in page  # the handler does not decide

    client.force_login(supervisor_a)
    page = client.get(detail_url(incident))
    assert f'id="rapprove{restoration.pk}-form"' in page.content.decode()
    assert page.context["restorations"][0].blockers == []
    response = post(
        client,
        "restoration_approve",
        incident,
        {f"rapprove{restoration.pk}-reason": "The ledger shows the owner"},
        restoration.pk,
        follow=True,
    )
    number.refresh_from_db()
    restoration.refresh_from_db()
    assert (restoration.state, restoration.decided_by) == (RestorationState.EXECUTED, supervisor_a)
    assert (number.holder, number.status) == (holder, NumberStatus.ACTIVE)
    assert f"is held by {holder.full_name} again" in response.content.decode()


def test_the_approve_form_shows_why_a_supervisor_cannot_approve(client, admin_user, handler_a, incident):
    blocked(incident, handler_a)
    restoration = requested(incident, handler_a)
    before = complaint_snapshot(incident)
    client.force_login(admin_user)  # a superuser supervises everywhere but never approves
    page = client.get(detail_url(incident))
    content = page.content.decode()
    assert f"Why you cannot approve {restoration.reference}" in content
    assert "Superuser accounts do not approve restorations" in content
    response = post(client, "restoration_approve", incident, {f"rapprove{restoration.pk}-reason": "go"}, restoration.pk)
    assert any("Superuser accounts do not approve" in message for message in messages_of(response))
    assert complaint_snapshot(incident) == before


def test_the_requesting_supervisor_cannot_approve_their_own_restoration(client, admin_user, supervisor_a, incident):
    """A supervisor who also handles complaints asked: another supervisor decides."""
    both = employee_create(
        username="acting_handler",
        employee_code="E-ACTING",
        roles=[Role.SUPERVISOR, Role.COMPLAINT_HANDLER],
        branches=[incident.branch],
        actor=admin_user,
        reason="Supervisor covering a handler's leave",
    ).user
    cs.complaint_assign(complaint=incident, assignee=both, actor=supervisor_a, reason="leave cover")
    blocked(incident, both)
    restoration = requested(incident, both)
    before = complaint_snapshot(incident)
    client.force_login(both)
    page = client.get(detail_url(incident))
    assert "You asked for this restoration: another supervisor must approve it." in page.content.decode()
    response = post(
        client, "restoration_approve", incident, {f"rapprove{restoration.pk}-reason": "mine"}, restoration.pk
    )
    assert any("another supervisor must decide it" in message for message in messages_of(response))
    assert complaint_snapshot(incident) == before


def test_a_supervisor_rejects_and_the_handler_cancels_a_restoration(client, handler_a, supervisor_a, incident):
    blocked(incident, handler_a)
    first = requested(incident, handler_a)
    client.force_login(supervisor_a)
    post(client, "restoration_reject", incident, {f"rreject{first.pk}-reason": "Not proven yet"}, first.pk)
    first.refresh_from_db()
    assert (first.state, first.decided_by) == (RestorationState.REJECTED, supervisor_a)

    second = requested(incident, handler_a)
    client.force_login(handler_a)
    post(client, "restoration_cancel", incident, {f"rcancel{second.pk}-reason": "Asked too soon"}, second.pk)
    second.refresh_from_db()
    assert second.state == RestorationState.CANCELLED


# --- Offers ------------------------------------------------------------------------------------


def propose_data(amount: str, **overrides) -> dict:
    data = {
        "propose-kind": "airtime_credit",
        "propose-amount": amount,
        "propose-currency": "USD",
        "propose-description": "",
        "propose-valid_days": "",
        "propose-reason": "We are sorry",
    }
    data.update(overrides)
    return data


def test_an_offer_within_the_limit_is_made_and_declined(client, handler_a, incident):
    client.force_login(handler_a)
    assert "Above your limit (200,000 KHR, 50.00 USD," in client.get(detail_url(incident)).content.decode()
    response = post(client, "offer_propose", incident, propose_data("20"))
    offer = CompensationOffer.objects.get()
    assert (offer.state, offer.amount_display) == (OfferState.PROPOSED, "20.00 USD")
    assert any("make it to the customer next" in message for message in messages_of(response))
    assert "offer-propose-form" not in forms_on(client.get(detail_url(incident)))  # one live offer at a time

    post(
        client,
        "offer_make",
        incident,
        {f"omake{offer.pk}-channel": "phone", f"omake{offer.pk}-reason": "Called"},
        offer.pk,
    )
    offer.refresh_from_db()
    assert offer.state == OfferState.OFFERED
    data = {
        f"orespond{offer.pk}-answer": "declined",
        f"orespond{offer.pk}-channel": "phone",
        f"orespond{offer.pk}-responded_at": "",
        f"orespond{offer.pk}-reason": "Not enough",
    }
    response = post(client, "offer_respond", incident, data, offer.pk, follow=True)
    offer.refresh_from_db()
    assert (offer.state, offer.response_note) == (OfferState.DECLINED, "Not enough")
    assert "declined by the customer" in response.content.decode()
    assert "offer-propose-form" in forms_on(response)  # another may follow


def test_an_offer_above_the_limit_waits_for_a_supervisor(client, handler_a, supervisor_a, incident):
    client.force_login(handler_a)
    response = post(client, "offer_propose", incident, propose_data("100"))
    offer = CompensationOffer.objects.get()
    assert offer.state == OfferState.AWAITING_APPROVAL
    assert any("awaits a supervisor" in message for message in messages_of(response))
    page = client.get(detail_url(incident)).content.decode()
    assert f'id="oapprove{offer.pk}-form"' not in page
    assert f'id="owithdraw{offer.pk}-form"' in page

    client.force_login(supervisor_a)
    page = client.get(detail_url(incident)).content.decode()
    assert f'id="oapprove{offer.pk}-form"' in page
    assert f'id="omake{offer.pk}-form"' not in page
    post(client, "offer_approve", incident, {f"oapprove{offer.pk}-reason": "Justified"}, offer.pk)
    offer.refresh_from_db()
    assert (offer.state, offer.approved_by) == (OfferState.PROPOSED, supervisor_a)


def test_a_supervisor_refuses_and_the_handler_withdraws(client, handler_a, supervisor_a, incident):
    big = proposed(incident, handler_a, amount="100")
    client.force_login(supervisor_a)
    post(client, "offer_refuse", incident, {f"orefuse{big.pk}-reason": "Too much"}, big.pk)
    big.refresh_from_db()
    assert big.state == OfferState.WITHDRAWN

    small = proposed(incident, handler_a)
    client.force_login(handler_a)
    post(client, "offer_withdraw", incident, {f"owithdraw{small.pk}-reason": "Customer left"}, small.pk)
    small.refresh_from_db()
    assert small.state == OfferState.WITHDRAWN


@pytest.mark.parametrize(
    ("overrides", "text"),
    [
        ({"propose-amount": "ten"}, "Enter the amount as a number"),
        ({"propose-amount": "10.005"}, "USD amounts have 2 decimal places"),
        ({"propose-amount": "-5"}, "more than zero"),
        ({"propose-reason": ""}, "Reason for this change: This field is required."),
    ],
)
def test_a_bad_offer_is_refused_with_a_message(client, handler_a, incident, overrides, text):
    before = complaint_snapshot(incident)
    client.force_login(handler_a)
    response = post(client, "offer_propose", incident, propose_data("10", **overrides))
    assert any(text in message for message in messages_of(response)), messages_of(response)
    assert complaint_snapshot(incident) == before


def test_a_second_live_offer_is_refused(client, handler_a, incident):
    proposed(incident, handler_a)
    before = complaint_snapshot(incident)
    client.force_login(handler_a)
    response = post(client, "offer_propose", incident, propose_data("5"))
    assert any("record the customer's answer or withdraw it first" in message for message in messages_of(response))
    assert complaint_snapshot(incident) == before


# --- The regulator and employee flags --------------------------------------------------------------


def test_regulator_case_and_response(client, handler_a, supervisor_a, incident):
    client.force_login(supervisor_a)  # a supervisor may record them too
    today = timezone.localdate().isoformat()
    data = {
        "regcase-regulator": "TRC",
        "regcase-case_number": "TRC-2026-77",
        "regcase-notified_on": today,
        "regcase-note": "",
        "regcase-reason": "Letter from the TRC",
    }
    response = post(client, "regulator_case_record", incident, data, follow=True)
    case = RegulatorCase.objects.get()
    assert (case.case_number, case.recorded_by) == ("TRC-2026-77", supervisor_a)
    assert "TRC case TRC-2026-77" in response.content.decode()

    client.force_login(handler_a)
    data = {
        f"regresp{case.pk}-responded_on": today,
        f"regresp{case.pk}-summary": "Number restored",
        f"regresp{case.pk}-reason": "Sent",
    }
    post(client, "regulator_response_record", incident, data, case.pk)
    assert list(case.responses.values_list("summary", flat=True)) == ["Number restored"]

    # The same case number again is refused.
    before = complaint_snapshot(incident)
    again = {
        "regcase-regulator": "TRC",
        "regcase-case_number": "TRC-2026-77",
        "regcase-notified_on": today,
        "regcase-reason": "again",
    }
    response = post(client, "regulator_case_record", incident, again)
    assert any("already recorded" in message for message in messages_of(response))
    assert complaint_snapshot(incident) == before


def test_flagging_the_employee_who_pushed_the_transfer_and_withdrawing_it(client, handler_a, agent_b, incident):
    key = next(key for key, summary in flaggable_changes(incident) if "T-" in summary and "agent_b" in summary)
    client.force_login(handler_a)
    page = client.get(detail_url(incident))
    assert dict(page.context["flag_form"].fields["change"].choices) == dict(flaggable_changes(incident))
    assert key in dict(page.context["flag_form"].fields["change"].choices)
    response = post(
        client, "employee_flag", incident, {"flag-change": key, "flag-reason": "Pushed it through"}, follow=True
    )
    flag = EmployeeFlag.objects.get()
    assert (flag.employee, flag.flagged_by) == (agent_b, handler_a)
    assert "agent_b flagged for" in response.content.decode()

    post(client, "employee_flag_withdraw", incident, {f"unflag{flag.pk}-reason": "Raised in error"}, flag.pk)
    flag.refresh_from_db()
    assert flag.withdrawal_reason == "Raised in error"


def test_flagging_a_change_not_on_the_list_is_refused(client, handler_a, incident):
    before = complaint_snapshot(incident)
    client.force_login(handler_a)
    response = post(client, "employee_flag", incident, {"flag-change": "numbers.holding:999999", "flag-reason": "x"})
    assert any("Employee flag: nothing was recorded" in message for message in messages_of(response))
    assert complaint_snapshot(incident) == before


# --- The timeline, and what the page costs -------------------------------------------------------------


def test_the_timeline_lists_the_numbers_past_and_the_complaint_in_order(client, handler_a, incident):
    blocked(incident, handler_a)
    client.force_login(handler_a)
    timeline = client.get(detail_url(incident)).context["timeline"]
    assert [entry.at for entry in timeline] == sorted(entry.at for entry in timeline)
    titles = [entry.title for entry in timeline]
    assert titles.index("Transfer request") < titles.index("Received") < titles.index("Number blocked")


def a_busy_complaint(*, size: int, admin_user, agent_b, supervisor_a, handler_a, branch_a):
    """A complaint about ``size`` wrongly transferred numbers: each blocked, a restoration
    asked for each, one awaiting approval and the others rejected; ``size`` declined
    offers and one waiting; ``size`` regulator cases with a response each; ``size``
    employee flags."""
    holder = SubscriberFactory()
    numbers = []
    for _ in range(size):
        number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a, subscriber=holder)
        numbers.append(wrongly_transferred(number, to=SubscriberFactory(), agent=agent_b, supervisor=supervisor_a))
    complaint = new_complaint(
        actor=handler_a, complainant=holder, numbers=numbers, category=ComplaintCategory.UNAUTHORISED_TRANSFER
    )
    for index, number in enumerate(numbers):
        cs.complaint_block_number(complaint=complaint, number=number, actor=handler_a, reason="freeze")
        restoration = cs.restoration_request(complaint=complaint, number=number, actor=handler_a, reason="give back")
        if index:
            cs.restoration_reject(restoration=restoration, actor=supervisor_a, reason="not proven")
    for index in range(size):
        offer = proposed(complaint, handler_a, amount=str(10 + index))
        cs.offer_make(offer=offer, channel="phone", actor=handler_a, reason="called")
        cs.offer_record_response(offer=offer, accepted=False, channel="phone", actor=handler_a, reason="no")
        case = cs.regulator_case_record(
            complaint=complaint,
            regulator="TRC",
            case_number=f"TRC-{size}-{index}",
            notified_on=timezone.localdate(),
            actor=handler_a,
            reason="letter",
        )
        cs.regulator_response_record(
            case=case, responded_on=timezone.localdate(), summary="answered", actor=handler_a, reason="sent"
        )
    proposed(complaint, handler_a, amount="100")
    changes = [key for key, summary in flaggable_changes(complaint) if "agent_b" in summary]
    for key in changes[:size]:
        cs.employee_flag(complaint=complaint, change=key, actor=handler_a, reason="pushed it")
    return complaint


# Per viewer: session, user, employee, model perms, branch grants, the complaint and its
# parts, guardian's object permission, the timeline's history tables and the forms' choices.
# A supervisor's page also asks restoration_approval_blockers about each restoration
# awaiting approval (2 queries each: at most one awaits per number), so the sizes keep
# one awaiting and grow the decided ones.
# +5: the access log records the view of the complainant (chain lock, head, insert, head move, savepoint).
# Each includes the session's second-factor device (django-otp's OTPMiddleware).
DETAIL_QUERIES = {"handler_a": 33, "supervisor_a": 35, "agent_a": 30}


@pytest.mark.parametrize("persona", sorted(DETAIL_QUERIES))
def test_detail_query_count_does_not_grow_with_rows(
    request, client, admin_user, agent_b, supervisor_a, handler_a, branch_a, persona, django_assert_num_queries
):
    make_handler("handler_a2", branch=branch_a, admin=admin_user)  # someone to assign to: the form shows
    viewer = request.getfixturevalue(persona)
    client.force_login(viewer)
    for size in (1, 4):
        complaint = a_busy_complaint(
            size=size,
            admin_user=admin_user,
            agent_b=agent_b,
            supervisor_a=supervisor_a,
            handler_a=handler_a,
            branch_a=branch_a,
        )
        # The access event of the complainant's view takes the chain lock on PostgreSQL.
        with django_assert_num_queries(DETAIL_QUERIES[persona] + chain_lock_queries()):
            response = client.get(detail_url(complaint))
        assert response.status_code == 200
        assert len(response.context["numbers"]) == size
        assert len(response.context["offers"]) == size + 1
        assert len(response.context["flags"]) == size
        restorations = response.context["restorations"]
        assert len(restorations) == size
        assert sum(1 for r in restorations if r.state == RestorationState.AWAITING_APPROVAL) == 1
