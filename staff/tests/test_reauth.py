"""Approving, suspending and exporting ask for the password again once the last
check is older than REAUTH_MAX_AGE_MINUTES (staff.reauth): the stale request is
not performed, the user confirms and is sent back to a local page, and sends it
again. A wrong password there is a failed sign-in (access log, lockout)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audit.choices import AccessKind
from audit.models import AccessEvent
from staff.models import Suspension
from staff.personas import demo_password

pytestmark = pytest.mark.django_db

CONFIRM = "/account/confirm/"
CHANGELIST = "/admin/staff/employee/"
NOWHERE = 999999

# Every view that approves, suspends or exports, with who may reach it and how.
GUARDED = [
    ("post", "numbers:transfer_approve", [NOWHERE], "supervisor_a"),
    ("post", "numbers:withdrawal_approve", [NOWHERE], "supervisor_a"),
    ("post", "complaints:restoration_approve", [NOWHERE, NOWHERE], "supervisor_a"),
    ("post", "complaints:offer_approve", [NOWHERE, NOWHERE], "supervisor_a"),
    ("post", "audit:employee-suspend", [NOWHERE], "auditor"),
    ("post", "audit:case-suspend", [NOWHERE], "auditor"),
    ("get", "audit:export-csv", [], "auditor"),
    ("get", "audit:export-pdf", [], "auditor"),
    ("get", "admin:numbers_subscriberchangerequest_approve", [NOWHERE], "supervisor_a"),
    ("post", "admin:numbers_subscriberchangerequest_approve", [NOWHERE], "supervisor_a"),
    ("get", "admin:numbers_identityexport_approve", [NOWHERE], "admin_user"),
]


def stale(minutes: float = 6):
    """Later than REAUTH_MAX_AGE_MINUTES (5) after the sign-in, well within the idle limit."""
    return time_machine.travel(timezone.now() + timedelta(minutes=minutes), tick=False)


def messages_text(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def next_of(url: str) -> str:
    return parse_qs(urlparse(url).query)["next"][0]


def confirm(client, password: str, next_url: str = "/admin/"):
    return client.post(CONFIRM, {"password": password, "next": next_url})


@pytest.mark.parametrize(("method", "name", "args", "persona"), GUARDED)
def test_a_stale_check_is_sent_to_confirm_first(request, client, method, name, args, persona):
    client.force_login(request.getfixturevalue(persona))
    url = reverse(name, args=args)
    with stale():
        response = getattr(client, method)(url, HTTP_REFERER="http://testserver/admin/")
    assert response.status_code == 302 and response.url.startswith(CONFIRM)
    # A page to come back to: the URL itself for a GET, the page the form was on for a POST.
    assert next_of(response.url) == (url if method == "get" else "/admin/")


@pytest.mark.parametrize(("method", "name", "args", "persona"), GUARDED)
def test_a_fresh_check_lets_the_view_answer(request, client, method, name, args, persona):
    """Signed in (or confirmed) within REAUTH_MAX_AGE_MINUTES: the view itself answers
    (here: no such object, a refusal, or the form), never the confirmation page."""
    client.force_login(request.getfixturevalue(persona))
    url = reverse(name, args=args)
    with stale(minutes=4):
        response = getattr(client, method)(url)
    assert not (response.status_code == 302 and response.url.startswith(CONFIRM))


def test_a_stale_suspension_is_not_done_until_confirmed_and_sent_again(client, admin_user, agent_b):
    client.force_login(admin_user)
    action = {"action": "suspend_selected", "_selected_action": [agent_b.employee.pk], "reason": "Pending review"}
    with stale():
        response = client.post(CHANGELIST, action)
        assert response.status_code == 302 and next_of(response.url) == CHANGELIST
        assert not Suspension.objects.exists()
        page = client.get(response.url)
        assert page.status_code == 200 and 'id="reauth-form"' in page.content.decode()
        back = confirm(client, demo_password(), CHANGELIST)
        assert back.status_code == 302 and back.url == CHANGELIST
        assert "Confirmed. Send your action again." in messages_text(back)
        assert not Suspension.objects.exists()  # the POST was not replayed
        client.post(CHANGELIST, action)
    assert Suspension.objects.get(user=agent_b).suspended_by == admin_user
    kinds = set(AccessEvent.objects.filter(user=admin_user).values_list("kind", flat=True))
    assert AccessKind.REAUTH in kinds


def test_a_stale_export_downloads_after_the_confirmation(client, auditor, agent_b):
    client.force_login(auditor)
    url = reverse("audit:export-csv") + f"?employee={agent_b.pk}"
    with stale():
        asked = client.get(url)
        assert asked.status_code == 302 and next_of(asked.url) == url
        back = confirm(client, demo_password(), url)
        assert back.status_code == 302 and back.url == url
        export = client.get(url)
    assert export.status_code == 200 and export["Content-Type"].startswith("text/csv")


def test_the_confirmation_lasts_its_max_age_then_is_asked_again(client, auditor, agent_b, settings):
    settings.REAUTH_MAX_AGE_MINUTES = 2
    client.force_login(auditor)
    url = reverse("audit:export-csv") + f"?employee={agent_b.pk}"
    start = timezone.now()
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        assert client.get(url).status_code == 200
    with time_machine.travel(start + timedelta(minutes=3), tick=False):
        assert client.get(url).status_code == 302
        confirm(client, demo_password())
    with time_machine.travel(start + timedelta(minutes=4), tick=False):
        assert client.get(url).status_code == 200
    with time_machine.travel(start + timedelta(minutes=5, seconds=30), tick=False):
        assert client.get(url).status_code == 302


def test_a_wrong_password_is_refused_logged_and_leaves_the_check_stale(client, auditor, agent_b):
    client.force_login(auditor)
    url = reverse("audit:export-csv") + f"?employee={agent_b.pk}"
    with stale():
        refused = confirm(client, "not-the-password", url)
        assert refused.status_code == 200
        assert "That is not your password" in refused.content.decode()
        assert client.get(url).status_code == 302
    failed = AccessEvent.objects.filter(kind=AccessKind.LOGIN_FAILED, user=auditor)
    assert failed.count() == 1


def test_an_empty_confirmation_is_refused(client, auditor):
    client.force_login(auditor)
    with stale():
        refused = confirm(client, "")
    assert refused.status_code == 200 and "Type your password." in refused.content.decode()


def test_wrong_passwords_at_the_confirmation_count_toward_the_lockout(client, auditor, settings):
    settings.AXES_FAILURE_LIMIT = 3
    client.force_login(auditor)
    with stale():
        for _ in range(2):
            assert confirm(client, "not-the-password").status_code == 200
        locked = confirm(client, "not-the-password")
        assert locked.status_code == 429  # django-axes' lockout answer
        assert "_auth_user_id" not in client.session  # the session is ended too
        # And the right password no longer signs in from this (untrusted) client.
        again = Client()
        refused = again.post("/admin/login/", {"username": "auditor", "password": demo_password()})
    assert refused.status_code == 429


def test_only_a_local_next_is_followed(client, auditor):
    client.force_login(auditor)
    with stale():
        response = confirm(client, demo_password(), "https://evil.example/phish")
    assert response.status_code == 302 and response.url == "/admin/"


def test_the_confirmation_page_needs_a_signed_in_user(client):
    response = client.get(CONFIRM + "?next=/admin/")
    assert response.status_code == 302 and response.url.startswith("/admin/login/")
