"""The second factor as a person meets it in Chromium: enrolment with a QR code, then the code."""

import os
import re
from base64 import b32decode
from pathlib import Path

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from staff.personas import demo_password

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_supervisor_enrols_by_qr_code_and_keeps_the_backup_codes(page, live_server, supervisor_b, tmp_path):
    shots = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)  # to look at the page
    page.goto(f"{live_server.url}/approvals/")
    page.fill("#id_username", "supervisor_b")
    page.fill("#id_password", demo_password())
    page.click("input[type=submit]")

    # No authenticator yet: the approvals wait until one is set up.
    expect(page).to_have_url(re.compile(r"/account/second-factor/enrol/\?next=%2Fapprovals%2F"))
    qr = page.locator("#two-factor-qr")
    expect(qr).to_be_visible()
    # The QR code is an image served by its own view: wait until it has loaded and has a size.
    page.wait_for_function(
        "() => { const img = document.querySelector('#two-factor-qr'); return img.complete && img.naturalWidth > 0; }"
    )
    page.screenshot(path=shots / "otp-enrol.png", full_page=True)

    # The app is given the key (here typed, as by hand) and shows a code.
    key = page.locator("#two-factor-key").inner_text().strip()
    code = f"{TOTP(b32decode(key)).token():06d}"
    page.fill("#id_token", code)
    page.click("#two-factor-enrol-form input[type=submit]")

    codes = page.locator("#two-factor-codes li")
    expect(codes).to_have_count(10)
    page.screenshot(path=shots / "otp-backup-codes.png", full_page=True)
    page.click("#two-factor-continue")
    expect(page).to_have_url(f"{live_server.url}/approvals/")
    assert TOTPDevice.objects.get(user=supervisor_b).confirmed


def test_a_wrong_code_is_refused_and_the_right_one_lets_in(page, live_server, supervisor_b):
    device = TOTPDevice.objects.create(user=supervisor_b, name="phone", confirmed=True)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "supervisor_b")
    page.fill("#id_password", demo_password())
    page.click("input[type=submit]")
    expect(page).to_have_url(re.compile(r"/account/second-factor/\?next=%2Fadmin%2F"))

    page.fill("#id_token", "000000" if TOTP(device.bin_key).token() != 0 else "111111")
    page.click("#two-factor-verify-form input[type=submit]")
    expect(page.locator(".errorlist")).to_be_visible()
    page.goto(f"{live_server.url}/admin/")
    expect(page).to_have_url(re.compile(r"/account/second-factor/"))

    page.wait_for_timeout(1100)  # django-otp throttles the device for a second after a wrong code
    page.fill("#id_token", f"{TOTP(device.bin_key).token():06d}")
    page.click("#two-factor-verify-form input[type=submit]")
    expect(page).to_have_url(f"{live_server.url}/admin/")
