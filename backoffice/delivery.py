"""Outbound messages (SMS to subscribers, notices to staff): stored first, delivered after commit.

A message is a row written in the same transaction as the change it tells about,
so a rollback leaves nothing to send. Delivery happens after commit, on a worker:
it locks the row, hands it to the backend and marks it sent in one transaction,
so two workers (or a retry and the sweep) never send it twice. A failed attempt
is recorded and retried with exponential backoff until ``DELIVERY_MAX_ATTEMPTS``;
then the message stays "given up" for staff to see. A ``dedupe_key`` makes a
logical message (this warning, for this number, in this period) exist once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

from audit.context import acting, chain_lock, request_scope

log = logging.getLogger(__name__)


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    RETRYING = "retrying", "Failed, will retry"
    GAVE_UP = "gave_up", "Failed, gave up"


PENDING_STATUSES = (DeliveryStatus.QUEUED, DeliveryStatus.RETRYING)
DELIVERY_FIELDS = ["status", "attempts", "next_attempt_at", "sent_at", "last_error", "dedupe_key"]


class Deliverable(models.Model):
    """Delivery state shared by every outbound message model."""

    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    dedupe_key = models.CharField(
        max_length=200,
        null=True,
        blank=True,
        unique=True,
        help_text="One logical message, one row: a second send with the same key is ignored.",
    )

    class Meta:
        abstract = True


def delivery_constraints(prefix: str) -> list[models.BaseConstraint]:
    return [
        models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name=f"{prefix}_status_valid"),
        models.CheckConstraint(
            condition=Q(status=DeliveryStatus.SENT, sent_at__isnull=False)
            | (~Q(status=DeliveryStatus.SENT) & Q(sent_at__isnull=True)),
            name=f"{prefix}_sent_has_time",
        ),
    ]


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, 8 ... minutes after the n-th failure, never more than six hours."""
    return min(timedelta(minutes=2 ** max(attempts - 1, 0)), timedelta(hours=6))


def create_once(model: type[Deliverable], *, dedupe_key: str | None, reason: str, **fields) -> Deliverable | None:
    """Store a message unless one with the same key exists; None when it does."""
    if dedupe_key and model.objects.filter(dedupe_key=dedupe_key).exists():
        return None
    message = model(dedupe_key=dedupe_key or None, **fields)
    message._change_reason = reason
    try:
        with transaction.atomic():
            message.save()
    except IntegrityError:
        if dedupe_key and model.objects.filter(dedupe_key=dedupe_key).exists():
            return None  # another transaction stored it first
        raise
    return message


def dispatch_after_commit(task, pk: int) -> None:
    """Hand the message to a worker once the transaction commits. If the broker is
    unreachable the row stays queued and the notifications sweep sends it later."""

    def dispatch() -> None:
        try:
            task.delay(pk)
        except Exception:  # noqa: BLE001 - the sweep is the safety net; the change itself committed
            log.exception("Could not queue delivery of %s #%s; the sweep will retry.", task.name, pk)

    transaction.on_commit(dispatch)


@dataclass(frozen=True)
class Outcome:
    sent: bool
    retry_in: timedelta | None = None
    skipped: bool = False


def deliver(model: type[Deliverable], pk: int, send: Callable[[Deliverable], None]) -> Outcome:
    """Deliver one message at most once; record the attempt either way.

    The row lock is taken before the backend call and held until the result is
    recorded, so a concurrent attempt skips it. The audit chain lock is taken only
    after the call (nothing else locks a message row after it), so a slow gateway
    never holds up the rest of the portal's writes.
    """
    with request_scope(), transaction.atomic():
        message = model.objects.select_for_update(skip_locked=True).filter(pk=pk, status__in=PENDING_STATUSES).first()
        if message is None:
            return Outcome(sent=False, skipped=True)
        now = timezone.now()
        message.attempts += 1
        try:
            send(message)
        except Exception as exc:  # noqa: BLE001 - any backend failure is recorded and retried
            message.last_error = f"{type(exc).__name__}: {exc}"[:500]
            if message.attempts >= settings.DELIVERY_MAX_ATTEMPTS:
                message.status, message.next_attempt_at, retry_in = DeliveryStatus.GAVE_UP, None, None
                reason = f"Delivery failed {message.attempts} times; gave up: {message.last_error}"
            else:
                retry_in = backoff(message.attempts)
                message.status, message.next_attempt_at = DeliveryStatus.RETRYING, now + retry_in
                reason = f"Delivery attempt {message.attempts} failed; retry after {retry_in}: {message.last_error}"
            outcome = Outcome(sent=False, retry_in=retry_in)
        else:
            message.status, message.sent_at, message.next_attempt_at = DeliveryStatus.SENT, now, None
            message.last_error = ""
            reason = f"Delivered (attempt {message.attempts})."
            outcome = Outcome(sent=True)
        chain_lock()
        with acting(actor=None, reason=reason):
            message._change_reason = reason
            message.save()
        return outcome


def deliver_due(
    model: type[Deliverable],
    deliver_one: Callable[[int], Outcome],
    *,
    now=None,
    limit: int = 1000,
    stuck_after: timedelta = timedelta(minutes=5),
) -> int:
    """(Re)try what a worker should send now: failed messages whose backoff passed,
    and queued ones whose dispatch was lost (broker down at commit time). Returns
    how many were sent."""
    now = now or timezone.now()
    due = model.objects.filter(
        Q(status=DeliveryStatus.RETRYING, next_attempt_at__lte=now)
        | Q(status=DeliveryStatus.QUEUED, created_at__lte=now - stuck_after)
    ).order_by("pk")
    return sum(deliver_one(pk).sent for pk in list(due.values_list("pk", flat=True)[:limit]))


def finish_task(task, outcome: Outcome) -> bool:
    """End a delivery task: on a worker, a failure is retried after its recorded
    backoff; eagerly (no broker) the notifications job retries it instead."""
    if outcome.retry_in is not None and not task.request.is_eager:
        raise task.retry(countdown=outcome.retry_in.total_seconds())
    return outcome.sent
