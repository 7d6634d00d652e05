"""The disciplinary review in real Chromium against the live server: after the
incident (a number wrongly transferred by agent_b, the holder's complaint, the
handler's flag on agent_b's change), an auditor opens agent_b's changes, sees the
wrongful one with its before, after and reason, downloads the CSV, and suspends
agent_b pending review; agent_b is signed out and can no longer sign in."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from complaints import services as cs
from complaints.choices import Channel, ComplaintCategory, Severity
from complaints.selectors import flaggable_changes
from numbers import services as ns
from numbers.choices import ConsentParty, TransferState
from numbers.models import MobileNumber, TransferRequest
from staff.personas import demo_password
from tests.browser.pages import log_in, new_session, submit
from tests.factories import consent_by_code, consent_in_person, transfer_request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TRANSFER_REASON = "Customer asked to move the line to her cousin"
CONSENT_REASON = "Both parties showed their ID at the counter"


def the_incident(*, agent, supervisor, handler, holder, number, newcomer):
    """Through the services, as it happened: the wrongful transfer, the complaint, the flag."""
    request = transfer_request(
        actor=agent, branch=number.branch, number=number, new_subscriber=newcomer, reason=TRANSFER_REASON
    )
    consent_by_code(request, actor=agent, reason=CONSENT_REASON)
    consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=agent, reason=CONSENT_REASON)
    request.refresh_from_db()
    ns.transfer_approve(request=request, actor=supervisor, reason="looked fine")
    assert MobileNumber.objects.get(pk=number.pk).holder == newcomer
    complaint = cs.complaint_create(
        complainant=holder,
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        severity=Severity.CRITICAL,
        channel=Channel.BRANCH,
        description="My number was given to someone else without my consent",
        numbers=[MobileNumber.objects.get(pk=number.pk)],
        actor=handler,
        reason="Holder at the counter with her national ID",
    )
    wrongful = TransferRequest.history.get(
        id=request.pk, history_user=agent, history_type="~", state=TransferState.AWAITING_APPROVAL
    )
    key = f"numbers.transferrequest:{wrongful.history_id}"
    assert key in dict(flaggable_changes(complaint))
    cs.employee_flag(complaint=complaint, change=key, actor=handler, reason="Pushed the transfer through")
    return wrongful


def test_an_auditor_reviews_and_suspends_the_employee_behind_the_incident(
    page, new_context, live_server, sla_presets, auditor, agent_b, supervisor_a, handler_a, holder, newcomer, active
):
    wrongful = the_incident(
        agent=agent_b, supervisor=supervisor_a, handler=handler_a, holder=holder, number=active, newcomer=newcomer
    )
    # agent_b is signed in at the counter.
    counter = new_session(new_context, live_server, "agent_b")

    # The auditor opens the review from the header and picks agent_b and the period.
    log_in(page, live_server, "auditor")
    page.click("#nav-review")
    expect(page).to_have_url(f"{live_server.url}/review/")
    today = timezone.localdate()
    since = today - timedelta(days=7)
    page.select_option("#id_employee", str(agent_b.pk))
    page.fill("#id_since", since.isoformat())
    page.fill("#id_until", today.isoformat())
    page.click("text=Show changes")
    expect(page.locator("#employee-summary")).to_contain_text("Bopha Agent (agent_b)")
    expect(page.locator("#employee-flags")).to_contain_text("Pushed the transfer through")

    # The wrongful change: the request put up for approval on consents "in person".
    row = page.locator(f"#entry-numberstransferrequest-{wrongful.history_id}")
    expect(row.locator(".entry-action")).to_have_text("changed")
    change = row.locator(".audit-change", has_text="State")
    expect(change.locator(".change-before")).to_have_text("Awaiting consent")
    expect(change.locator(".change-after")).to_have_text("Awaiting approval")
    expect(row.locator(".entry-reason")).to_have_text(CONSENT_REASON)
    expect(row.locator(".entry-request a")).to_have_attribute("href", f"/review/request/{wrongful.history_request_id}/")

    # The CSV download carries the change and its reason.
    with page.expect_download() as download_info:
        page.click("#export-csv")
    download = download_info.value
    assert download.suggested_filename == f"review-agent_b-{since.isoformat()}-{today.isoformat()}.csv"
    with open(download.path(), encoding="utf-8") as handle:
        rows = list(csv.DictReader(io.StringIO(handle.read())))
    assert {
        "request id": wrongful.history_request_id,
        "field": "State",
        "before": "Awaiting consent",
        "after": "Awaiting approval",
        "reason": CONSENT_REASON,
    }.items() <= next(
        r for r in rows if r["request id"] == wrongful.history_request_id and r["field"] == "State"
    ).items()

    # Suspend agent_b pending review: a case is opened on the flag and the account is disabled.
    submit(
        page,
        "suspend-form",
        {
            "suspend-summary": "Transferred a number without its holder's consent",
            "suspend-reason": "Pending the hearing",
        },
    )
    expect(page.locator(".messagelist .success")).to_contain_text("Suspended pending review: agent_b (case D-")
    expect(page.locator("#employee-account")).to_have_text("disabled")
    expect(page.locator("#employee-suspension")).to_contain_text("Pending the hearing")
    expect(page.locator("#suspend-form")).to_have_count(0)

    # agent_b's session at the counter has ended...
    counter.reload()
    expect(counter).to_have_url(re.compile(r"/admin/login/"))

    # ...and a fresh browser cannot sign in as agent_b.
    fresh = new_context().new_page()
    fresh.goto(f"{live_server.url}/admin/login/")
    fresh.fill("#id_username", "agent_b")
    fresh.fill("#id_password", demo_password())
    fresh.click("input[type=submit]")
    expect(fresh).to_have_url(f"{live_server.url}/admin/login/")
    expect(fresh.locator(".errornote")).to_be_visible()
