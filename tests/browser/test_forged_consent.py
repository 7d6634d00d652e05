"""Issue 13, path 2, through the screens in Chromium: an agent who knows the holder's
document number records the holder's consent "in person", then the new subscriber's,
and a supervisor approves two minutes after the holder's SMS notice.

Now the holder's in-person consent needs a photo of the document and a second
employee's confirmation, the agent cannot take both consents alone, the approval
waits out the cooling-off with its high risk flags shown, and then two supervisors
approve."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from numbers import services
from numbers.models import MobileNumber, TransferConsent, TransferRequest
from tests.browser.pages import log_in, new_session, submit
from tests.factories import PNG_BYTES
from tests.helpers import back_date

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("SCREENSHOT_DIR", "")


def _in_person(page, *, party: str, document_type: str, document_number: str, photo: bool) -> None:
    if photo:
        page.set_input_files(
            "#id_inperson-document_photo",
            files=[{"name": "id-card.png", "mimeType": "image/png", "buffer": PNG_BYTES}],
        )
    submit(
        page,
        "consent-in-person-form",
        {
            "inperson-party": party,
            "inperson-document_type": document_type,
            "inperson-document_number": document_number,
            "inperson-reason": "Document shown at the counter",
        },
    )


def test_a_forged_in_person_consent_needs_a_colleague_a_photo_the_cooling_off_and_two_supervisors(
    page,
    new_context,
    live_server,
    admin_user,
    agent_b,
    agent_a,
    supervisor_a,
    supervisor_a2,
    auditor,
    active,
    holder,
    newcomer,
):
    second = supervisor_a2
    transfer = services.transfer_create(
        number=active, new_subscriber=newcomer, actor=agent_b, reason="The holder sells the line to a friend"
    )
    url = f"{live_server.url}/transfers/{transfer.pk}/"

    # agent_b types the holder's document number "in person": without a photo, refused.
    log_in(page, live_server, "agent_b")
    page.goto(url)
    _in_person(page, party="current_holder", document_type="national_id", document_number="N0123456", photo=False)
    expect(page.locator(".messagelist .error")).to_contain_text("Upload the photo of the document shown")

    # With a photo it is recorded, but it does not count: a second employee must confirm.
    _in_person(page, party="current_holder", document_type="national_id", document_number="N0123456", photo=True)
    expect(page.locator(".messagelist .success")).to_contain_text("counts once a second employee")
    expect(page.locator("#transfer-state")).to_have_text("Awaiting consent")
    expect(page.locator(".consent-current_holder .consent-confirmation")).to_contain_text("does not count yet")
    expect(page.locator(".confirm-form")).to_have_count(0)  # not offered to the capturer and requester

    # Then the new subscriber's: one employee never vouches for both parties.
    _in_person(page, party="new_subscriber", document_type="passport", document_number="P7654321", photo=False)
    expect(page.locator(".messagelist .error")).to_contain_text("One employee never vouches for both parties")
    assert not TransferConsent.objects.filter(request=transfer, party="new_subscriber").exists()

    # The photo is evidence for reviewers only: not for the branch's staff.
    consent = TransferConsent.objects.get(request=transfer, party="current_holder")
    photo_url = f"{live_server.url}/transfers/{transfer.pk}/consents/{consent.pk}/photo/"
    assert page.goto(photo_url).status == 403
    review = new_session(new_context, live_server, "auditor")
    review.goto(url)
    expect(review.locator(".document-photo-link")).to_have_count(1)
    response = review.context.request.get(photo_url)
    assert (response.status, response.body()) == (200, PNG_BYTES)

    # agent_a, a second employee of the branch, confirms the check and takes the new subscriber's consent.
    colleague = new_session(new_context, live_server, "agent_a")
    colleague.goto(url)
    submit(colleague, f"confirm-{consent.pk}-form", {f"confirm{consent.pk}-reason": "Saw the holder and her ID card"})
    expect(colleague.locator(".messagelist .success")).to_contain_text("You confirmed the check")
    _in_person(colleague, party="new_subscriber", document_type="passport", document_number="P7654321", photo=False)
    expect(colleague.locator(".messagelist .success")).to_contain_text("new subscriber recorded")
    expect(colleague.locator("#transfer-state")).to_have_text("Awaiting approval")

    # supervisor_a, two minutes after the holder's notice: refused by the cooling-off, high flags shown.
    back_date(TransferRequest, transfer.pk, holder_notified_at=timezone.now() - timedelta(minutes=2))
    supervisor = new_session(new_context, live_server, "supervisor_a")
    supervisor.click("#nav-approvals")
    row = supervisor.locator("#result_list tbody tr", has_text=active.msisdn)
    expect(row.locator(".risk-level-high")).to_have_count(2)
    expect(row).to_contain_text("Holder not by code")
    row.get_by_role("link", name=f"T-{transfer.pk}").click()
    expect(supervisor.locator("#approval-blockers")).to_contain_text("Cooling-off")
    flags = supervisor.locator("#risk-flags")
    expect(flags.locator(".risk-holder_not_by_code")).to_contain_text("HIGH")
    expect(flags.locator(".risk-cooling_off")).to_contain_text("HIGH")
    expect(flags.locator(".risk-requester_captured")).to_contain_text("MEDIUM")
    expect(supervisor.locator("#two-approvals-note")).to_be_visible()
    if SCREENSHOTS:
        supervisor.screenshot(path=os.path.join(SCREENSHOTS, "approval-flags.png"), full_page=True)
    supervisor.locator("#approve-form input[type=submit]").evaluate("button => button.disabled = false")
    submit(supervisor, "approve-form", {"approve-reason": "The agent says the holder was here"})
    expect(supervisor.locator(".messagelist .error")).to_contain_text("Cooling-off")
    assert MobileNumber.objects.get(pk=active.pk).holder == holder

    # After the cooling-off: the first approval is recorded, the number does not move yet.
    back_date(TransferRequest, transfer.pk, holder_notified_at=timezone.now() - timedelta(hours=25))
    supervisor.goto(f"{live_server.url}/approvals/{transfer.pk}/")
    expect(supervisor.locator("#approval-blockers")).to_have_count(0)
    submit(supervisor, "approve-form", {"approve-reason": "Photo and colleague's check on file"})
    expect(supervisor.locator(".messagelist .success")).to_contain_text("First approval")
    assert MobileNumber.objects.get(pk=active.pk).holder == holder

    # supervisor_a cannot give the second approval; supervisor_a2 does.
    supervisor.goto(f"{live_server.url}/approvals/{transfer.pk}/")
    expect(supervisor.locator("#approval-blockers")).to_contain_text("You gave the first approval")
    other = new_session(new_context, live_server, "supervisor_a2")
    other.goto(f"{live_server.url}/approvals/{transfer.pk}/")
    expect(other.locator("#first-approval")).to_contain_text("Photo and colleague's check on file")
    submit(other, "approve-form", {"approve-reason": "Second pair of eyes: the holder's check stands"})
    expect(other.locator(".messagelist .success")).to_contain_text("is now held by New Subscriber")

    done = TransferRequest.objects.get(pk=transfer.pk)
    assert (done.first_approved_by, done.decided_by) == (supervisor_a, second)
    assert MobileNumber.objects.get(pk=active.pk).holder == newcomer
