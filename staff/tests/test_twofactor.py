"""The second factor, enforced: signed in through the forms (never the force_login
shortcut), as a person would, and the four-eyes reset of a lost device."""

from __future__ import annotations

import time
from io import StringIO

import pytest
from django.contrib.auth import SESSION_KEY
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.models import RefusedAttempt
from staff.choices import Role
from staff.models import SecondFactorReset
from staff.personas import demo_password
from staff.services import employee_create
from staff.twofactor import (
    backup_codes_issue,
    second_factor_reset_approve,
    second_factor_reset_request,
    totp_code,
)
from staff.views_twofactor import PENDING_KEY

pytestmark = pytest.mark.django_db

VERIFY = "/account/second-factor/"
ENROL = "/account/second-factor/enrol/"
QR = "/account/second-factor/enrol/qr.svg"
BACKUP = "/account/second-factor/backup-codes/"


def password_login(username: str) -> Client:
    """The admin's login form, as a person types it: the password step only."""
    client = Client()
    response = client.post("/admin/login/", {"username": username, "password": demo_password(), "next": "/admin/"})
    assert response.status_code == 302, "the password was not accepted"
    assert SESSION_KEY in client.session
    return client


def device_for(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def sent_to(response, url: str) -> bool:
    return response.status_code == 302 and response["Location"].split("?")[0] == url


@pytest.fixture
def second_admin(admin_user):
    return employee_create(
        username="admin2",
        employee_code="E-ADMIN2",
        roles=[Role.ADMINISTRATOR],
        branches=[],
        actor=admin_user,
        reason="A second administrator (four eyes)",
        password=demo_password(),
    ).user


@pytest.fixture
def third_admin(admin_user):
    return employee_create(
        username="admin3",
        employee_code="E-ADMIN3",
        roles=[Role.ADMINISTRATOR],
        branches=[],
        actor=admin_user,
        reason="A third administrator",
        password=demo_password(),
    ).user


# --- Who is stopped, and where ----------------------------------------------------


@pytest.mark.parametrize("persona", ["admin_user", "supervisor_a", "handler_a", "auditor"])
def test_a_privileged_role_reaches_no_screen_before_its_code(request, persona):
    user = request.getfixturevalue(persona)
    device_for(user)
    client = password_login(user.username)
    for url in ["/admin/", "/admin/numbers/mobilenumber/", "/approvals/", "/review/", "/complaints/"]:
        response = client.get(url)
        assert sent_to(response, VERIFY), url
        assert f"next={url.replace('/', '%2F')}" in response["Location"]


@pytest.mark.parametrize("persona", ["supervisor_a", "auditor"])
def test_a_privileged_role_without_a_device_is_sent_to_enrol(request, persona):
    user = request.getfixturevalue(persona)
    client = password_login(user.username)
    assert sent_to(client.get("/admin/"), ENROL)
    assert sent_to(client.get("/approvals/"), ENROL)
    # Posting to a screen is stopped as well, before the view runs.
    assert sent_to(client.post("/approvals/1/approve/", {"reason": "x"}), ENROL)


def test_an_agent_is_not_made_to_enrol(agent_a):
    client = password_login("agent_a")
    assert client.get("/admin/").status_code == 200
    assert client.get("/transfers/").status_code == 200


def test_an_agent_who_enrolled_is_asked_for_the_code(agent_a):
    device_for(agent_a)
    client = password_login("agent_a")
    assert sent_to(client.get("/transfers/"), VERIFY)


def test_signing_out_works_before_the_code(supervisor_a):
    device_for(supervisor_a)
    client = password_login("supervisor_a")
    response = client.post("/admin/logout/")
    assert response.status_code == 200
    assert SESSION_KEY not in client.session


# --- Verifying ---------------------------------------------------------------------


def test_the_right_code_opens_the_screens_and_the_wrong_one_does_not(supervisor_a):
    device = device_for(supervisor_a)
    client = password_login("supervisor_a")
    right = totp_code(device)
    wrong = f"{(int(right) + 1) % 1000000:06d}"

    response = client.post(VERIFY, {"token": wrong, "next": "/approvals/"})
    assert response.status_code == 200
    assert "not accepted" in response.content.decode()
    assert sent_to(client.get("/approvals/"), VERIFY)

    time.sleep(1.1)  # django-otp throttles a device for a second after a wrong code
    session_before = client.session.session_key
    response = client.post(VERIFY, {"token": right, "next": "/approvals/"})
    assert response.status_code == 302 and response["Location"] == "/approvals/"
    assert client.session.session_key != session_before  # a new session key once verified
    assert client.get("/approvals/").status_code == 200
    assert client.get("/admin/").status_code == 200


def test_a_code_is_accepted_once(supervisor_a):
    """A code seen over a shoulder, typed again within its 30 seconds, is refused."""
    device = device_for(supervisor_a)
    code = totp_code(device)
    first = password_login("supervisor_a")
    assert first.post(VERIFY, {"token": code}).status_code == 302
    second = password_login("supervisor_a")
    assert second.post(VERIFY, {"token": code}).status_code == 200
    assert sent_to(second.get("/admin/"), VERIFY)


def test_verify_never_redirects_off_site(supervisor_a):
    device = device_for(supervisor_a)
    client = password_login("supervisor_a")
    response = client.post(VERIFY, {"token": totp_code(device), "next": "https://evil.example/"})
    assert response["Location"] == "/admin/"


def test_a_backup_code_works_once(supervisor_a):
    device_for(supervisor_a)
    codes = backup_codes_issue(user=supervisor_a)
    assert len(set(codes)) == 10

    client = password_login("supervisor_a")
    assert client.post(VERIFY, {"token": codes[0]}).status_code == 302
    assert client.get("/admin/").status_code == 200
    assert not StaticToken.objects.filter(token=codes[0]).exists()

    again = password_login("supervisor_a")
    response = again.post(VERIFY, {"token": codes[0]})
    assert response.status_code == 200
    assert sent_to(again.get("/admin/"), VERIFY)
    # The other codes still work (once django-otp's one-second lock after a wrong code is over).
    time.sleep(1.1)
    assert again.post(VERIFY, {"token": codes[1]}).status_code == 302


# --- Enrolling ------------------------------------------------------------------------


def test_enrolment_shows_a_qr_code_and_takes_a_code_then_shows_backup_codes_once(supervisor_a):
    client = password_login("supervisor_a")
    response = client.get(ENROL + "?next=/approvals/")
    page = response.content.decode()
    assert response.status_code == 200
    assert 'src="/account/second-factor/enrol/qr.svg"' in page
    key = client.session[PENDING_KEY]

    qr = client.get(QR)
    assert qr["Content-Type"] == "image/svg+xml"
    assert "no-store" in qr["Cache-Control"]  # the key is a secret: never cached
    assert qr.content.startswith(b"<?xml") or qr.content.startswith(b"<svg")

    totp = TOTP(bytes.fromhex(key))
    wrong = f"{(totp.token() + 1) % 1000000:06d}"
    response = client.post(ENROL, {"token": wrong, "next": "/approvals/"})
    assert response.status_code == 200
    assert not TOTPDevice.objects.filter(user=supervisor_a).exists()

    response = client.post(ENROL, {"token": f"{totp.token():06d}", "next": "/approvals/"})
    assert sent_to(response, BACKUP)
    device = TOTPDevice.objects.get(user=supervisor_a)
    assert device.confirmed and device.key == key
    shown = client.get(response["Location"]).content.decode()
    codes = list(StaticToken.objects.filter(device__user=supervisor_a).values_list("token", flat=True))
    assert len(codes) == 10 and all(code in shown for code in codes)
    assert all(code not in client.get(BACKUP).content.decode() for code in codes)  # shown once
    assert client.get("/approvals/").status_code == 200


def test_a_second_authenticator_is_not_added_over_a_working_one(supervisor_a):
    """A stolen password and a verified session must not be enough to add the thief's phone."""
    device = device_for(supervisor_a)
    client = password_login("supervisor_a")
    assert sent_to(client.get(ENROL), VERIFY)
    client.post(VERIFY, {"token": totp_code(device)})
    page = client.get(ENROL).content.decode()
    assert 'id="two-factor-status"' in page
    assert client.get(QR).status_code == 404
    assert TOTPDevice.objects.filter(user=supervisor_a).count() == 1


def test_an_agent_may_enrol_voluntarily(agent_a):
    client = password_login("agent_a")
    client.get(ENROL)
    totp = TOTP(bytes.fromhex(client.session[PENDING_KEY]))
    assert sent_to(client.post(ENROL, {"token": f"{totp.token():06d}"}), BACKUP)
    assert TOTPDevice.objects.filter(user=agent_a, confirmed=True).exists()


# --- The four-eyes reset -----------------------------------------------------------------


def test_a_reset_needs_two_administrators_and_retires_the_devices(admin_user, second_admin, supervisor_a):
    device = device_for(supervisor_a)
    backup_codes_issue(user=supervisor_a)
    client = password_login("supervisor_a")
    client.post(VERIFY, {"token": totp_code(device)})
    assert client.get("/approvals/").status_code == 200

    reset = second_factor_reset_request(user=supervisor_a, actor=admin_user, reason="Phone lost, seen in person")
    assert TOTPDevice.objects.filter(user=supervisor_a).exists()  # nothing happens on the request alone
    reset = second_factor_reset_approve(reset=reset, actor=second_admin, reason="Checked the ticket")

    assert not TOTPDevice.objects.filter(user=supervisor_a).exists()
    assert not StaticDevice.objects.filter(user=supervisor_a).exists()
    assert {d["type"] for d in reset.devices_removed} == {"otp_totp.totpdevice", "otp_static.staticdevice"}
    assert reset.sessions_ended == 1
    assert reset.requested_by == admin_user and reset.approved_by == second_admin
    history = list(reset.history.order_by("history_id"))
    assert [(h.history_user, h.history_change_reason) for h in history] == [
        (admin_user, "Phone lost, seen in person"),
        (second_admin, "Checked the ticket"),
    ]
    # The old session is over; at the next sign-in they enrol anew.
    response = client.get("/approvals/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert sent_to(password_login("supervisor_a").get("/admin/"), ENROL)


def test_the_requester_cannot_approve_their_own_request(admin_user, supervisor_a):
    device_for(supervisor_a)
    reset = second_factor_reset_request(user=supervisor_a, actor=admin_user, reason="Phone lost")
    with pytest.raises(PermissionDenied):
        second_factor_reset_approve(reset=reset, actor=admin_user, reason="me again")
    assert TOTPDevice.objects.filter(user=supervisor_a).exists()
    assert RefusedAttempt.objects.filter(service="second_factor_reset_approve", actor=admin_user).exists()


def test_nobody_resets_their_own_second_factor(admin_user, second_admin, third_admin):
    with pytest.raises(PermissionDenied):
        second_factor_reset_request(user=second_admin, actor=second_admin, reason="lost my phone")
    reset = second_factor_reset_request(user=second_admin, actor=third_admin, reason="lost phone")
    with pytest.raises(PermissionDenied):
        second_factor_reset_approve(reset=reset, actor=second_admin, reason="approving my own")
    second_factor_reset_approve(reset=reset, actor=admin_user, reason="seen in person")


def test_only_administrators_reset(admin_user, supervisor_a, supervisor_a2, auditor):
    with pytest.raises(PermissionDenied):
        second_factor_reset_request(user=supervisor_a2, actor=supervisor_a, reason="colleague lost phone")
    reset = second_factor_reset_request(user=supervisor_a2, actor=admin_user, reason="lost phone")
    with pytest.raises(PermissionDenied):
        second_factor_reset_approve(reset=reset, actor=auditor, reason="auditor approves")
    assert SecondFactorReset.objects.get(pk=reset.pk).is_open


def test_only_a_superuser_resets_a_superuser(admin_user, second_admin, third_admin):
    with pytest.raises(PermissionDenied):
        second_factor_reset_request(user=admin_user, actor=second_admin, reason="lost phone")


def test_one_open_reset_per_user_and_approved_once(admin_user, second_admin, third_admin, supervisor_a):
    reset = second_factor_reset_request(user=supervisor_a, actor=admin_user, reason="lost phone")
    with pytest.raises(ValidationError):
        second_factor_reset_request(user=supervisor_a, actor=third_admin, reason="lost phone too")
    second_factor_reset_approve(reset=reset, actor=second_admin, reason="ok")
    with pytest.raises(ValidationError):
        second_factor_reset_approve(reset=reset, actor=third_admin, reason="ok again")


def test_the_database_holds_the_four_eyes(admin_user, second_admin, supervisor_a):
    reset = second_factor_reset_request(user=supervisor_a, actor=admin_user, reason="lost phone")
    with pytest.raises(IntegrityError), transaction.atomic():
        SecondFactorReset.objects.filter(pk=reset.pk).update(approved_by=admin_user, approved_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        SecondFactorReset.objects.filter(pk=reset.pk).update(approved_by=supervisor_a, approved_at=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        SecondFactorReset.objects.filter(pk=reset.pk).update(requested_by=supervisor_a)
    SecondFactorReset.objects.filter(pk=reset.pk).update(approved_by=second_admin, approved_at=timezone.now())


def test_resets_through_the_employee_admin(client, admin_user, second_admin, supervisor_a):
    device_for(supervisor_a)
    employee = supervisor_a.employee
    url = "/admin/staff/employee/"
    action = {"_selected_action": [employee.pk], "reason": "Phone lost, seen in person"}
    client.force_login(admin_user)
    client.post(url, {**action, "action": "request_second_factor_reset"})
    # The same administrator cannot approve it.
    client.post(url, {**action, "action": "approve_second_factor_reset"})
    assert TOTPDevice.objects.filter(user=supervisor_a).exists()
    other = Client()
    other.force_login(second_admin)
    other.post(url, {**action, "action": "approve_second_factor_reset"})
    assert not TOTPDevice.objects.filter(user=supervisor_a).exists()
    reset = SecondFactorReset.objects.get(user=supervisor_a)
    assert (reset.requested_by, reset.approved_by) == (admin_user, second_admin)
    assert other.get(f"/admin/staff/secondfactorreset/{reset.pk}/change/").status_code == 200


def test_device_admins_are_not_registered(client, admin_user):
    """Adding or deleting a device by hand would go around the four-eyes reset."""
    client.force_login(admin_user)
    assert client.get("/admin/otp_totp/totpdevice/").status_code == 404
    assert client.get("/admin/otp_static/staticdevice/").status_code == 404


# --- The demo -------------------------------------------------------------------------


def test_otp_code_refuses_without_debug(settings, supervisor_a):
    settings.DEBUG = False
    device_for(supervisor_a)
    with pytest.raises(CommandError):
        call_command("otp_code", "supervisor_a")


def test_otp_code_prints_a_code_that_signs_in(settings, supervisor_a):
    settings.DEBUG = True
    device_for(supervisor_a)
    out = StringIO()
    call_command("otp_code", "supervisor_a", stdout=out)
    client = password_login("supervisor_a")
    assert client.post(VERIFY, {"token": out.getvalue().strip()}).status_code == 302
    assert client.get("/admin/").status_code == 200
