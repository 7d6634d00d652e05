"""Session limits in real Chromium: a session left idle is ended with a message on
the sign-in page; a suspension asked on a stale password check goes through the
confirmation page and back, and is done only when sent again (staff.sessions,
staff.reauth). The clock is moved by back-dating the session's stamps."""

import time

import pytest
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import expect

from staff import reauth, sessions
from staff.models import Suspension
from staff.personas import demo_password
from tests.browser.pages import log_in, pass_second_factor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def back_date(page, **seconds_ago: float) -> None:
    """Move this browser's session stamps into the past, as if that much time had gone by."""
    [key] = [c["value"] for c in page.context.cookies() if c["name"] == "sessionid"]
    store = SessionStore(session_key=key)
    for stamp, ago in seconds_ago.items():
        store[stamp] = time.time() - ago
    store.save()


def test_an_idle_session_ends_on_the_sign_in_page_with_the_reason(page, live_server, supervisor_a):
    log_in(page, live_server, "supervisor_a")
    back_date(page, **{sessions.LAST_SEEN_AT: 31 * 60})
    page.goto(f"{live_server.url}/admin/numbers/mobilenumber/")
    expect(page).to_have_url(f"{live_server.url}/admin/login/?next=/admin/numbers/mobilenumber/")
    expect(page.locator(".messagelist")).to_contain_text("signed out after 30 minutes without activity")
    page.fill("#id_username", "supervisor_a")
    page.fill("#id_password", demo_password())
    page.click("input[type=submit]")
    pass_second_factor(page, supervisor_a)  # a new session: the code again
    expect(page).to_have_url(f"{live_server.url}/admin/numbers/mobilenumber/")


def test_a_stale_suspension_asks_for_the_password_and_is_sent_again(page, live_server, admin_user, agent_b):
    log_in(page, live_server, "admin")
    back_date(page, **{reauth.VERIFIED_AT: 6 * 60})
    changelist = f"{live_server.url}/admin/staff/employee/"

    def suspend_agent_b():
        page.goto(changelist)
        page.check(f"input[name=_selected_action][value='{agent_b.employee.pk}']")
        page.select_option("select[name=action]", "suspend_selected")
        page.fill("input[name=reason]", "Pending the hearing")
        page.click("button[name=index]")

    suspend_agent_b()
    expect(page.locator("#reauth-form")).to_be_visible()
    expect(page.locator(".messagelist")).to_contain_text("Nothing was done: confirm your password")
    assert not Suspension.objects.exists()

    page.fill("#id_password", "not-the-password")
    page.click("#reauth-submit")
    expect(page.locator("#reauth-form .errorlist")).to_contain_text("That is not your password")

    page.fill("#id_password", demo_password())
    page.click("#reauth-submit")
    expect(page).to_have_url(changelist)
    expect(page.locator(".messagelist")).to_contain_text("Confirmed. Send your action again.")
    assert not Suspension.objects.exists()

    suspend_agent_b()
    expect(page.locator(".messagelist")).to_contain_text("Agent_b is suspended and signed out everywhere")
    assert Suspension.objects.filter(user=agent_b).count() == 1
