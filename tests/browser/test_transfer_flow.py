"""A dual-consent transfer as staff live it, in real Chromium against the live server:
an agent requests and collects both consents (the holder's by the code sent to the
number, so one agent may take both), the requester and another branch's supervisor
cannot approve, the branch's supervisor approves alone from the queue (no high risk
flag). The in-person path is tests/browser/test_forged_consent.py."""

import pytest
from playwright.sync_api import expect

from numbers.choices import NumberStatus
from numbers.models import MobileNumber, TransferRequest
from tests.browser.pages import log_in, new_session, submit
from tests.factories import number_in_state
from tests.helpers import code_sent_to

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_agent_collects_both_consents_and_supervisor_a_approves(
    page, new_context, live_server, admin_user, agent_a, supervisor_a, supervisor_b, branch_a, handset
):
    number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    old_holder = number.holder

    # The agent opens a request from the header link, registering the new subscriber in the form.
    log_in(page, live_server, "agent_a")
    page.click("#nav-transfers")
    page.get_by_role("link", name="New transfer request").click()
    page.fill("#id_msisdn", "0" + number.msisdn.removeprefix("+855"))
    page.check("input[name=subscriber_mode][value=new]")
    page.select_option("#id_document_type", "passport")
    page.fill("#id_document_number", "P7654321")
    page.fill("#id_full_name", "Vanna Newholder")
    page.fill("#id_contact_msisdn", "092 611 222")
    page.check("#id_identity_checked")
    page.fill("#id_reason", "Holder is giving the line to her sister")
    page.click("text=Request transfer")
    expect(page.locator(".messagelist .success")).to_contain_text("Transfer request T-")
    transfer = TransferRequest.objects.get(number=number)
    expect(page).to_have_url(f"{live_server.url}/transfers/{transfer.pk}/")
    expect(page.locator("#transfer-state")).to_have_text("Awaiting consent")

    # The new subscriber consents at the counter with the passport just registered.
    submit(
        page,
        "consent-in-person-form",
        {
            "inperson-party": "new_subscriber",
            "inperson-document_type": "passport",
            "inperson-document_number": "P7654321",
            "inperson-reason": "Passport checked at the counter",
        },
    )
    expect(page.locator(".messagelist .success")).to_contain_text("new subscriber recorded")

    # The holder consents with the one-time code sent to the number itself.
    submit(page, "send-code-form", {"sendcode-reason": "Holder on the phone"})
    expect(page.locator(".messagelist .success")).to_contain_text("one-time code was sent")
    code = code_sent_to(number.msisdn)  # read on the holder's handset, as they would
    submit(page, "verify-code-form", {"verify-code": code, "verify-reason": "Holder read the code back"})
    expect(page.locator(".messagelist .success")).to_contain_text("Code accepted")
    expect(page.locator("#transfer-state")).to_have_text("Awaiting approval")

    # The requester, an agent, cannot open the decision page.
    response = page.goto(f"{live_server.url}/approvals/{transfer.pk}/")
    assert response.status == 403

    # Nor can the supervisor of another branch.
    other = new_session(new_context, live_server, "supervisor_b")
    response = other.goto(f"{live_server.url}/approvals/{transfer.pk}/")
    assert response.status == 403
    other.goto(f"{live_server.url}/approvals/")
    expect(other.locator("#result_list")).not_to_contain_text(number.msisdn)

    # The branch's supervisor approves from the queue, with a reason.
    supervisor = new_session(new_context, live_server, "supervisor_a")
    supervisor.click("#nav-approvals")
    row = supervisor.locator("#result_list tbody tr", has_text=number.msisdn)
    expect(row).to_contain_text("Awaiting approval")
    expect(row).to_contain_text("Vanna Newholder")
    row.get_by_role("link", name=f"T-{transfer.pk}").click()
    expect(supervisor.locator("#approval-blockers")).to_have_count(0)
    # The holder's own factor (the code to the number): no high flag, one supervisor suffices.
    expect(supervisor.locator("#risk-flags .risk-level-high")).to_have_count(0)
    expect(supervisor.locator("#risk-flags .risk-requester_captured")).to_contain_text("MEDIUM")
    expect(supervisor.locator("#two-approvals-note")).to_have_count(0)
    supervisor.fill("#id_approve-reason", "Both consents checked, no risk found")
    supervisor.click("text=Approve transfer")
    expect(supervisor.locator(".messagelist .success")).to_contain_text("is now held by Vanna Newholder")

    # The number's admin page shows the new holder, and its history the change.
    supervisor.goto(f"{live_server.url}/admin/numbers/mobilenumber/{number.pk}/change/")
    expect(supervisor.locator(".field-holder")).to_contain_text("Vanna Newholder")
    supervisor.goto(f"{live_server.url}/admin/numbers/mobilenumber/{number.pk}/history/")
    expect(supervisor.locator("#content")).to_contain_text(f"T-{transfer.pk} approved: Both consents checked")

    number = MobileNumber.objects.get(pk=number.pk)
    assert number.holder.full_name == "Vanna Newholder"
    assert number.holder != old_holder
