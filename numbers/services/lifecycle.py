"""The inactivity lifecycle job: warn, withdraw, quarantine, recycle.

Run daily by beat (``jobs.lifecycle``) or by hand (``manage.py runjob lifecycle
--today YYYY-MM-DD``). It acts as itself, not as an employee: history names the
job as the actor. A number that is blocked, under an open complaint, in an open
transfer request or locked against transfers by its holder is never touched; it is
reported as skipped, with why.

Never a withdrawal without warning, nor before the day the warning named: a number
past its withdrawal day whose holder never got the final warning (the job did not run
for days, a deployment, an imported base) is warned now, with a day at least
``final_notice_days`` ahead, and held back until then; the report counts what was
held back and why.

Idempotent and safe to run twice at once: numbers are handled in batches, each
batch one audited transaction that locks its rows and re-reads what was already
done, and each warning is unique per number, period and day in the database.
Batches are read by primary key (keyset), so a million numbers are scanned
without holding them in memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from audit.context import audited_transaction
from backoffice.msisdn import format_msisdn
from sms.choices import SmsPurpose
from sms.services import Outgoing, sms_send_many

from .. import registry
from ..choices import HELD_STATUSES, OPEN_TRANSFER_STATES, NumberStatus
from ..lifecycle import Policy, day_of_period, local_day, policy, reached_on_or_before
from ..models import InactivityWarning, MobileNumber, TransferLock, TransferRequest, service_write_scope
from .inventory import apply_move

Progress = Callable[[str, int], None]

SKIP_BLOCKED = "blocked"
SKIP_COMPLAINT = "under an open complaint"
SKIP_TRANSFER = "in an open transfer request"
SKIP_LOCK = "transfer lock"
# How many skipped numbers a report lists one by one (all are counted).
SKIPS_LISTED = 200
# Why a number past its withdrawal day is not withdrawn yet.
HELD_UNWARNED = "never had the final warning: warned now"
HELD_NOTICE = "the day the final warning gave is not reached"


def _anchor() -> Coalesce:
    """Day 0 of a number's period: its last top-up (a sale or transfer sets one)."""
    return Coalesce("last_topup_at", "activated_at", "status_changed_at")


@dataclass(frozen=True)
class Skip:
    msisdn: str
    step: str
    why: str


@dataclass
class LifecycleReport:
    today: date
    warned: Counter = field(default_factory=Counter)
    withdrawn: int = 0
    quarantined: int = 0
    recycled: int = 0
    skipped: list[Skip] = field(default_factory=list)
    skip_counts: Counter = field(default_factory=Counter)
    held_back: Counter = field(default_factory=Counter)

    def skip(self, number: MobileNumber, step: str, why: str) -> None:
        self.skip_counts[(step, why)] += 1
        if len(self.skipped) < SKIPS_LISTED:
            self.skipped.append(Skip(number.msisdn, step, why))

    def lines(self) -> list[str]:
        lines = [f"Inactivity lifecycle for {self.today:%Y-%m-%d}:"]
        for day in sorted(self.warned):
            lines.append(f"  day-{day} warnings sent: {self.warned[day]}")
        if not self.warned:
            lines.append("  warnings sent: 0")
        lines += [
            f"  withdrawn (no top-up or payment): {self.withdrawn}",
            *(f"  held back from withdrawal ({why}): {count}" for why, count in sorted(self.held_back.items())),
            f"  put in quarantine: {self.quarantined}",
            f"  back to available after quarantine: {self.recycled}",
        ]
        for (step, why), count in sorted(self.skip_counts.items()):
            lines.append(f"  skipped ({step}, {why}): {count}")
        lines += [f"    {skip.msisdn}: not {skip.step}, {skip.why}" for skip in self.skipped]
        if sum(self.skip_counts.values()) > len(self.skipped):
            lines.append(f"    ... and {sum(self.skip_counts.values()) - len(self.skipped)} more")
        return lines


def lifecycle_run(
    *, today: date | None = None, progress: Progress | None = None, batch_size: int | None = None
) -> LifecycleReport:
    """Apply the inactivity policy for ``today`` (the operator's calendar day)."""
    rules = policy()
    started = timezone.now()
    today = today or timezone.localdate()
    size = batch_size or rules.batch_size
    report = LifecycleReport(today=today)
    progress = progress or (lambda step, done: None)

    def each_batch(step: str, queryset, handle: Callable[[list[int]], None]) -> None:
        done = 0
        for ids in _batches(queryset, size):
            handle(ids)
            done += len(ids)
            progress(step, done)

    each_batch("warnings and withdrawals", _due(rules, today), lambda ids: _warn_or_withdraw(ids, rules, today, report))
    each_batch(
        "quarantine",
        MobileNumber.objects.filter(status=NumberStatus.WITHDRAWN),
        lambda ids: _quarantine(ids, rules, today, report),
    )
    # Not what this run itself put in quarantine: run by hand for a day ahead
    # (runjob --today), the quarantine it just began must not end at once.
    cutoff = min(reached_on_or_before(today, rules.quarantine_days), started)
    each_batch(
        "recycling",
        MobileNumber.objects.filter(status=NumberStatus.AGING, status_changed_at__lt=cutoff),
        lambda ids: _recycle(ids, cutoff, rules, report),
    )
    return report


def _due(rules: Policy, today: date):
    """Held numbers with something to do today: past the withdrawal day, or inside a
    warning's window without that warning (or a later one) for the current period.
    A number already warned is not read again until its next boundary, so a daily
    run reads about as many numbers as it acts on (plus the skipped ones)."""
    held = MobileNumber.objects.filter(status__in=HELD_STATUSES).annotate(anchor=_anchor())
    due = Q(anchor__lt=reached_on_or_before(today, rules.hold_days))
    bounds = [*rules.warning_days, rules.hold_days]
    for day, next_day in zip(bounds, bounds[1:], strict=False):
        warned = InactivityWarning.objects.filter(
            number_id=OuterRef("pk"), period_start=OuterRef("anchor"), warning_day__gte=day
        )
        due |= Q(
            anchor__lt=reached_on_or_before(today, day),
            anchor__gte=reached_on_or_before(today, next_day),
        ) & ~Exists(warned)
    return held.filter(due)


def _batches(queryset, size: int) -> Iterator[list[int]]:
    """Primary keys in ascending batches, read one batch at a time."""
    last = 0
    while True:
        ids = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            return
        yield ids
        last = ids[-1]


def _locked(ids: list[int], **filters) -> list[MobileNumber]:
    """The batch's numbers, locked, as they are now (another run may have moved them)."""
    return list(
        MobileNumber.objects.select_for_update(of=("self",))
        .filter(pk__in=ids, **filters)
        .annotate(anchor=_anchor())
        .order_by("pk")
    )


def _skip_reasons(numbers: list[MobileNumber]) -> dict[int, str]:
    """Why each number must be left alone, if it must: four queries per batch. A number
    its holder locked against transfers is never withdrawn: the lock survives every
    path but its own consented lift."""
    ids = [number.pk for number in numbers]
    # Complaints (a floor above) answer through numbers.registry.
    blocked = registry.blocked_among(ids)
    complained = registry.complained_among(ids)
    transferring = set(
        TransferRequest.objects.filter(number_id__in=ids, state__in=OPEN_TRANSFER_STATES).values_list(
            "number_id", flat=True
        )
    )
    locked = set(
        TransferLock.objects.filter(number_id__in=ids, lifted_at__isnull=True).values_list("number_id", flat=True)
    )
    reasons = {}
    for number in numbers:
        if number.status == NumberStatus.BLOCKED or number.pk in blocked:
            reasons[number.pk] = SKIP_BLOCKED
        elif number.pk in complained:
            reasons[number.pk] = SKIP_COMPLAINT
        elif number.pk in transferring:
            reasons[number.pk] = SKIP_TRANSFER
        elif number.pk in locked:
            reasons[number.pk] = SKIP_LOCK
    return reasons


def _warnings_sent(ids: list[int], final_day: int) -> tuple[dict, dict]:
    """Per (number, period): the latest warning day sent, and the withdrawal day the
    final warning (or a later one) told the holder."""
    latest: dict[tuple[int, datetime], int] = {}
    told: dict[tuple[int, datetime], date] = {}
    rows = InactivityWarning.objects.filter(number_id__in=ids).values_list(
        "number_id", "period_start", "warning_day", "withdrawal_on"
    )
    for number_id, period_start, day, withdrawal_on in rows:
        key = (number_id, period_start)
        latest[key] = max(latest.get(key, 0), day)
        if day >= final_day:
            told[key] = min(told.get(key, date.max), withdrawal_on)
    return latest, told


def _warn_or_withdraw(ids: list[int], rules: Policy, today: date, report: LifecycleReport) -> None:
    with audited_transaction(reason="Inactivity lifecycle: no top-up or payment."):
        numbers = _locked(ids, status__in=HELD_STATUSES)
        reasons = _skip_reasons(numbers)
        sent, told = _warnings_sent(ids, rules.final_warning_day)
        now = timezone.now()
        warnings = []
        for number in numbers:
            day = day_of_period(number.anchor, today)
            key = (number.pk, number.anchor)
            if day >= rules.hold_days:
                if number.pk in reasons:
                    report.skip(number, "withdrawn", reasons[number.pk])
                    continue
                if key not in told:
                    warnings.append(_warn(number, rules.final_warning_day, rules, today, now))
                    report.warned[rules.final_warning_day] += 1
                    report.held_back[HELD_UNWARNED] += 1
                    continue
                if today < told[key]:  # never before the day the holder was told
                    report.held_back[HELD_NOTICE] += 1
                    continue
                last = local_day(number.anchor)
                apply_move(
                    number,
                    to_status=NumberStatus.WITHDRAWN,
                    actor=None,
                    reason=(
                        f"Withdrawn under the inactivity policy: no top-up or payment for {day} days "
                        f"(last on {last:%d %b %Y}; the number is kept for {rules.hold_days}; the final warning "
                        f"gave {told[key]:%d %b %Y})."
                    ),
                    now=now,
                )
                report.withdrawn += 1
                continue
            due = rules.warning_due(day)
            if due is None or sent.get(key, 0) >= due:
                continue
            if number.pk in reasons:
                report.skip(number, f"warned (day {due})", reasons[number.pk])
                continue
            warnings.append(_warn(number, due, rules, today, now))
            report.warned[due] += 1
        if warnings:  # one insert of warnings, one of messages, each with one of history
            with service_write_scope():
                bulk_create_with_history(warnings, InactivityWarning, default_change_reason="Inactivity warning sent.")
            sms_send_many(
                messages=[_warning_sms(warning) for warning in warnings], purpose=SmsPurpose.INACTIVITY_WARNING
            )


def _warn(number: MobileNumber, warning_day: int, rules: Policy, today: date, now: datetime) -> InactivityWarning:
    """The warning, saved by the caller with the batch's, each with its SMS
    (``_warning_sms``). The day it names is the first the number may go: the end of
    the period, and never sooner than the final notice from today."""
    withdrawal_on = max(
        local_day(number.anchor) + timedelta(days=rules.hold_days), today + timedelta(days=rules.final_notice_days)
    )
    return InactivityWarning(
        number=number,
        subscriber_id=number.holder_id,
        period_start=number.anchor,
        warning_day=warning_day,
        withdrawal_on=withdrawal_on,
        sent_at=now,
    )


def _warning_sms(warning: InactivityWarning) -> Outgoing:
    number = warning.number
    return Outgoing(
        to=number.msisdn,
        dedupe_key=f"inactivity:{number.pk}:{warning.period_start.isoformat()}:day{warning.warning_day}",
        body=(
            f"{format_msisdn(number.msisdn)} has had no top-up or payment since "
            f"{local_day(warning.period_start):%d %b %Y}. Top up before {warning.withdrawal_on:%d %b %Y} to keep "
            "your number; after that it is withdrawn and may go to someone else."
        ),
    )


def _quarantine(ids: list[int], rules: Policy, today: date, report: LifecycleReport) -> None:
    """A withdrawn number starts aging at once: nobody may have it before the quarantine ends."""
    with audited_transaction(reason="Inactivity lifecycle: quarantine."):
        now = timezone.now()
        for number in _locked(ids, status=NumberStatus.WITHDRAWN):
            available_on = today + timedelta(days=rules.quarantine_days)
            apply_move(
                number,
                to_status=NumberStatus.AGING,
                actor=None,
                reason=f"Quarantine: the number ages for {rules.quarantine_days} days, until {available_on:%d %b %Y}.",
                now=now,
            )
            report.quarantined += 1


def _recycle(ids: list[int], cutoff: datetime, rules: Policy, report: LifecycleReport) -> None:
    with audited_transaction(reason="Inactivity lifecycle: end of quarantine."):
        now = timezone.now()
        numbers = _locked(ids, status=NumberStatus.AGING, status_changed_at__lt=cutoff)
        reasons = _skip_reasons(numbers)
        for number in numbers:
            if number.pk in reasons:
                report.skip(number, "recycled", reasons[number.pk])
                continue
            apply_move(
                number,
                to_status=NumberStatus.AVAILABLE,
                actor=None,
                reason=(
                    f"Quarantine over: aged since {local_day(number.status_changed_at):%d %b %Y} "
                    f"({rules.quarantine_days} days); available again."
                ),
                now=now,
            )
            report.recycled += 1
