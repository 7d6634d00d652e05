"""What every browser test does with a page: sign in as a persona, open a second
desk, fill and submit a form by field names."""

from __future__ import annotations

from playwright.sync_api import expect

from staff.personas import demo_password


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", demo_password())
    page.click("input[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/admin/")


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
