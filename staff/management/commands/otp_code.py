"""Print a demo user's current second-factor code, so the demo is usable by hand without a phone."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from staff.twofactor import totp_code


class Command(BaseCommand):
    help = "Print the current authenticator code of a user (DEBUG only: a demo convenience, never in production)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        if not settings.DEBUG:
            raise CommandError(
                "otp_code refuses to run with DEBUG off: it would print a live second factor. "
                "Set DJANGO_DEBUG=1 on a development machine."
            )
        user = get_user_model()._default_manager.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user {username!r}.")
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            raise CommandError(f"{username} has no authenticator: they set one up at their next sign-in.")
        self.stdout.write(totp_code(device))
