"""Defence in depth: a session whose account may no longer work is ended at once.

The suspension services end the sessions they know of; this ends the rest,
whatever changed the account (a raw database write included), on its next
request. The sign-in backend (staff.backends) already refuses to load such an
account from its session, so ``request.user`` is anonymous then; the session
itself is ended here, and the sign-out goes on the access log.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, get_user_model, logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseRedirect
from django.shortcuts import resolve_url

from audit.choices import AccessKind
from audit.signals import record_access

from . import devices, sessions
from .selectors import is_working


class SignOutSuspendedMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if SESSION_KEY in request.session:
            user = request.user
            if not user.is_authenticated or not is_working(user):
                if not user.is_authenticated:
                    stale = get_user_model()._default_manager.filter(pk=request.session[SESSION_KEY]).first()
                    request.user = stale or user
                logout(request)
        return self.get_response(request)


class SessionTimeoutMiddleware:
    """Ends a session past its idle or absolute limit (staff.sessions), and says why.

    The expiry goes on the access log (kind "timed out") before the sign-out, then
    the browser goes to the sign-in page, back to where it was afterwards for a
    page it was reading; a form it was sending is not replayed.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            which = sessions.expired(request.session)
            if which is not None:
                return self._sign_out(request, which)
            sessions.touch(request.session)
        return self.get_response(request)

    def _sign_out(self, request, which: str):
        kind = AccessKind.EXPIRED_IDLE if which == sessions.IDLE else AccessKind.EXPIRED_MAX
        record_access(kind=kind, request=request, user=request.user)
        logout(request)
        messages.warning(request, sessions.expiry_message(which))
        login_url = resolve_url(settings.LOGIN_URL)
        if request.path == login_url:
            return self.get_response(request)
        next_url = request.get_full_path() if request.method in ("GET", "HEAD") else ""
        return redirect_to_login(next_url, login_url) if next_url else HttpResponseRedirect(login_url)


class DeviceCookieMiddleware:
    """Writes the device cookie a sign-in issued (staff.devices) on the response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        devices.set_device_cookie(request, response)
        return response
