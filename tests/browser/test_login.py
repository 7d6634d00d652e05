"""The portal as a person uses it: real Chromium against Django's live server."""

import pytest
from playwright.sync_api import expect

from numbers.choices import NumberStatus
from staff.personas import demo_password
from tests.browser.pages import log_in as sign_in
from tests.factories import MobileNumberFactory, number_in_state

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, live_server, username: str, password: str | None = None) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password or demo_password())
    page.click("input[type=submit]")


def test_supervisor_logs_in_and_sees_the_admin_index(page, live_server, supervisor_a):
    sign_in(page, live_server, "supervisor_a")  # password, then the code of the authenticator
    expect(page).to_have_url(f"{live_server.url}/admin/")
    expect(page.locator("#site-name")).to_contain_text("Mobile operator back office")
    expect(page.get_by_role("link", name="Mobile numbers")).to_be_visible()
    expect(page.locator("#user-tools")).to_contain_text("Sok")


def test_wrong_password_is_refused(page, live_server, supervisor_a):
    log_in(page, live_server, "supervisor_a", password="not-the-password")
    expect(page.locator(".errornote")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/admin/login/")


def test_agent_sees_only_their_branch_numbers(page, live_server, admin_user, agent_a, branch_a, branch_b):
    own = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    other = MobileNumberFactory(branch=branch_b)
    log_in(page, live_server, "agent_a")
    page.goto(f"{live_server.url}/admin/numbers/mobilenumber/")
    expect(page.locator("#result_list")).to_contain_text(own.msisdn)
    expect(page.locator("#result_list")).not_to_contain_text(other.msisdn)
    # Search in national format finds the number by its E.164 value.
    national = "0" + own.msisdn.removeprefix("+855")
    page.fill("#searchbar", national)
    page.keyboard.press("Enter")
    expect(page.locator("#result_list tbody tr")).to_have_count(1)
    page.locator("#result_list tbody tr a").first.click()
    expect(page.locator(".field-holder")).to_contain_text(own.holder.full_name)
