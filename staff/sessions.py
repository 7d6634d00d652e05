"""How long a signed-in session lasts: an idle limit and an absolute one.

A session left open on a branch counter is an account anyone walking past can
use. The sign-in stamps the session (``user_logged_in``, so ``force_login`` in
tests counts as a sign-in too); every request then checks, in
``staff.middleware.SessionTimeoutMiddleware``, how long since the sign-in and
since the last request, and ends a session past either limit with a message
saying which, on the access log as a timed-out session.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

SIGNED_IN_AT = "staff_signed_in_at"
LAST_SEEN_AT = "staff_last_seen_at"
# Seconds: the last-activity stamp is rewritten at most this often, so a page is
# not a session write each time (and pinned query counts stay put); an idle limit
# in minutes loses nothing by it.
ACTIVITY_RESOLUTION = 60

IDLE, ABSOLUTE = "idle", "absolute"


def idle_limit() -> float:
    return settings.SESSION_IDLE_TIMEOUT_MINUTES * 60


def absolute_limit() -> float:
    return settings.SESSION_ABSOLUTE_TIMEOUT_HOURS * 3600


@receiver(user_logged_in, dispatch_uid="staff_session_stamp")
def _stamp_sign_in(sender, request, user, **kwargs) -> None:
    if request is None or not hasattr(request, "session"):
        return
    now = time.time()
    request.session[SIGNED_IN_AT] = now
    request.session[LAST_SEEN_AT] = now


def expired(session, *, now: float | None = None) -> str | None:
    """Which limit the session is past (IDLE or ABSOLUTE), or None while it may go on.

    A session without the stamps predates them: it is treated as past the absolute
    limit, as nobody can say when it began.
    """
    now = time.time() if now is None else now
    signed_in_at = session.get(SIGNED_IN_AT)
    last_seen_at = session.get(LAST_SEEN_AT)
    if not isinstance(signed_in_at, int | float) or not isinstance(last_seen_at, int | float):
        return ABSOLUTE
    if now - signed_in_at >= absolute_limit():
        return ABSOLUTE
    if now - last_seen_at >= idle_limit():
        return IDLE
    return None


def touch(session, *, now: float | None = None) -> None:
    """The session was used now (written only when the stamp is older than the resolution)."""
    now = time.time() if now is None else now
    if now - session.get(LAST_SEEN_AT, 0) >= ACTIVITY_RESOLUTION:
        session[LAST_SEEN_AT] = now


def expiry_message(which: str) -> str:
    if which == IDLE:
        minutes = settings.SESSION_IDLE_TIMEOUT_MINUTES
        return f"You were signed out after {minutes:g} minutes without activity. Sign in again to go on."
    hours = settings.SESSION_ABSOLUTE_TIMEOUT_HOURS
    return f"You were signed out: a session lasts at most {hours:g} hours. Sign in again to go on."
