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
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django.utils.http import urlencode

from audit.choices import AccessKind
from audit.signals import record_access

from . import devices, sessions
from .selectors import is_working
from .twofactor import has_second_factor, second_factor_required


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


# Besides the second-factor pages themselves (marked by ``second_factor_exempt``):
# signing out stays possible for someone who cannot pass.
_EXEMPT_VIEW_NAMES = frozenset({"admin:logout"})


def second_factor_exempt(view):
    """Mark a view an unverified session may reach (the verify and enrolment pages)."""
    view.second_factor_exempt = True
    return view


class SecondFactorRequiredMiddleware:
    """Until its session passed the second factor, a privileged account (staff.twofactor)
    reaches no screen and no admin page: it is sent to verify a code, or to enrol a device
    when it has none. Agents without one stay password-only unless they enrolled.

    After ``OTPMiddleware`` (``request.user.is_verified``) and the URL resolver, hence
    ``process_view``: the exemptions are views, not path prefixes that could drift.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        if getattr(view_func, "second_factor_exempt", False):
            return None
        match = getattr(request, "resolver_match", None)
        if match is not None and match.view_name in _EXEMPT_VIEW_NAMES:
            return None
        enrolled = None
        if not second_factor_required(user):
            enrolled = has_second_factor(user)
            if not enrolled:
                return None
        if enrolled is None:
            enrolled = has_second_factor(user)
        url = reverse("staff:two_factor_verify" if enrolled else "staff:two_factor_enrol")
        if request.method == "GET":
            url = f"{url}?{urlencode({'next': request.get_full_path()})}"
        return redirect(url)
