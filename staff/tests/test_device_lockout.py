"""A lockout a colleague cannot abuse (staff.devices): wrong passwords from clients
without the user's device cookie lock out those clients only; the browser the user
signed in with before keeps its own count, even behind the same address."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.utils import timezone

from staff import devices
from staff.personas import demo_password

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
LOGOUT = "/admin/logout/"
BRANCH_NAT = "203.0.113.7"  # the branch's one public address


def desk() -> Client:
    return Client(REMOTE_ADDR=BRANCH_NAT, HTTP_USER_AGENT="Branch B desk")


def sign_in(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def her_browser() -> Client:
    """supervisor_b's own browser: she signed in there before (and signed out)."""
    browser = desk()
    assert sign_in(browser, "supervisor_b", demo_password()).status_code == 302
    browser.post(LOGOUT)
    assert not signed_in(browser)
    return browser


def guess(client: Client, username: str, times: int) -> list[int]:
    return [sign_in(client, username, f"guess-{n}").status_code for n in range(times)]


def test_a_colleague_guessing_does_not_lock_the_real_user_out(supervisor_b, settings):
    hers = her_browser()
    colleague = desk()
    assert guess(colleague, "supervisor_b", settings.AXES_FAILURE_LIMIT) == [200] * 4 + [429]
    # The guesser is stopped: even the right password is refused now, from that browser...
    assert sign_in(colleague, "supervisor_b", demo_password()).status_code == 429
    assert not signed_in(colleague)
    # ...and from any other browser without her device cookie, whatever its address.
    elsewhere = Client(REMOTE_ADDR="198.51.100.9")
    assert sign_in(elsewhere, "supervisor_b", demo_password()).status_code == 429
    # She signs in from the same address with her browser.
    response = sign_in(hers, "supervisor_b", demo_password())
    assert response.status_code == 302 and signed_in(hers)


def test_her_own_browser_has_its_own_limit(supervisor_b, settings):
    """A stolen or borrowed browser of hers does not guess forever either."""
    hers = her_browser()
    assert guess(hers, "supervisor_b", settings.AXES_FAILURE_LIMIT)[-1] == 429
    assert sign_in(hers, "supervisor_b", demo_password()).status_code == 429
    assert not signed_in(hers)


def test_another_users_device_cookie_does_not_help_the_guesser(supervisor_b, agent_b, settings):
    colleague = desk()
    # agent_b's own browser: a genuine device cookie, for agent_b.
    assert sign_in(colleague, "agent_b", demo_password()).status_code == 302
    colleague.post(LOGOUT)
    assert devices.COOKIE_NAME in colleague.cookies
    assert guess(colleague, "supervisor_b", settings.AXES_FAILURE_LIMIT)[-1] == 429
    assert sign_in(colleague, "supervisor_b", demo_password()).status_code == 429
    # His own account is untouched by his guessing at hers.
    assert sign_in(colleague, "agent_b", demo_password()).status_code == 302


@pytest.mark.parametrize(
    "forged",
    [
        "not-a-signed-value",
        signing.dumps({"supervisor_b": "made-up-nonce"}, salt=devices.SALT, key="not-the-server-key", compress=True),
        signing.dumps({"supervisor_b": "made-up-nonce"}, salt="another-salt", compress=True),
    ],
    ids=["garbage", "wrong-key", "wrong-salt"],
)
def test_a_forged_device_cookie_does_not_help_the_guesser(supervisor_b, settings, forged):
    colleague = desk()
    colleague.cookies[devices.COOKIE_NAME] = forged
    assert guess(colleague, "supervisor_b", settings.AXES_FAILURE_LIMIT)[-1] == 429
    assert sign_in(colleague, "supervisor_b", demo_password()).status_code == 429


def test_a_device_cookie_past_its_age_is_untrusted(supervisor_b, settings):
    hers = her_browser()
    with time_machine.travel(timezone.now() + timedelta(days=settings.DEVICE_COOKIE_AGE_DAYS, hours=1), tick=False):
        assert guess(desk(), "supervisor_b", settings.AXES_FAILURE_LIMIT)[-1] == 429
        assert sign_in(hers, "supervisor_b", demo_password()).status_code == 429


def test_the_device_cookie_is_signed_httponly_and_names_the_user(supervisor_b):
    browser = desk()
    sign_in(browser, "supervisor_b", demo_password())
    cookie = browser.cookies[devices.COOKIE_NAME]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["max-age"] == 90 * 24 * 3600
    entries = signing.loads(cookie.value, salt=devices.SALT)
    assert list(entries) == ["supervisor_b"] and len(entries["supervisor_b"]) >= 16


def test_a_shared_desk_remembers_each_user_who_signed_in(supervisor_b, agent_b, settings):
    shared = desk()
    for username in ("agent_b", "supervisor_b"):
        assert sign_in(shared, username, demo_password()).status_code == 302
        shared.post(LOGOUT)
    entries = signing.loads(shared.cookies[devices.COOKIE_NAME].value, salt=devices.SALT)
    assert set(entries) == {"agent_b", "supervisor_b"}
    guess(desk(), "agent_b", settings.AXES_FAILURE_LIMIT)
    assert sign_in(shared, "agent_b", demo_password()).status_code == 302


def test_a_failed_sign_in_without_the_cookie_is_refused_with_the_form(supervisor_b):
    """Below the limit the sign-in page says no, as before."""
    response = sign_in(desk(), "supervisor_b", "not-the-password")
    assert response.status_code == 200 and "errornote" in response.content.decode()
