"""Device cookies: a lockout that stops guessing without letting a colleague lock others out.

django-axes locked (user name, address) after five failures, so a colleague
behind the branch's shared NAT could lock ``supervisor_b`` out for an hour by
typing five wrong passwords. Following OWASP's "Slow Down Online Guessing
Attacks with Device Cookies":

- a successful sign-in leaves a signed, HttpOnly cookie in the browser naming
  the user and a random nonce (a browser shared at a counter keeps one entry for
  each of its last few users);
- a client presenting a valid device cookie for the user name it types has a
  failure counter of its own (user name + nonce): others' failures never lock it;
- every other client (no cookie, a forged one, or one for another user) counts
  toward one lockout of the untrusted clients of that user name, from any address,
  so guessing stays stopped wherever it comes from.

The counting stays django-axes': ``axes_username`` (``AXES_USERNAME_CALLABLE``)
gives the key it counts failures under, and ``AXES_LOCKOUT_PARAMETERS`` is the
user name alone. A real user locked out on a new device signs in from her usual
one, or waits for the cool-off (or an administrator resets the attempts).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.core import signing
from django.dispatch import receiver

COOKIE_NAME = "staff_device"
SALT = "staff.devices.cookie"
# A browser at a shared counter remembers this many users; the oldest goes first.
MAX_USERS_PER_BROWSER = 5
# Separates the user name from the nonce in django-axes' key ("#" is not allowed in
# a Django user name, so no user name can pose as another's device key).
DEVICE_MARK = "#device:"


def _max_age() -> int:
    return settings.DEVICE_COOKIE_AGE_DAYS * 24 * 3600


def read_devices(request) -> dict[str, str]:
    """The browser's device entries {user name: nonce}, or {} if absent, forged or stale."""
    raw = getattr(request, "COOKIES", {}).get(COOKIE_NAME)
    if not raw:
        return {}
    try:
        data = signing.loads(raw, salt=SALT, max_age=_max_age())
    except signing.BadSignature:
        return {}
    if not isinstance(data, dict):
        return {}
    return {name: nonce for name, nonce in data.items() if isinstance(name, str) and isinstance(nonce, str) and nonce}


def trusted_nonce(request, username: str) -> str | None:
    """The nonce of this browser's device cookie for ``username``, if it holds a valid one."""
    return read_devices(request).get(username)


def axes_username(request, credentials: dict | None = None) -> str | None:
    """AXES_USERNAME_CALLABLE: the key django-axes counts failures under.

    The user name as typed for untrusted clients (all of them share one lockout);
    the user name and the device nonce for a browser with that user's device cookie.
    """
    field = settings.AXES_USERNAME_FORM_FIELD
    if credentials:
        username = credentials.get(field)
    elif request is not None:
        username = getattr(request, "POST", {}).get(field)
    else:
        username = None
    if not username or request is None:
        return username
    nonce = trusted_nonce(request, username)
    return f"{username}{DEVICE_MARK}{nonce}" if nonce else username


@receiver(user_logged_in, dispatch_uid="staff_device_cookie")
def _issue_device_cookie(sender, request, user, **kwargs) -> None:
    """A password check passed in this browser: (re)issue its device cookie for the user.

    Only marked on the request here; ``DeviceCookieMiddleware`` writes the cookie
    on the response. The nonce is new at each sign-in.
    """
    if request is None:
        return
    devices = read_devices(request)
    username = user.get_username()
    devices.pop(username, None)
    devices[username] = secrets.token_urlsafe(16)
    while len(devices) > MAX_USERS_PER_BROWSER:
        devices.pop(next(iter(devices)))
    request._staff_device_cookie = signing.dumps(devices, salt=SALT, compress=True)


def set_device_cookie(request, response) -> None:
    value = getattr(request, "_staff_device_cookie", None)
    if value is None:
        return
    response.set_cookie(
        COOKIE_NAME,
        value,
        max_age=_max_age(),
        httponly=True,
        secure=settings.SESSION_COOKIE_SECURE,
        samesite="Lax",
    )
