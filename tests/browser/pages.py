"""What every browser test does with a page: sign in as a persona, open a second
desk, fill and submit a form by field names."""

from __future__ import annotations

import re

from django.contrib.auth import get_user_model
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from staff.personas import demo_password, ensure_demo_device
from staff.twofactor import second_factor_required, totp_code


def log_in(page, live_server, username: str) -> None:
    """The password, then (for a role that needs it) the code of the persona's
    authenticator: the demo key, given here as seed_demo gives it."""
    user = get_user_model().objects.get(username=username)
    if second_factor_required(user):
        ensure_demo_device(user)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", demo_password())
    page.click("input[type=submit]")
    pass_second_factor(page, user)
    expect(page).to_have_url(f"{live_server.url}/admin/")


def pass_second_factor(page, user) -> None:
    """Type the code the user's authenticator app shows now, if they have one."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return
    expect(page).to_have_url(re.compile(r"/account/second-factor/"))
    page.fill("#id_token", totp_code(device))
    page.click("#two-factor-verify-form input[type=submit]")


def new_session(new_context, live_server, username: str):
    """A separate browser context per person, as on separate desks (closed after the test)."""
    page = new_context().new_page()
    log_in(page, live_server, username)
    return page


def submit(page, form_id: str, fields: dict[str, str]) -> None:
    """Fill a form by field name (selects chosen, radios checked) and press its button."""
    form = page.locator(f"#{form_id}")
    for name, value in fields.items():
        field = form.locator(f"[name='{name}']")
        if field.first.get_attribute("type") == "radio":
            form.locator(f"[name='{name}'][value='{value}']").check()
        elif field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.locator("input[type=submit]").click()
