from django.core.management.base import BaseCommand, CommandError


class RefusePurge(BaseCommand):
    """simple-history's cleaning commands delete history; here history is evidence and stays."""

    help = "Refused: history is evidence and is never purged (see docs/audit.md, 'Append-only')."

    def add_arguments(self, parser):
        parser.add_argument("args", nargs="*")
        parser.add_argument("--days", type=int)
        parser.add_argument("--auto", action="store_true")
        parser.add_argument("--minutes", type=int)
        parser.add_argument("--dry", action="store_true")
        parser.add_argument("--excluded_fields", nargs="+")
        parser.add_argument("--base-manager", action="store_true")

    def handle(self, *args, **options):
        raise CommandError(
            "Refused: history records are evidence for disciplinary and regulator reviews and are never "
            "deleted. The audit tables are append-only; deleting rows would also break the audit chain "
            "(manage.py verify_audit)."
        )
