from django.core.management.base import BaseCommand, CommandError

from audit.chain import chained_models, verify_table


class Command(BaseCommand):
    help = (
        "Recompute the hash chain of every audit table (history, access log) and report the "
        "first broken link of each. Exits non-zero when any record was altered or removed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--table", action="append", help="Only these tables (db table names).")

    def handle(self, *args, table=None, **options):
        models = [m for m in chained_models() if not table or m._meta.db_table in table]
        if table and not models:
            raise CommandError(f"No audit table named {', '.join(table)}.")
        broken = []
        total = 0
        for model in models:
            count, problem = verify_table(model)
            total += count
            if problem:
                broken.append(problem)
                self.stderr.write(f"BROKEN  {problem}")
            elif options["verbosity"] >= 2:
                self.stdout.write(f"ok      {model._meta.db_table}: {count} records")
        if broken:
            raise CommandError(
                f"The audit trail was tampered with: {len(broken)} of {len(models)} chains are broken "
                f"(first: {broken[0]})."
            )
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {len(models)} tables, {total} records."))
