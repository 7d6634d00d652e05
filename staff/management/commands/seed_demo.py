from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from numbers.demo import seed_numbers, seed_subscribers
from staff.personas import PERSONAS, demo_password, ensure_branches, ensure_personas


class Command(BaseCommand):
    help = "Seed demo branches, personas, subscribers and numbers (idempotent; DEBUG only)."

    def add_arguments(self, parser):
        parser.add_argument("--subscribers", type=int, default=300)

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo refuses to run with DEBUG off: demo accounts share a published password. "
                "Set DJANGO_DEBUG=1 on a development machine."
            )
        password = demo_password()
        with transaction.atomic():
            users = {user.username: user for user in ensure_personas(password=password)}
            branches = list(ensure_branches().values())
            actor = users["admin"]
            subscribers = seed_subscribers(actor=actor, branches=branches, count=options["subscribers"])
            created = seed_numbers(actor=actor, branches=branches, subscribers=subscribers)
        if created:
            summary = ", ".join(f"{count} {state}" for state, count in created.items())
            self.stdout.write(f"Created numbers: {summary}.")
        else:
            self.stdout.write("Demo numbers already present; nothing to add.")
        self.stdout.write("")
        self.stdout.write("Demo logins (http://127.0.0.1:8000/admin/):")
        self.stdout.write(f"  {'user':<14} {'role':<20} {'branches':<20} password")
        for persona in PERSONAS:
            where = ", ".join(persona.branches) or "all (global)"
            self.stdout.write(f"  {persona.username:<14} {persona.role:<20} {where:<20} {password}")
