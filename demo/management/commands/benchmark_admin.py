"""Measure the admin pages staff use most, at the operator's scale.

Fills the configured database with synthetic numbers, subscribers, holdings,
transfer requests and complaints inside a transaction, times each page through
Django's test client (median of several runs, query count, peak Python memory),
prints the results against the targets and as a ratio to a stock Django changelist of
the same numbers measured in the same run (``demo/benchmark_urls.py``), and rolls
everything back. Use PostgreSQL
for numbers that mean something:
``DATABASE_URL=postgres://... make benchmark BENCH_ARGS="--numbers 1000000 --complaints 50000"``.
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
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from complaints.choices import Channel, ComplaintCategory, ComplaintState, EventKind, Severity
from complaints.models import Complaint, ComplaintEvent, ComplaintNumber, SlaRule
from numbers.choices import (
    ConsentMethod,
    ConsentParty,
    HoldingStartReason,
    IdentityDocumentType,
    NumberStatus,
    TransferState,
)
from numbers.identity import identity_fields
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
# The baseline every page is read against: a stock Django changelist of the same numbers.
BASELINE = "stock admin numbers list (baseline)"
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
        parser.add_argument(
            "--complaints", type=int, default=None, help="Complaints (default: one per twenty numbers)."
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
                complaints = options["complaints"] if options["complaints"] is not None else options["numbers"] // 20
                fixtures = self._fill(options["numbers"], options["subscribers"], transfers, complaints)
                results = self._measure(fixtures, options["repeat"])
                raise _Rollback
        except _Rollback:
            pass
        missed = self._report(results)
        if missed and options["strict"]:
            raise CommandError(f"{missed} page(s) missed their target.")

    # --- Synthetic data ------------------------------------------------------

    def _fill(self, how_many: int, subscriber_count: int, transfer_count: int, complaint_count: int) -> dict:
        started = time.perf_counter()
        branch = Branch.objects.create(code="bench-branch", name="Benchmark branch")
        User = get_user_model()
        user = User.objects.create_superuser("bench-admin", "bench@backoffice.invalid", "unused-password")
        requester = User.objects.create_user("bench-agent", "agent@backoffice.invalid", "unused-password")
        subscribers = Subscriber.objects.bulk_create(
            Subscriber(
                full_name=f"Bench Subscriber {i}",
                id_document_type=IdentityDocumentType.NATIONAL_ID,
                **identity_fields(f"BENCH{i:08d}"),
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
        self._fill_complaints(complaint_count, branch=branch, handler=requester, now=now)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        self.stdout.write(f"Filled in {time.perf_counter() - started:.1f} s.")
        active = MobileNumber.objects.filter(status=NumberStatus.ACTIVE).order_by("pk").first()
        available = MobileNumber.objects.filter(status=NumberStatus.AVAILABLE).order_by("pk").first()
        waiting = TransferRequest.objects.filter(state=TransferState.AWAITING_APPROVAL).order_by("pk").first()
        # The complaint staff open: one still open, with its numbers and timeline.
        complaints = Complaint.objects.order_by("pk")
        complaint = (
            complaints.filter(state=ComplaintState.INVESTIGATING).first()
            or complaints.filter(state__in=[ComplaintState.NEW, ComplaintState.ACKNOWLEDGED]).first()
        )
        return {"user": user, "active": active, "available": available, "transfer": waiting, "complaint": complaint}

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

    def _fill_complaints(self, how_many: int, *, branch, handler, now) -> None:
        """Complaints about held numbers over the last two years: most closed, one in
        ten still open (the queue's real load), each with its number and a received and
        an acknowledged event; every hundredth an unauthorised transfer."""
        rule = SlaRule.objects.filter(table__is_active=True, category="", severity="").first()
        held = list(
            MobileNumber.objects.filter(status=NumberStatus.ACTIVE).values_list("pk", "holder_id")[: max(how_many, 1)]
        )
        if rule is None or not held or how_many < 1:
            return
        open_states = (ComplaintState.NEW, ComplaintState.ACKNOWLEDGED, ComplaintState.INVESTIGATING)
        categories = (ComplaintCategory.BILLING, ComplaintCategory.SERVICE_QUALITY, ComplaintCategory.OTHER)
        with service_write_scope():
            for batch in _batches(how_many):
                complaints = []
                for i in batch:
                    received = now - timedelta(minutes=17 * i % (730 * 24 * 60) + 5)
                    state = open_states[i // 10 % 3] if i % 10 == 0 else ComplaintState.CLOSED
                    transfer = i % 100 == 0
                    complaint = Complaint(
                        reference=f"C-2000-{i:07d}",
                        complainant_id=held[i % len(held)][1],
                        category=ComplaintCategory.UNAUTHORISED_TRANSFER if transfer else categories[i % 3],
                        severity=Severity.CRITICAL if transfer else Severity.MEDIUM,
                        channel=Channel.PHONE,
                        description="Benchmark complaint",
                        branch=branch,
                        assigned_to=handler,
                        state=state,
                        received_at=received,
                        created_by=handler,
                        sla_rule=rule,
                        acknowledge_due_at=received + timedelta(days=2),
                        acknowledge_warn_at=received + timedelta(days=1, hours=12),
                        resolve_due_at=received + timedelta(days=21),
                        resolve_warn_at=received + timedelta(days=16),
                        block_due_at=received + timedelta(hours=24) if transfer else None,
                        block_warn_at=received + timedelta(hours=18) if transfer else None,
                    )
                    if state != ComplaintState.NEW:
                        complaint.acknowledged_at = received + timedelta(hours=2)
                        complaint.acknowledged_by = handler
                    if state == ComplaintState.CLOSED:
                        complaint.resolved_at = complaint.closed_at = received + timedelta(days=3)
                        complaint.resolved_by = complaint.closed_by = handler
                        complaint.resolution = "Benchmark: resolved"
                    complaints.append(complaint)
                Complaint.objects.bulk_create(complaints)
                ComplaintNumber.objects.bulk_create(
                    ComplaintNumber(
                        complaint=complaint,
                        number_id=held[i % len(held)][0],
                        added_at=complaint.received_at,
                        added_by=handler,
                    )
                    for i, complaint in zip(batch, complaints, strict=True)
                )
                ComplaintEvent.objects.bulk_create(
                    ComplaintEvent(complaint=complaint, kind=kind, at=at, actor=handler, text="Benchmark event")
                    for complaint in complaints
                    for kind, at in (
                        (EventKind.RECEIVED, complaint.received_at),
                        (EventKind.ACKNOWLEDGED, complaint.acknowledged_at),
                    )
                    if at is not None
                )

    # --- Measurements --------------------------------------------------------

    def _signed_in(self, user) -> Client:
        """A client signed in as staff are: the session verified by a second factor
        (django-otp), with an authenticator of the benchmark's user (rolled back with
        the rest). Without it every staff page answers with the second-factor step."""
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        host = next((h for h in settings.ALLOWED_HOSTS if h and "*" not in h), "localhost")
        client = Client(SERVER_NAME=host.lstrip("."))
        client.force_login(user)
        device = TOTPDevice.objects.create(user=user, name="benchmark", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
        return client

    def _measure(self, fixtures: dict, repeat: int) -> list[tuple[str, str, float, int, int]]:
        client = self._signed_in(fixtures["user"])
        active, available = fixtures["active"], fixtures["available"]
        national = "0" + active.msisdn.removeprefix("+855")
        pages = [
            (BASELINE, "list", "/stock-admin/numbers/mobilenumber/"),
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
        pages += self._complaint_pages(fixtures["complaint"])
        results = []
        with override_settings(ROOT_URLCONF="demo.benchmark_urls"):
            for label, kind, url in pages:
                results.append(self._time_page(client, label, kind, url, repeat))
        return results

    def _time_page(self, client: Client, label: str, kind: str, url: str, repeat: int):
        """Median of ``repeat`` runs after one that warms caches; queries; peak Python memory."""
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
        return (label, kind, statistics.median(timings), queries, peak // 1024)

    def _complaint_pages(self, complaint) -> list[tuple[str, str, str]]:
        """The complaint queue, a search and one complaint, on the screens and in the admin.
        The screens are left out (and said so) where complaints.urls is not installed."""
        if complaint is None:
            self.stdout.write("No complaints filled: the complaint pages are not measured.")
            return []
        msisdn = complaint.numbers.values_list("msisdn", flat=True).first()
        pages = [
            ("complaints list (admin)", "list", "/admin/complaints/complaint/"),
            (
                "complaint search by reference (admin)",
                "search",
                f"/admin/complaints/complaint/?q={complaint.reference}",
            ),
            ("complaint page (admin)", "form", f"/admin/complaints/complaint/{complaint.pk}/change/"),
        ]
        try:
            queue = reverse("complaints:complaint_list")
            detail = reverse("complaints:complaint_detail", args=[complaint.pk])
        except NoReverseMatch:
            self.stdout.write("The complaint screens are not installed: /complaints/ is not measured.")
            return pages
        national = "0" + msisdn.removeprefix("+855")
        return [
            ("complaint queue (branch, open)", "list", f"{queue}?queue=branch"),
            ("complaint search, MSISDN (any state)", "search", f"{queue}?queue=branch&state=&q={national}"),
            ("complaint page", "form", detail),
            *pages,
        ]

    def _report(self, results) -> int:
        """Each page with its time as a ratio to the stock changelist's in the same run
        (the machine may be busy: the ratio is what compares across runs)."""
        missed = 0
        baseline = next((median_ms for label, _, median_ms, _, _ in results if label == BASELINE), None)
        self.stdout.write(f"{'page':<40} {'median ms':>10} {'x stock':>8} {'target':>8} {'queries':>8} {'peak KiB':>9}")
        for label, kind, median_ms, queries, peak_kib in results:
            target = TARGETS_MS[kind]
            ok = median_ms <= target and queries <= QUERY_TARGET
            missed += not ok
            flag = "" if ok else "  <-- over target"
            ratio = f"{median_ms / baseline:>8.2f}" if baseline else f"{'-':>8}"
            self.stdout.write(f"{label:<40} {median_ms:>10.1f} {ratio} {target:>8.0f} {queries:>8} {peak_kib:>9}{flag}")
        return missed


def _batches(total: int) -> Iterator[range]:
    for start in range(0, total, BATCH):
        yield range(start, min(start + BATCH, total))
