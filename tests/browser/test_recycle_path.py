"""Reproduced path 1 of issue 13, in real Chromium against the live server: one
supervisor, alone, recycling a held number through the admin (Change status ->
withdrawn -> aging -> available, then Sell). It is refused with a clear message and
nothing changes. Then the proper path: a withdrawal request on a listed ground, a
second supervisor approves, the number is in quarantine and nobody can sell it."""

import os
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from numbers import services
from numbers.choices import NumberStatus, WithdrawalState
from numbers.models import Holding, MobileNumber, WithdrawalRequest
from sms.choices import SmsPurpose
from sms.models import SmsMessage
from tests.browser.pages import log_in, new_session, submit
from tests.factories import number_in_state
from tests.snapshots import number_snapshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("SCREENSHOT_DIR", "")


def shot(page, name: str) -> None:
    """Screenshots for a human look, only when SCREENSHOT_DIR is set."""
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)


def test_one_supervisor_cannot_recycle_a_held_number_and_two_withdraw_it_into_quarantine(
    page, new_context, live_server, media, admin_user, agent_a, supervisor_a, supervisor_a2, branch_a, holder, newcomer
):
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)
    services.number_record_topup(
        number=number, actor=agent_a, reason="Top-up of $5", at=timezone.now() - timedelta(days=21)
    )
    before = number_snapshot(number)
    change_url = f"{live_server.url}/admin/numbers/mobilenumber/{number.pk}/change/"

    # Path 1 as reproduced: supervisor_a opens Change status on the held number.
    log_in(page, live_server, "supervisor_a")
    page.goto(change_url)
    expect(page.locator(".sell-link")).to_have_count(0)
    page.click(".move-link")
    options = page.locator("#id_to_status option").evaluate_all("els => els.map(e => e.value)")
    assert NumberStatus.WITHDRAWN not in options
    expect(page.locator(".withdrawal-hint")).to_contain_text("A held number is not withdrawn here, by anyone")

    # Forcing "withdrawn" into the form (a forged POST) is refused with the reason, nothing changes.
    page.evaluate("""() => {
        const select = document.querySelector('#id_to_status');
        select.add(new Option('Withdrawn', 'withdrawn'));
        select.value = 'withdrawn';
    }""")
    page.fill("#id_reason", "Customer gone, recycling the line")
    page.click("input[type=submit][value='Change status']")
    expect(page.locator(".errorlist")).to_contain_text("A held number is never withdrawn by a status change")
    assert number_snapshot(number) == before

    # The Sell screen of a held number sends them back with why.
    page.goto(f"{live_server.url}/admin/numbers/mobilenumber/{number.pk}/sell/")
    expect(page.locator(".messagelist .error")).to_contain_text("held: it is not for sale")
    assert number_snapshot(number) == before

    # The proper path: a withdrawal request on a listed ground, from the number's page.
    page.goto(change_url)
    page.click("#content .withdrawal-link")
    expect(page.locator("#id_msisdn")).to_have_value(number.msisdn)
    page.check("input[name=ground][value=legal_order]")
    page.set_input_files(
        "#id_document", files=[{"name": "order.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 order"}]
    )
    page.fill("#id_reason", "Court order 12/2026: the line was used for fraud")
    shot(page, "withdrawal_create")
    page.click("input[type=submit][value='Request withdrawal']")
    expect(page.locator(".messagelist .success")).to_contain_text("the holder has been told by SMS")
    withdrawal = WithdrawalRequest.objects.get(number=number)
    expect(page.locator("#withdrawal-state")).to_have_text("Awaiting approval")
    told = set(SmsMessage.objects.filter(purpose=SmsPurpose.WITHDRAWAL).values_list("to_msisdn", flat=True))
    assert told == {number.msisdn, holder.contact_msisdn}

    # The requester cannot approve their own request.
    expect(page.locator("#approval-blockers")).to_contain_text("You made this request")
    expect(page.locator("input[value='Approve withdrawal']")).to_be_disabled()
    assert MobileNumber.objects.get(pk=number.pk).status == NumberStatus.ACTIVE

    # The second supervisor approves from the list of withdrawals awaiting approval.
    second = new_session(new_context, live_server, "supervisor_a2")
    second.click("#nav-withdrawals")
    row = second.locator("#result_list tbody tr", has_text=number.msisdn)
    expect(row).to_contain_text("Awaiting approval")
    shot(second, "withdrawal_queue")
    row.get_by_role("link", name=withdrawal.reference).click()
    expect(second.locator("#approval-blockers")).to_have_count(0)
    shot(second, "withdrawal_detail")
    submit(second, "approve-form", {"approve-reason": "Order checked with the court registry"})
    expect(second.locator(".messagelist .success")).to_contain_text("withdrawn and in quarantine")
    number = MobileNumber.objects.get(pk=number.pk)
    assert (number.status, number.holder_id) == (NumberStatus.AGING, None)
    assert WithdrawalRequest.objects.get(pk=withdrawal.pk).state == WithdrawalState.EXECUTED

    # In quarantine: Change status -> available is refused, and so is a sale.
    after = number_snapshot(number)
    page.goto(f"{live_server.url}/admin/numbers/mobilenumber/{number.pk}/move/")
    page.select_option("#id_to_status", NumberStatus.AVAILABLE)
    page.fill("#id_reason", "Quarantine skipped")
    page.click("input[type=submit][value='Change status']")
    expect(page.locator(".messagelist .error")).to_contain_text("is in quarantine until")
    page.goto(f"{live_server.url}/admin/numbers/mobilenumber/{number.pk}/sell/")
    page.fill("#id_reason", "Resale")
    page.evaluate(
        """(pk) => { const s = document.querySelector('#id_subscriber'); s.add(new Option('x', pk)); s.value = pk; }""",
        str(newcomer.pk),
    )
    page.click("input[type=submit]")
    expect(page.locator(".messagelist .error")).to_contain_text("cannot move from aging to active")
    assert number_snapshot(number) == after
    assert not Holding.objects.filter(number=number, ended_at__isnull=True).exists()
