"""Measure the admin pages staff use most, at the operator's scale.

Fills the configured database with synthetic numbers, subscribers and holdings
inside a transaction, times each page through Django's test client (median of
several runs, query count, peak Python memory), prints the results against the
targets, and rolls everything back. Use PostgreSQL for numbers that mean
something: ``DATABASE_URL=postgres://... make benchmark BENCH_ARGS="--numbers 1000000"``.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from numbers.choices import (
    ConsentMethod,
    ConsentParty,
    HoldingStartReason,
    IdentityDocumentType,
    NumberStatus,
    TransferState,
)
from numbers.models import (
    Branch,
    Holding,
    MobileNumber,
    Subscriber,
    TransferConsent,
    TransferRequest,
    service_write_scope,
)

# (page, milliseconds, queries): what a page must stay under at any table size.
TARGETS_MS = {"list": 75.0, "search": 50.0, "form": 100.0}
QUERY_TARGET = 12
BATCH = 20_000


class _Rollback(Exception):
    pass


class Command(BaseCommand):
    help = "Time the admin's number pages on synthetic data at scale; everything written is rolled back."

    def add_arguments(self, parser):
        parser.add_argument("--numbers", type=int, default=100_000)
        parser.add_argument("--subscribers", type=int, default=10_000)
        parser.add_argument(
            "--transfers", type=int, default=None, help="Transfer requests (default: one per ten numbers)."
        )
        parser.add_argument("--repeat", type=int, default=7)
        parser.add_argument("--strict", action="store_true", help="Exit non-zero when a target is missed.")

    def handle(self, *args, **options):
        if options["numbers"] < 10 or options["subscribers"] < 1:
            raise CommandError("Use at least 10 numbers and 1 subscriber.")
        self.stdout.write(
            f"Database: {connection.vendor}; {options['numbers']:,} numbers, {options['subscribers']:,} subscribers."
        )
        results: list[tuple[str, str, float, int, int]] = []
        try:
            with transaction.atomic():
                transfers = options["transfers"] if options["transfers"] is not None else options["numbers"] // 10
                fixtures = self._fill(options["numbers"], options["subscribers"], transfers)
                results = self._measure(fixtures, options["repeat"])
                raise _Rollback
        except _Rollback:
            pass
        missed = self._report(results)
        if missed and options["strict"]:
            raise CommandError(f"{missed} page(s) missed their target.")

    # --- Synthetic data ------------------------------------------------------

    def _fill(self, how_many: int, subscriber_count: int, transfer_count: int) -> dict:
        started = time.perf_counter()
        branch = Branch.objects.create(code="bench-branch", name="Benchmark branch")
        User = get_user_model()
        user = User.objects.create_superuser("bench-admin", "bench@backoffice.invalid", "unused-password")
        requester = User.objects.create_user("bench-agent", "agent@backoffice.invalid", "unused-password")
        subscribers = Subscriber.objects.bulk_create(
            Subscriber(
                full_name=f"Bench Subscriber {i}",
                id_document_type=IdentityDocumentType.NATIONAL_ID,
                id_document_number=f"BENCH{i:08d}",
            )
            for i in range(subscriber_count)
        )
        now = timezone.now()
        with service_write_scope():
            for batch in _batches(how_many):
                numbers = [
                    MobileNumber(
                        msisdn=f"+85597{i:07d}",
                        branch=branch,
                        status=NumberStatus.ACTIVE if i % 2 else NumberStatus.AVAILABLE,
                        holder=subscribers[i % subscriber_count] if i % 2 else None,
                        activated_at=now - timedelta(days=i % 400) if i % 2 else None,
                        last_topup_at=now - timedelta(days=i % 120) if i % 2 else None,
                    )
                    for i in batch
                ]
                MobileNumber.objects.bulk_create(numbers)
                Holding.objects.bulk_create(
                    Holding(
                        number=number,
                        subscriber=number.holder,
                        started_at=number.activated_at,
                        start_reason=HoldingStartReason.SALE,
                    )
                    for number in numbers
                    if number.holder is not None
                )
        self._fill_transfers(transfer_count, branch=branch, requester=requester, subscribers=subscribers, now=now)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        self.stdout.write(f"Filled in {time.perf_counter() - started:.1f} s.")
        active = MobileNumber.objects.filter(status=NumberStatus.ACTIVE).order_by("pk").first()
        available = MobileNumber.objects.filter(status=NumberStatus.AVAILABLE).order_by("pk").first()
        waiting = TransferRequest.objects.filter(state=TransferState.AWAITING_APPROVAL).order_by("pk").first()
        return {"user": user, "active": active, "available": available, "transfer": waiting}

    def _fill_transfers(self, how_many: int, *, branch, requester, subscribers, now) -> None:
        """Mostly closed requests (the history staff page through), one in fifty
        awaiting approval with both consents, the queue's real load."""
        held = list(
            MobileNumber.objects.filter(status=NumberStatus.ACTIVE).values_list("pk", "holder_id")[: max(how_many, 1)]
        )
        if not held or how_many < 1:
            return
        with service_write_scope():
            for batch in _batches(how_many):
                requests = []
                for i in batch:
                    number_id, holder_id = held[i % len(held)]
                    is_open = i % 50 == 0 and i < len(held)  # one open request per number at most
                    created = now - timedelta(hours=1 + i % 2000)
                    to_subscriber = subscribers[(i * 7 + 1) % len(subscribers)]
                    if to_subscriber.pk == holder_id:
                        to_subscriber = subscribers[(i * 7 + 2) % len(subscribers)]
                    if to_subscriber.pk == holder_id:
                        continue
                    requests.append(
                        TransferRequest(
                            number_id=number_id,
                            from_holder_id=holder_id,
                            to_subscriber=to_subscriber,
                            branch=branch,
                            requested_by=requester,
                            reason="Benchmark request",
                            state=TransferState.AWAITING_APPROVAL if is_open else TransferState.CANCELLED,
                            created_at=created,
                            expires_at=now + timedelta(days=7) if is_open else created + timedelta(days=7),
                            closed_at=None if is_open else created + timedelta(hours=1),
                            close_reason="" if is_open else "Benchmark: holder refused",
                        )
                    )
                TransferRequest.objects.bulk_create(requests)
                TransferConsent.objects.bulk_create(
                    TransferConsent(
                        request=request,
                        party=party,
                        subscriber_id=request.from_holder_id
                        if party == ConsentParty.CURRENT_HOLDER
                        else request.to_subscriber_id,
                        method=ConsentMethod.IN_PERSON,
                        document_type=IdentityDocumentType.NATIONAL_ID,
                        document_reference="••••0000",
                        captured_by=requester,
                        captured_at=now - timedelta(minutes=30),
                        lapses_at=now + timedelta(days=2),
                    )
                    for request in requests
                    if request.state == TransferState.AWAITING_APPROVAL
                    for party in ConsentParty.values
                )

    # --- Measurements --------------------------------------------------------

    def _measure(self, fixtures: dict, repeat: int) -> list[tuple[str, str, float, int, int]]:
        host = next((h for h in settings.ALLOWED_HOSTS if h and "*" not in h), "localhost")
        client = Client(SERVER_NAME=host.lstrip("."))
        client.force_login(fixtures["user"])
        active, available = fixtures["active"], fixtures["available"]
        national = "0" + active.msisdn.removeprefix("+855")
        pages = [
            ("numbers list", "list", "/admin/numbers/mobilenumber/"),
            ("numbers list, status filter", "list", "/admin/numbers/mobilenumber/?status__exact=active"),
            ("MSISDN search, national format", "search", f"/admin/numbers/mobilenumber/?q={national}"),
            ("MSISDN search, prefix", "search", "/admin/numbers/mobilenumber/?q=%2B8559712"),
            ("number page (read-only form)", "form", f"/admin/numbers/mobilenumber/{active.pk}/change/"),
            ("sell form (subscriber autocomplete)", "form", f"/admin/numbers/mobilenumber/{available.pk}/sell/"),
            ("subscribers list", "list", "/admin/numbers/subscriber/"),
            ("holdings list", "list", "/admin/numbers/holding/"),
            ("transfer requests list (admin)", "list", "/admin/numbers/transferrequest/"),
            ("transfer requests screen", "list", "/transfers/"),
            ("approval queue", "list", "/approvals/"),
        ]
        if fixtures["transfer"] is not None:
            pages.append(("approval page", "form", f"/approvals/{fixtures['transfer'].pk}/"))
        results = []
        for label, kind, url in pages:
            timings, queries = [], 0
            for run in range(repeat + 1):
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    response = client.get(url)
                    elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise CommandError(f"{url} answered {response.status_code}")
                if run:  # the first run warms caches
                    timings.append(elapsed)
                    queries = len(captured)
            # Memory in a run of its own: tracing allocations slows the code it traces.
            tracemalloc.start()
            client.get(url)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            results.append((label, kind, statistics.median(timings), queries, peak // 1024))
        return results

    def _report(self, results) -> int:
        missed = 0
        self.stdout.write(f"{'page':<40} {'median ms':>10} {'target':>8} {'queries':>8} {'peak KiB':>9}")
        for label, kind, median_ms, queries, peak_kib in results:
            target = TARGETS_MS[kind]
            ok = median_ms <= target and queries <= QUERY_TARGET
            missed += not ok
            flag = "" if ok else "  <-- over target"
            self.stdout.write(f"{label:<40} {median_ms:>10.1f} {target:>8.0f} {queries:>8} {peak_kib:>9}{flag}")
        return missed


def _batches(total: int) -> Iterator[range]:
    for start in range(0, total, BATCH):
        yield range(start, min(start + BATCH, total))
