"""Re-authentication ("sudo mode") before approving, suspending or exporting.

A session left open, or stolen, must not be enough to move a number, suspend a
colleague or carry a dossier away: those actions ask for the password again (or
a current second-factor code, when django-otp is installed) once the last check
is older than ``REAUTH_MAX_AGE_MINUTES``. The sign-in itself is a check
(``user_logged_in``), so ``force_login`` in tests counts as a fresh one.

``reauth_required`` wraps a view, ``reauth_required_action`` an admin action.
A stale request is not performed: it goes to the confirmation page with a
``next`` URL (a page, never the POST itself), and the user sends the action
again once confirmed. A wrong password there is a failed sign-in: it is on the
access log and counts toward django-axes' lockout.
"""

from __future__ import annotations

import functools
import time
from urllib.parse import urlencode, urlsplit

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver
from django.http import HttpResponseRedirect
from django.shortcuts import redirect, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from audit.choices import AccessKind
from audit.signals import record_access
from backoffice.screens import render_screen

VERIFIED_AT = "staff_verified_at"


@receiver(user_logged_in, dispatch_uid="staff_reauth_stamp")
def _stamp_at_sign_in(sender, request, user, **kwargs) -> None:
    if request is not None and hasattr(request, "session"):
        stamp_verified(request)


def stamp_verified(request) -> None:
    request.session[VERIFIED_AT] = time.time()


def is_fresh(request) -> bool:
    """The password (or code) was checked in this session within REAUTH_MAX_AGE_MINUTES."""
    verified_at = request.session.get(VERIFIED_AT)
    if not isinstance(verified_at, int | float):
        return False
    return time.time() - verified_at < settings.REAUTH_MAX_AGE_MINUTES * 60


def _safe(request, url: str | None) -> str | None:
    """Only a local URL is followed after the confirmation (no open redirect)."""
    hosts = {request.get_host()}
    allowed = url_has_allowed_host_and_scheme(url, allowed_hosts=hosts, require_https=request.is_secure())
    return url if url and allowed else None


def _local(url: str | None) -> str | None:
    """The path and query of a URL already checked to be ours."""
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def ask(request, *, back: str | None = None) -> HttpResponseRedirect:
    """Send the user to the confirmation page; afterwards back to a page (never the POST)."""
    if back is None:
        if request.method in ("GET", "HEAD"):
            back = request.get_full_path()
        else:
            back = _local(_safe(request, request.META.get("HTTP_REFERER"))) or resolve_url(settings.LOGIN_REDIRECT_URL)
    if request.method not in ("GET", "HEAD"):
        messages.warning(request, "Nothing was done: confirm your password, then send it again.")
    return redirect(f"{reverse('staff:reauth')}?{urlencode({'next': back})}")


def reauth_required(view):
    """A view that approves, suspends or exports: a recent password check first."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_fresh(request):
            return ask(request)
        return view(request, *args, **kwargs)

    return wrapper


def reauth_required_action(action):
    """The same for an admin action: the changelist it was sent from is the page to go back to."""

    @functools.wraps(action)
    def wrapper(modeladmin, request, queryset):
        if not is_fresh(request):
            return ask(request, back=request.get_full_path())
        return action(modeladmin, request, queryset)

    return wrapper


def otp_available() -> bool:
    return apps.is_installed("django_otp")


class ReauthForm(forms.Form):
    password = forms.CharField(label="Password", required=False, strip=False, widget=forms.PasswordInput)
    code = forms.CharField(
        label="Or a code from your authenticator app",
        required=False,
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        if not otp_available():
            del self.fields["code"]

    def clean(self):
        data = super().clean()
        password, code = data.get("password"), (data.get("code") or "").strip()
        user = self.request.user
        if not password and not code:
            raise forms.ValidationError("Type your password.")
        if password:
            checked = authenticate(self.request, username=user.get_username(), password=password)
            if checked is not None and checked.pk == user.pk:
                return data
        elif code and not _locked(self.request, user):
            from django_otp import match_token  # optional: only when django-otp is installed

            if match_token(user, code) is not None:
                return data
            # A wrong code is a failed check like a wrong password (access log, lockout).
            user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=self.request)
        raise forms.ValidationError("That is not your password (or a current code). Nothing was done.")


def _locked(request, user) -> bool:
    allowed = AxesProxyHandler.is_allowed(request, {"username": user.get_username()})
    if not allowed:
        request.axes_locked_out = True
    return not allowed


@never_cache
@sensitive_post_parameters("password", "code")
@login_required
def reauth_view(request):
    """GET: the confirmation form; POST: check it and go back to ``next``."""
    next_url = _safe(request, request.POST.get("next") or request.GET.get("next")) or resolve_url(
        settings.LOGIN_REDIRECT_URL
    )
    form = ReauthForm(request.POST or None, request=request, initial={"next": next_url})
    if request.method == "POST":
        if form.is_valid():
            stamp_verified(request)
            record_access(kind=AccessKind.REAUTH, request=request, user=request.user)
            messages.success(request, "Confirmed. Send your action again.")
            return HttpResponseRedirect(next_url)
        if getattr(request, "axes_locked_out", False):
            # Too many wrong tries: the session ends and django-axes answers with its lockout page.
            logout(request)
            return redirect(settings.LOGIN_URL)
    return render_screen(
        request,
        "staff/reauth.html",
        {
            "title": "Confirm it is you",
            "form": form,
            "next_url": next_url,
            "max_age": settings.REAUTH_MAX_AGE_MINUTES,
        },
    )
