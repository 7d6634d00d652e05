"""The access log: sign-ins, failed sign-ins (unknown names and django-axes lockouts
included) and sign-outs, each with who, from where, with what, in which request, on
the chain like every history record."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from audit.chain import verify_table
from audit.choices import AccessKind
from audit.models import AccessEvent
from staff.personas import demo_password

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
LOGOUT = "/admin/logout/"
AGENT = "Mozilla/5.0 (X11; Linux x86_64) BackOffice-Test"
User = get_user_model()


def browser() -> Client:
    return Client(HTTP_USER_AGENT=AGENT, REMOTE_ADDR="10.1.2.3")


def sign_in(client: Client, username: str, password: str):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def events() -> list[AccessEvent]:
    return list(AccessEvent.objects.order_by("pk"))


def test_a_sign_in_is_recorded_with_who_where_what_and_the_request(agent_a):
    response = sign_in(browser(), "agent_a", demo_password())
    assert response.status_code == 302 and response.url == "/admin/"
    [event] = events()
    assert (event.kind, event.user, event.username) == (AccessKind.LOGIN, agent_a, "agent_a")
    assert (event.ip_address, event.user_agent) == ("10.1.2.3", AGENT)
    assert event.history_request_id == response["X-Request-ID"]
    assert len(event.history_request_id) == 32
    assert verify_table(AccessEvent)[1] is None


def test_a_sign_in_writes_no_user_history(agent_a):
    """last_login is the access log's business, not a change to the account."""
    before = User.history.filter(id=agent_a.pk).count()
    sign_in(browser(), "agent_a", demo_password())
    agent_a.refresh_from_db()
    assert agent_a.last_login is not None
    assert User.history.filter(id=agent_a.pk).count() == before


def test_a_wrong_password_is_recorded_as_failed_with_the_user(agent_a):
    response = sign_in(browser(), "agent_a", "not-the-password")
    assert response.status_code == 200  # the form again
    [event] = events()
    assert (event.kind, event.user, event.username) == (AccessKind.LOGIN_FAILED, agent_a, "agent_a")
    assert (event.ip_address, event.user_agent) == ("10.1.2.3", AGENT)
    assert event.history_request_id == response["X-Request-ID"]


def test_an_unknown_user_name_is_recorded_as_typed(agent_a):
    response = sign_in(browser(), "agent_zz' OR 1=1", "whatever")
    assert response.status_code == 200
    [event] = events()
    assert (event.kind, event.user, event.username) == (AccessKind.LOGIN_FAILED, None, "agent_zz' OR 1=1")
    assert event.history_request_id == response["X-Request-ID"]


def test_a_sign_out_is_recorded(agent_a):
    client = browser()
    sign_in(client, "agent_a", demo_password())
    response = client.post(LOGOUT)
    assert response.status_code == 200
    login, logout = events()
    assert (logout.kind, logout.user, logout.username) == (AccessKind.LOGOUT, agent_a, "agent_a")
    assert logout.history_request_id == response["X-Request-ID"] != login.history_request_id


def test_a_sign_out_without_a_session_records_nothing(db):
    response = browser().post(LOGOUT)
    assert response.status_code in (200, 302)
    assert events() == []


def test_a_lockout_keeps_being_recorded_as_failed(settings, agent_a):
    """django-axes refuses the account after the limit; each refused try is still on the log,
    the right password included (it is refused too)."""
    settings.AXES_FAILURE_LIMIT = 3
    client = browser()
    for _ in range(3):
        sign_in(client, "agent_a", "not-the-password")
    locked = sign_in(client, "agent_a", demo_password())
    assert locked.status_code == 429  # django-axes' lockout answer
    assert "_auth_user_id" not in client.session
    kinds = [(e.kind, e.user_id, e.username) for e in events()]
    assert kinds == [(AccessKind.LOGIN_FAILED, agent_a.pk, "agent_a")] * 4
    assert events()[-1].history_request_id == locked["X-Request-ID"]
    assert verify_table(AccessEvent)[1] is None


def test_below_the_limit_the_right_password_still_signs_in(settings, agent_a):
    settings.AXES_FAILURE_LIMIT = 3
    client = browser()
    for _ in range(2):
        sign_in(client, "agent_a", "not-the-password")
    response = sign_in(client, "agent_a", demo_password())
    assert response.status_code == 302
    assert [e.kind for e in events()] == [AccessKind.LOGIN_FAILED, AccessKind.LOGIN_FAILED, AccessKind.LOGIN]


def test_the_access_log_is_one_chain(agent_a, agent_b):
    for username, password in [("agent_a", demo_password()), ("agent_b", "wrong"), ("nobody", "x")]:
        sign_in(browser(), username, password)
    records = events()
    assert len(records) == 3
    for before, record in zip(records, records[1:], strict=False):
        assert record.prev_hash == before.record_hash
    assert verify_table(AccessEvent) == (3, None)
