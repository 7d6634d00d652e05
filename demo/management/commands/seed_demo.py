from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from demo.audit_seed import demo_walkthrough as audit_walkthrough
from demo.audit_seed import seed_audit, seed_checkpoint
from demo.complaints_seed import demo_walkthrough, seed_complaints
from demo.numbers_seed import seed_numbers, seed_subscribers, seed_transfers
from staff.personas import (
    DEMO_TOTP_KEY_BASE32,
    PERSONAS,
    PERSONAS_BY_NAME,
    demo_password,
    ensure_branches,
    ensure_demo_device,
    ensure_personas,
    persona_needs_second_factor,
)

SITE = "http://127.0.0.1:8000"
TRY_THE_FLOW = (
    f"as agent_a:      {SITE}/transfers/  request a transfer and take both parties' consent",
    f"as supervisor_a: {SITE}/approvals/  approve or reject the requests awaiting approval in branch A",
    f"as supervisor_a2: {SITE}/withdrawals/  approve the withdrawal supervisor_a asked for (a legal order): "
    "the number goes into quarantine, where only its last holder can have it back",
    f"on the handset:  {SITE}/dev/phone/  what each number received, one-time codes included (DEBUG only; "
    "the SMS outbox keeps codes masked)",
    f"as supervisor_a: {SITE}/approvals/  a request its holder stopped by replying NO: Disputed by the holder",
)


TRY_THE_JOBS = [
    "on the server:   python manage.py runjob --list  the jobs beat runs (schedules: admin > Periodic tasks)",
    "on the server:   python manage.py runjob lifecycle [--today YYYY-MM-DD]  inactivity warnings, withdrawals "
    "into quarantine and recycling for that day, with the numbers left alone and why",
    f"as agent_a:      {SITE}/disconnections/  has a number been disconnected since a date? (yes, no, no data)",
    f"as admin:        {SITE}/admin/numbers/inactivitywarning/  the warnings sent; the SMS outbox shows delivery",
    "on the server:   DJANGO_DEBUG=1 python manage.py verify_audit --checkpoints  every chain verifies and still "
    "holds the heads signed outside the database (var/audit-checkpoints.jsonl; sign one now: audit_checkpoint)",
]


class Command(BaseCommand):
    help = (
        "Seed demo branches, personas, subscribers, numbers, transfer requests, complaints and a disciplinary case "
        "(idempotent; DEBUG only)."
    )

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
            for username, user in users.items():
                if persona_needs_second_factor(PERSONAS_BY_NAME[username]):
                    ensure_demo_device(user)
            branches = list(ensure_branches().values())
            actor = users["admin"]
            subscribers = seed_subscribers(actor=actor, branches=branches, count=options["subscribers"])
            created = seed_numbers(actor=actor, branches=branches, subscribers=subscribers)
            transfers = seed_transfers(users=users, subscribers=subscribers)
            complaints = seed_complaints(users=users, subscribers=subscribers)
            audit = seed_audit(users=users)
        # The SMS of the transfers and complaints reach the outbox when the block above commits.
        if created:
            summary = ", ".join(f"{count} {state}" for state, count in created.items())
            self.stdout.write(f"Created numbers: {summary}.")
        else:
            self.stdout.write("Demo numbers already present; nothing to add.")
        made = [label for label, outcome in transfers.items() if outcome == "created"]
        if made:
            self.stdout.write(f"Created transfer demo: {', '.join(made)}.")
        else:
            self.stdout.write("Demo transfers already present; nothing to add.")
        for label, outcome in transfers.items():
            if outcome.startswith("skipped"):
                self.stdout.write(f"  {label}: {outcome}")
        made = [label for label, outcome in complaints.items() if outcome in ("created", "refreshed")]
        if made:
            self.stdout.write(f"Created complaint demo: {', '.join(made)}.")
        else:
            self.stdout.write("Demo complaints already present; nothing to add.")
        for label, outcome in complaints.items():
            if outcome.startswith("skipped"):
                self.stdout.write(f"  {label}: {outcome}")
        made = [label for label, outcome in audit.items() if outcome == "created"]
        if made:
            self.stdout.write(f"Created audit demo: {', '.join(made)}.")
        elif all(outcome == "present" for outcome in audit.values()):
            self.stdout.write("Demo disciplinary case already present; nothing to add.")
        for label, outcome in audit.items():
            if outcome.startswith("skipped"):
                self.stdout.write(f"  {label}: {outcome}")
        for line in seed_checkpoint():
            self.stdout.write(line)
        self.stdout.write("")
        self.stdout.write("Demo logins (http://127.0.0.1:8000/admin/):")
        self.stdout.write(f"  {'user':<14} {'role':<20} {'branches':<20} {'password':<16} second factor")
        for persona in PERSONAS:
            where = ", ".join(persona.branches) or "all (global)"
            second = "demo key" if persona_needs_second_factor(persona) else "none (may enrol)"
            self.stdout.write(f"  {persona.username:<14} {persona.role:<20} {where:<20} {password:<16} {second}")
        self.stdout.write(
            f"  Second factor: add the demo key {DEMO_TOTP_KEY_BASE32} to an authenticator app (time-based, "
            "6 digits), or run `python manage.py otp_code <user>` for the current code."
        )
        self.stdout.write("")
        self.stdout.write("Try a dual-consent transfer:")
        for line in TRY_THE_FLOW:
            self.stdout.write(f"  {line}")
        self.stdout.write("")
        self.stdout.write("Try the complaint incident:")
        for line in demo_walkthrough(SITE):
            self.stdout.write(f"  {line}")
        self.stdout.write("")
        self.stdout.write("Try the audit review:")
        for line in audit_walkthrough(SITE):
            self.stdout.write(f"  {line}")
        self.stdout.write("")
        self.stdout.write("Try the background jobs:")
        for line in TRY_THE_JOBS:
            self.stdout.write(f"  {line}")
