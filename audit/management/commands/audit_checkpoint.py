from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from audit.checkpoints import checkpoint_sign, describe


class Command(BaseCommand):
    help = (
        "Sign every audit chain's head now (as the hourly jobs.checkpoint does) and append the checkpoint to "
        "the store outside the database (AUDIT_CHECKPOINT_BACKEND, AUDIT_CHECKPOINT_STORE)."
    )

    def handle(self, *args, **options):
        try:
            entry = checkpoint_sign()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from error
        self.stdout.write("\n".join(describe(entry)))
