"""Sessions end after SESSION_IDLE_TIMEOUT_MINUTES without a request and after
SESSION_ABSOLUTE_TIMEOUT_HOURS in any case, with a message saying why, on the
access log; a form sent on an ended session is not performed."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.choices import AccessKind
from audit.models import AccessEvent, DisciplinaryCase
from staff import sessions
from staff.personas import demo_password
from staff.twofactor import totp_code

pytestmark = pytest.mark.django_db

PAGE = "/admin/numbers/mobilenumber/"
LOGIN = "/admin/login/"


def signed_in(client):
    return "_auth_user_id" in client.session


def messages_text(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def later(**delta):
    return time_machine.travel(timezone.now() + timedelta(**delta), tick=False)


def test_a_session_idle_past_the_limit_is_ended_with_a_message_and_logged(client, supervisor_a):
    client.force_login(supervisor_a)
    with later(minutes=31):
        response = client.get(PAGE)
        assert response.status_code == 302
        assert response.url == f"{LOGIN}?next={PAGE}"
        assert not signed_in(client)
        assert "after 30 minutes without activity" in " ".join(messages_text(response))
        page = client.get(response.url)
        assert "after 30 minutes without activity" in page.content.decode()
    kinds = list(AccessEvent.objects.filter(user=supervisor_a).order_by("pk").values_list("kind", flat=True))
    assert kinds == [AccessKind.LOGIN, AccessKind.EXPIRED_IDLE, AccessKind.LOGOUT]


def test_a_session_used_within_the_idle_limit_goes_on(client, supervisor_a):
    client.force_login(supervisor_a)
    with later(minutes=29):
        assert client.get(PAGE).status_code == 200
    # Each request counts as activity: 29 minutes after the last one is still fine.
    with later(minutes=29 + 29):
        assert client.get(PAGE).status_code == 200
    assert signed_in(client)


def test_the_idle_limit_is_a_setting(client, supervisor_a, settings):
    settings.SESSION_IDLE_TIMEOUT_MINUTES = 5
    client.force_login(supervisor_a)
    with later(minutes=4):
        assert client.get(PAGE).status_code == 200
    with later(minutes=4 + 6):
        assert client.get(PAGE).status_code == 302
    assert not signed_in(client)


def test_a_busy_session_still_ends_at_the_absolute_limit(client, supervisor_a):
    client.force_login(supervisor_a)
    start = timezone.now()
    # A request every 25 minutes: never idle, yet twelve hours is the end.
    for step in range(1, 29):
        with time_machine.travel(start + timedelta(minutes=25 * step), tick=False):
            assert client.get(PAGE).status_code == 200, step  # up to 11 h 40
    with time_machine.travel(start + timedelta(hours=12, minutes=1), tick=False):
        response = client.get(PAGE)
    assert response.status_code == 302 and response.url.startswith(LOGIN)
    assert "a session lasts at most 12 hours" in " ".join(messages_text(response))
    assert AccessEvent.objects.filter(user=supervisor_a, kind=AccessKind.EXPIRED_MAX).count() == 1


def test_the_absolute_limit_is_a_setting(client, supervisor_a, settings):
    settings.SESSION_ABSOLUTE_TIMEOUT_HOURS = 1
    client.force_login(supervisor_a)
    start = timezone.now()
    for minutes in (20, 40, 59):
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            assert client.get(PAGE).status_code == 200
    with time_machine.travel(start + timedelta(minutes=61), tick=False):
        assert client.get(PAGE).status_code == 302
    assert not signed_in(client)


def test_a_form_sent_on_an_ended_session_is_not_performed(client, auditor, agent_b):
    client.force_login(auditor)
    url = reverse("audit:employee-open-case", args=[agent_b.pk])
    with later(minutes=31):
        response = client.post(url, {"case-summary": "Look into it", "case-reason": "Flags"})
    assert response.status_code == 302 and response.url == LOGIN  # no way back to a POST-only URL
    assert not DisciplinaryCase.objects.exists()


def test_a_session_without_the_stamps_is_ended(client, supervisor_a):
    """A session from before the limits (no sign-in time) cannot be said to be within them."""
    client.force_login(supervisor_a)
    session = client.session
    del session[sessions.SIGNED_IN_AT]
    session.save()
    assert client.get(PAGE).status_code == 302
    assert not signed_in(client)


def test_signing_in_again_after_the_timeout_works(client, supervisor_a):
    client.force_login(supervisor_a)
    with later(minutes=45):
        assert client.get(PAGE).status_code == 302
        response = client.post(LOGIN, {"username": "supervisor_a", "password": demo_password(), "next": PAGE})
        assert response.status_code == 302 and response.url == PAGE
        # A supervisor passes the second factor again: the new session starts unverified.
        response = client.get(PAGE)
        assert response.status_code == 302 and response.url.startswith(reverse("staff:two_factor_verify"))
        device = TOTPDevice.objects.get(user=supervisor_a, confirmed=True)
        response = client.post(response.url, {"token": totp_code(device)})
        assert response.status_code == 302 and response.url == PAGE
        assert client.get(PAGE).status_code == 200


def test_the_same_form_on_a_live_session_is_performed(client, auditor, agent_b):
    """The control for the test above: the form it sends does open a case."""
    client.force_login(auditor)
    url = reverse("audit:employee-open-case", args=[agent_b.pk])
    with later(minutes=29):
        client.post(url, {"case-summary": "Look into it", "case-reason": "Flags"})
    assert DisciplinaryCase.objects.filter(employee=agent_b).count() == 1
