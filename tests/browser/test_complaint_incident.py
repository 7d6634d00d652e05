"""The incident replayed through the complaint screens, in real Chromium against the
live server: a number wrongly given to a new subscriber, the holder's complaint taken
in, the number blocked within minutes, restored with a supervisor's approval, offers
declined and one waiting, the regulator's case, the employee flagged, and the whole
story on the complaint's timeline."""

import re

import pytest
from playwright.sync_api import expect

from complaints.models import CompensationOffer, Complaint, Restoration
from numbers import services as ns
from numbers.choices import ConsentParty
from numbers.models import MobileNumber
from tests.browser.pages import log_in, new_session, submit
from tests.factories import consent_by_code, consent_in_person, document_of, transfer_request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def success(page):
    return page.locator(".messagelist .success")


def propose_make_and_decline(page, complaint, amount: str) -> CompensationOffer:
    submit(
        page,
        "offer-propose-form",
        {
            "propose-kind": "airtime_credit",
            "propose-amount": amount,
            "propose-currency": "USD",
            "propose-reason": "An apology for the lost line",
        },
    )
    expect(success(page)).to_contain_text(f"Offer of {amount}.00 USD proposed")
    offer = CompensationOffer.objects.filter(complaint=complaint).latest("proposed_at", "id")
    submit(page, f"omake{offer.pk}-form", {f"omake{offer.pk}-channel": "phone", f"omake{offer.pk}-reason": "Called"})
    expect(success(page)).to_contain_text("made to the customer")
    submit(
        page,
        f"orespond{offer.pk}-form",
        {
            f"orespond{offer.pk}-answer": "declined",
            f"orespond{offer.pk}-channel": "phone",
            f"orespond{offer.pk}-reason": "Not enough for a week without my number",
        },
    )
    expect(success(page)).to_contain_text("declined by the customer")
    return offer


def test_the_incident_through_the_complaint_screens(
    page, new_context, live_server, sla_presets, agent_b, supervisor_a, handler_a, branch_a, holder, newcomer, active
):
    # The wrongful handover: a transfer pushed through by agent_b and approved.
    request = transfer_request(actor=agent_b, branch=branch_a, number=active, new_subscriber=newcomer)
    consent_by_code(request, actor=agent_b)
    consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=agent_b)
    request.refresh_from_db()
    ns.transfer_approve(request=request, actor=supervisor_a, reason="looked fine")
    assert MobileNumber.objects.get(pk=active.pk).holder == newcomer
    typed = "0" + active.msisdn.removeprefix("+855")

    # The holder complains at the counter: handler_a takes it in from the header link.
    log_in(page, live_server, "handler_a")
    page.click("#nav-complaints")
    page.get_by_role("link", name="New complaint").click()
    expect(page.locator("#unauthorised-transfer-rule")).to_contain_text("critical")
    expect(page.locator("#unauthorised-transfer-rule")).to_contain_text("blocked within 24 h")
    page.select_option("#id_document_type", holder.id_document_type)
    page.fill("#id_document_number", document_of(holder))
    page.fill("#id_msisdns", typed)
    page.select_option("#id_category", "unauthorised_transfer")
    page.select_option("#id_severity", "low")  # overruled: an unauthorised transfer is critical
    page.select_option("#id_channel", "branch")
    page.fill("#id_description", "My number was given to someone else without my consent")
    page.fill("#id_reason", "Holder at the counter with her national ID")
    page.click("text=Take the complaint in")
    expect(success(page)).to_contain_text("It is critical: block the number by")
    complaint = Complaint.objects.get()
    expect(page).to_have_url(f"{live_server.url}/complaints/{complaint.pk}/")
    expect(page.locator("#complaint-severity")).to_have_text("Critical")
    expect(page.locator("#complaint-assigned_to")).to_have_text("Heng Handler")
    expect(page.locator("#time-to-block")).to_contain_text("Not blocked yet")

    # Within minutes the number is blocked; the page shows how long it took.
    submit(page, "block-form", {"block-number": str(active.pk), "block-reason": "Stop the new holder using it"})
    expect(success(page)).to_contain_text("blocked")
    expect(page.locator("#time-to-block")).to_contain_text(
        re.compile(r"Time from complaint to block: (under 1 min|\d+ min)")
    )
    expect(page.locator("#time-to-block")).to_contain_text("deadline 24 h 00 min")
    expect(page.locator(".clock-block .clock-status")).to_have_text("met")

    # handler_a asks for the number to go back to the complainant.
    submit(
        page,
        "restoration-request-form",
        {"restore-number": str(active.pk), "restore-reason": "The ledger shows her as the holder since 2019"},
    )
    expect(success(page)).to_contain_text("A supervisor who did not ask must approve it")
    restoration = Restoration.objects.get()

    # supervisor_a, who did not ask, finds it in the approval queue and approves it.
    supervisor = new_session(new_context, live_server, "supervisor_a")
    supervisor.click("#nav-approvals")
    row = supervisor.locator("#restorations-awaiting tbody tr", has_text=restoration.reference)
    expect(row).to_contain_text(active.msisdn)
    row.get_by_role("link", name=complaint.reference).click()
    expect(supervisor).to_have_url(f"{live_server.url}/complaints/{complaint.pk}/")
    expect(supervisor.locator(f"#restoration-{restoration.pk}-blockers")).to_have_count(0)
    submit(
        supervisor,
        f"rapprove{restoration.pk}-form",
        {f"rapprove{restoration.pk}-reason": "Holding ledger and ID checked: she is the rightful holder"},
    )
    expect(success(supervisor)).to_contain_text(f"is held by {holder.full_name} again and unblocked")

    # Two offers are made and declined; a third, above the handler's limit, waits for approval.
    page.reload()
    propose_make_and_decline(page, complaint, "20")
    propose_make_and_decline(page, complaint, "40")
    submit(
        page,
        "offer-propose-form",
        {
            "propose-kind": "refund",
            "propose-amount": "100",
            "propose-currency": "USD",
            "propose-reason": "A refund of three months",
        },
    )
    expect(success(page)).to_contain_text("above your limit and awaits a supervisor")
    pending = CompensationOffer.objects.filter(complaint=complaint).latest("proposed_at", "id")
    expect(page.locator(f"#offer-{pending.pk} .offer-state")).to_have_text("Awaiting approval")
    expect(page.locator(".offer-declined")).to_have_count(2)

    # The regulator's case number is recorded.
    submit(
        page,
        "regulator-case-form",
        {"regcase-regulator": "TRC", "regcase-case_number": "TRC-2026-0077", "regcase-reason": "Letter from the TRC"},
    )
    expect(success(page)).to_contain_text("TRC case TRC-2026-0077 recorded")

    # The employee who pushed the transfer through is flagged, from the list of changes.
    option = page.locator("#id_flag-change option").filter(has_text="agent_b").filter(has_text="Transfer request")
    change = option.first.get_attribute("value")
    submit(page, "employee-flag-form", {"flag-change": change, "flag-reason": "Pushed the transfer through"})
    expect(success(page)).to_contain_text("Bopha Agent (agent_b) flagged for review")
    expect(page.locator("#complaint-flags")).to_contain_text("Bopha Agent (agent_b)")

    # The timeline tells the whole story, in order.
    timeline = page.locator("#complaint-timeline")
    for text in (
        "Transfer request",
        f"T-{request.pk}",
        "Received",
        "Number blocked",
        "Restoration requested",
        "Restoration approved",
        f"restored to {holder.full_name}",
        "(20.00 USD): declined by the customer",
        "(40.00 USD): declined by the customer",
        "above the handler's limit of 50.00 USD, awaits approval",
        "TRC case TRC-2026-0077",
        "agent_b flagged for",
    ):
        expect(timeline).to_contain_text(text)
    rows = timeline.locator("tbody tr")
    titles = [rows.nth(index).locator("td").nth(1).inner_text() for index in range(rows.count())]
    assert titles.index("Received") < titles.index("Number blocked") < titles.index("Restoration approved")
    assert titles.index("Restoration approved") < titles.index("Employee flagged")

    # The number is the original holder's again, and working.
    number = MobileNumber.objects.get(pk=active.pk)
    assert number.holder == holder
    assert number.status == "active"
