"""The second factor: who needs one, enrolling a device, and the four-eyes reset of a lost one.

Built on django-otp's own pieces: ``OTPMiddleware`` says whether a session passed
(``request.user.is_verified()``), ``django_otp.login`` marks it, ``match_token``
checks a code against every confirmed device of the user (TOTP and the one-time
backup codes, each with django-otp's throttling), ``devices_for_user`` lists them.
``staff.middleware.SecondFactorRequiredMiddleware`` sends an unverified privileged
user to the pages in ``staff.views_twofactor``.
"""

from __future__ import annotations

import time
from binascii import unhexlify

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django_otp import devices_for_user, user_has_device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp.util import random_hex

from audit.context import audited
from backoffice.history import require_reason, stamp_change

from .choices import Role
from .models import SecondFactorReset
from .selectors import is_working
from .services import end_sessions

User = get_user_model()

# Roles that approve, block, restore, suspend, export or administer. Agents may
# enrol of their own accord but are not made to.
PRIVILEGED_ROLES = (Role.SUPERVISOR, Role.COMPLAINT_HANDLER, Role.AUDITOR, Role.ADMINISTRATOR)
BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"


def second_factor_required(user) -> bool:
    """Whether this account must pass a second factor before any staff screen."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name__in=PRIVILEGED_ROLES).exists()


def has_second_factor(user) -> bool:
    return user_has_device(user, confirmed=True)


def new_totp_key() -> str:
    """A fresh secret (hex, 20 bytes, as django-otp stores it), held in the session until confirmed."""
    return random_hex(20)


def totp_for(key: str, *, step: int = 30, digits: int = 6) -> TOTP:
    totp = TOTP(unhexlify(key.encode()), step=step, digits=digits)
    totp.time = time.time()
    return totp


def totp_code(device: TOTPDevice) -> str:
    """The code an authenticator app holding ``device.key`` shows now, or the next one the
    device will still accept (django-otp refuses a time step it already accepted).

    For the demo's ``otp_code`` command and the tests' sign-ins; never for a real check.
    """
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if totp.t() <= device.last_t:
        if device.last_t + 1 > totp.t() + device.tolerance:
            time.sleep(device.step - (totp.time - device.t0) % device.step + 0.1)
            totp.time = time.time()
        else:
            totp.time += device.step * (device.last_t + 1 - totp.t())
    return f"{totp.token():0{device.digits}d}"


@transaction.atomic
def totp_device_enrol(*, user, key: str, token: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm a new authenticator by a code it shows, and issue fresh backup codes.

    Refused (ValidationError) on a wrong code or if the user already has a confirmed
    authenticator: a second one is added only after a reset, never over a working one
    (someone holding a stolen password and a live session could otherwise add theirs).
    Returns the device and the backup codes, shown to the user once.
    """
    if TOTPDevice.objects.devices_for_user(user, confirmed=True).exists():
        raise ValidationError("You already have an authenticator; ask an administrator to reset it if it is lost.")
    token = (token or "").strip().replace(" ", "")
    totp = totp_for(key)
    if not token.isdigit() or not totp.verify(int(token), tolerance=1):
        raise ValidationError("That code does not match: check the app's clock and type the code it shows now.")
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, key=key, confirmed=True, last_t=totp.t())
    codes = backup_codes_issue(user=user)
    return device, codes


@transaction.atomic
def backup_codes_issue(*, user) -> list[str]:
    """Replace the user's backup codes with a fresh set (each works once)."""
    device, _ = StaticDevice.objects.get_or_create(user=user, name=BACKUP_DEVICE_NAME, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


# --- Four-eyes reset of a lost device ---------------------------------------------


def _require_reset_authority(actor, user) -> None:
    if not is_working(actor) or not (actor.is_superuser or actor.groups.filter(name=Role.ADMINISTRATOR).exists()):
        raise PermissionDenied("Only administrators reset a second factor.")
    if user.pk == actor.pk:
        raise PermissionDenied("Nobody resets their own second factor.")
    if user.is_superuser and not actor.is_superuser:
        raise PermissionDenied("Only a superuser resets a superuser's second factor.")


@audited
def second_factor_reset_request(*, user, actor, reason: str) -> SecondFactorReset:
    """An administrator asks for ``user``'s devices to be taken out of use; another approves."""
    reason = require_reason(reason)
    _require_reset_authority(actor, user)
    user = User.objects.select_for_update().get(pk=user.pk)
    if SecondFactorReset.objects.filter(user=user, approved_at__isnull=True).exists():
        raise ValidationError(
            "A reset of %(name)s's second factor already awaits approval.", params={"name": user.get_username()}
        )
    reset = SecondFactorReset(user=user, reason=reason, requested_by=actor)
    stamp_change(reset, actor=actor, reason=reason)
    reset.save()
    return reset


@audited
def second_factor_reset_approve(*, reset: SecondFactorReset, actor, reason: str) -> SecondFactorReset:
    """A second administrator approves: every device of the user is retired (recorded
    in the reset) and every session of theirs ended, so they enrol anew at next sign-in."""
    reason = require_reason(reason)
    reset = SecondFactorReset.objects.select_for_update().select_related("user").get(pk=reset.pk)
    _require_reset_authority(actor, reset.user)
    if not reset.is_open:
        raise ValidationError("This reset was already approved.")
    if reset.requested_by_id == actor.pk:
        raise PermissionDenied("A reset is approved by a different administrator from the one who asked (four eyes).")
    removed = []
    for device in devices_for_user(reset.user, confirmed=None):
        removed.append(
            {
                "type": device._meta.label_lower,
                "id": device.pk,
                "name": device.name,
                "confirmed": device.confirmed,
                "created_at": device.created_at.isoformat() if device.created_at else None,
                "last_used_at": device.last_used_at.isoformat() if device.last_used_at else None,
            }
        )
        device.delete()
    reset.devices_removed = removed
    reset.approved_by = actor
    reset.approved_at = timezone.now()
    reset.approve_reason = reason
    reset.sessions_ended = end_sessions(reset.user)
    stamp_change(reset, actor=actor, reason=reason)
    reset.save()
    return reset
