"""Measure the inactivity lifecycle job at the operator's scale.

Fills the configured database with held numbers (most topped up recently, a share
inactive for 60 to 100 days), runs the job twice for the same day (the first run
does the day's work, the second finds nothing left: the daily scan cost), prints
time, numbers acted on and peak Python memory for each, and rolls everything back.
Use PostgreSQL for numbers that mean something:
``DATABASE_URL=postgres://... python manage.py benchmark_lifecycle --numbers 1000000``.
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from audit.context import job_scope
from backoffice.evidence import service_write_scope
from numbers.choices import HoldingStartReason, IdentityDocumentType, NumberStatus
from numbers.identity import identity_fields
from numbers.models import Branch, Holding, MobileNumber, Subscriber
from numbers.services.lifecycle import lifecycle_run

# Peak Python memory a run may use whatever the table size: it reads by batches.
MEMORY_TARGET_MIB = 64
BATCH = 20_000


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Time the inactivity lifecycle job on synthetic numbers; everything written is rolled back."

    def add_arguments(self, parser):
        parser.add_argument("--numbers", type=int, default=100_000, help="Held numbers to create.")
        parser.add_argument(
            "--inactive-share", type=float, default=0.02, help="Share inactive for 60 to 100 days (default 0.02)."
        )
        parser.add_argument("--strict", action="store_true", help="Exit non-zero when the memory target is missed.")

    def handle(self, *args, numbers: int, inactive_share: float, strict: bool, **options):
        if numbers < 10 or not 0 <= inactive_share <= 1:
            raise CommandError("Use at least 10 numbers and an --inactive-share between 0 and 1.")
        self.stdout.write(f"Database: {connection.vendor}; {numbers:,} held numbers, {inactive_share:.0%} inactive.")
        rows = []
        try:
            with transaction.atomic():
                self._fill(numbers, inactive_share)
                for label in ("first run of the day", "second run, same day"):
                    rows.append((label, *self._run()))
                raise _Rollback
        except _Rollback:
            pass
        self.stdout.write(f"{'run':<24} {'seconds':>9} {'warned':>8} {'withdrawn':>10} {'peak MiB':>9}")
        missed = 0
        for label, seconds, warned, withdrawn, peak in rows:
            flag = "" if peak <= MEMORY_TARGET_MIB else "  <-- over target"
            missed += bool(flag)
            self.stdout.write(f"{label:<24} {seconds:>9.1f} {warned:>8} {withdrawn:>10} {peak:>9.1f}{flag}")
        self.stdout.write(f"Memory target: {MEMORY_TARGET_MIB} MiB peak per run, at any table size.")
        if missed and strict:
            raise CommandError("The lifecycle job missed its memory target.")

    def _fill(self, how_many: int, inactive_share: float) -> None:
        started = time.perf_counter()
        branch = Branch.objects.create(code="bench-lifecycle", name="Benchmark branch")
        get_user_model().objects.create_user("bench-lifecycle", "bench@backoffice.invalid", "unused-password")
        subscriber = Subscriber.objects.create(
            full_name="Bench Subscriber", id_document_type=IdentityDocumentType.NATIONAL_ID, **identity_fields("B1")
        )
        now = timezone.now()
        every = max(int(1 / inactive_share), 1) if inactive_share else how_many + 1
        with service_write_scope():
            for start in range(0, how_many, BATCH):
                batch = []
                for i in range(start, min(start + BATCH, how_many)):
                    ago = 60 + i % 41 if i % every == 0 else i % 60
                    topped_up = now - timedelta(days=ago, hours=1)
                    batch.append(
                        MobileNumber(
                            msisdn=f"+85597{i:07d}",
                            branch=branch,
                            status=NumberStatus.ACTIVE,
                            holder=subscriber,
                            activated_at=topped_up,
                            last_topup_at=topped_up,
                        )
                    )
                MobileNumber.objects.bulk_create(batch)
                Holding.objects.bulk_create(
                    Holding(
                        number=number,
                        subscriber=subscriber,
                        started_at=number.activated_at,
                        start_reason=HoldingStartReason.SALE,
                    )
                    for number in batch
                )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        self.stdout.write(f"Filled in {time.perf_counter() - started:.1f} s.")

    def _run(self) -> tuple[float, int, int, float]:
        tracemalloc.start()
        started = time.perf_counter()
        with job_scope("jobs.lifecycle"):
            report = lifecycle_run()
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        return seconds, sum(report.warned.values()), report.withdrawn, peak
