from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from audit.chain import chained_models, verify_table
from audit.checkpoints import store, verify_checkpoints
from audit.ledger import verify_ledger


class Command(BaseCommand):
    help = (
        "Recompute the hash chain of every audit table (history, access log, refused attempts) and "
        "report the first broken link of each; then check the holding ledger against its history and "
        "name every number whose holder changed without a service record. With --checkpoints, also verify "
        "every signed checkpoint in the store outside the database and that each table still holds the head "
        "each one signed. Exits non-zero on any finding."
    )

    def add_arguments(self, parser):
        parser.add_argument("--table", action="append", help="Only these tables (db table names); skips the ledger.")
        parser.add_argument(
            "--checkpoints",
            action="store_true",
            help="Also check the signed checkpoints (AUDIT_CHECKPOINT_STORE): finds tables cut back or rewritten "
            "with their heads since a checkpoint.",
        )

    def handle(self, *args, table=None, checkpoints=False, **options):
        models = [m for m in chained_models() if not table or m._meta.db_table in table]
        if table and not models:
            raise CommandError(f"No audit table named {', '.join(table)}.")
        expected, signed = {}, []
        if checkpoints:
            try:
                entries = store().read()
                expected, signed = verify_checkpoints(entries)
            except ImproperlyConfigured as error:
                raise CommandError(str(error)) from error
            for problem in signed:
                self.stderr.write(f"CHECKPOINT  {problem}")
        broken = []
        total = 0
        for model in models:
            count, problem = verify_table(model, expected=expected.get(model._meta.db_table, ()))
            total += count
            if problem:
                broken.append(problem)
                self.stderr.write(f"BROKEN  {problem}")
            elif options["verbosity"] >= 2:
                self.stdout.write(f"ok      {model._meta.db_table}: {count} records")
        ledger = [] if table else verify_ledger()
        for problem in ledger:
            self.stderr.write(f"LEDGER  {problem}")
        if broken or ledger or signed:
            parts = []
            if broken:
                parts.append(
                    f"the audit trail was tampered with: {len(broken)} of {len(models)} chains are broken "
                    f"(first: {broken[0]})"
                )
            if signed:
                parts.append(f"the checkpoint store does not verify: {len(signed)} problem(s) (first: {signed[0]})")
            if ledger:
                numbers = sorted({problem.msisdn for problem in ledger})
                parts.append(
                    f"the ledger disagrees with its history for {len(numbers)} number(s): {', '.join(numbers[:20])}"
                )
            message = "; ".join(parts)
            raise CommandError(f"{message[0].upper()}{message[1:]}.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Audit chain intact: {len(models)} tables, {total} records."
                + ("" if table else " The ledger matches its history.")
                + (f" Every table holds what {len(entries)} signed checkpoints say." if checkpoints else "")
            )
        )
