"""The second-factor pages: verify a code after the password, enrol an authenticator
(QR code and key, confirmed by a code), and the backup codes shown once.

Thin: the rules are in staff.twofactor; django-otp's ``match_token`` checks a code and
``django_otp.login`` marks the session verified.
"""

from __future__ import annotations

from base64 import b32encode
from binascii import unhexlify
from io import BytesIO

import django_otp
import qrcode
import qrcode.image.svg
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.screens import render_screen

from . import twofactor
from .middleware import second_factor_exempt

PENDING_KEY = "staff_otp_pending_key"
CODES_ONCE = "staff_otp_backup_codes_once"


class CodeForm(forms.Form):
    token = forms.CharField(
        label="Code",
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "size": 12}),
        help_text="The 6-digit code your authenticator app shows now, or one of your backup codes.",
    )


def _screen(request, template: str, context: dict):
    # No model sidebar: a session that has not passed its second factor sees no menu of the admin.
    return render_screen(request, template, {"is_nav_sidebar_enabled": False, **context})


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("admin:index")


def _pending_key(request) -> str:
    key = request.session.get(PENDING_KEY)
    if not key:
        key = request.session[PENDING_KEY] = twofactor.new_totp_key()
    return key


def _otpauth_url(request, key: str) -> str:
    # django-otp's own config_url, on a device not saved until it is confirmed.
    return TOTPDevice(user=request.user, key=key).config_url


@second_factor_exempt
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request):
    """The step after the password: a code from the app or a backup code."""
    if request.user.is_verified():
        return redirect(_next_url(request))
    if not twofactor.has_second_factor(request.user):
        return redirect(f"{reverse('staff:two_factor_enrol')}?{request.GET.urlencode()}")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # django-otp locks a device for 1, 2, 4 ... seconds after each wrong code.
        throttled = any(not d.verify_is_allowed()[0] for d in django_otp.devices_for_user(request.user))
        device = django_otp.match_token(request.user, form.cleaned_data["token"].strip().replace(" ", ""))
        if device is not None:
            django_otp.login(request, device)
            request.session.cycle_key()
            return redirect(_next_url(request))
        form.add_error(
            "token",
            "Too many wrong codes: wait a few seconds, then type the code the app shows then."
            if throttled
            else "That code was not accepted. Wait for a new code and try again.",
        )
    return _screen(
        request,
        "staff/two_factor_verify.html",
        {"title": "Second factor", "form": form, "next": _next_url(request)},
    )


@second_factor_exempt
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_enrol(request):
    """Add an authenticator: scan the QR code (or type the key), confirm with a code."""
    user = request.user
    if twofactor.has_second_factor(user) and not user.is_verified():
        return redirect(f"{reverse('staff:two_factor_verify')}?{request.GET.urlencode()}")
    enrolled = TOTPDevice.objects.devices_for_user(user, confirmed=True).exists()
    if enrolled:
        return _screen(
            request,
            "staff/two_factor_enrol.html",
            {"title": "Second factor", "enrolled": True, "backup_left": _backup_codes_left(user)},
        )
    key = _pending_key(request)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = twofactor.totp_device_enrol(user=user, key=key, token=form.cleaned_data["token"])
        except ValidationError as exc:
            form.add_error("token", exc)
        else:
            del request.session[PENDING_KEY]
            django_otp.login(request, device)
            request.session.cycle_key()
            request.session[CODES_ONCE] = codes
            return redirect(f"{reverse('staff:two_factor_backup_codes')}?{urlencode({'next': _next_url(request)})}")
    return _screen(
        request,
        "staff/two_factor_enrol.html",
        {
            "title": "Set up your second factor",
            "enrolled": False,
            "form": form,
            "manual_key": b32encode(unhexlify(key)).decode(),
            "next": _next_url(request),
        },
    )


@second_factor_exempt
@never_cache
@login_required
@require_http_methods(["GET"])
def two_factor_qr(request):
    """The pending key as a QR code (an SVG image, so no inline script or data URI)."""
    key = request.session.get(PENDING_KEY)
    if not key:
        raise Http404("No authenticator is being set up.")
    image = qrcode.make(
        _otpauth_url(request, key), image_factory=qrcode.image.svg.SvgPathFillImage, box_size=10, border=4
    )
    buffer = BytesIO()
    image.save(buffer)
    return HttpResponse(buffer.getvalue(), content_type="image/svg+xml")


def _backup_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_backup_codes(request):
    """Backup codes are shown once, right after they are made; a verified session may make new ones."""
    if request.method == "POST":
        if not request.user.is_verified():
            return redirect("staff:two_factor_verify")
        request.session[CODES_ONCE] = twofactor.backup_codes_issue(user=request.user)
        messages.success(request, "New backup codes: the old ones no longer work.")
        return redirect("staff:two_factor_backup_codes")
    codes = request.session.pop(CODES_ONCE, None)
    return _screen(
        request,
        "staff/two_factor_backup_codes.html",
        {
            "title": "Backup codes",
            "codes": codes,
            "backup_left": _backup_codes_left(request.user),
            "next": _next_url(request),
        },
    )
