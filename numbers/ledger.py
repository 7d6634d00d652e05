"""The holding ledger checked against its history: every change of who holds a number
was written by a service, which leaves a history record.

Run by ``manage.py verify_audit`` through audit.ledger, where numbers registers it.

The chain (audit.chain) proves that no history record was altered or removed; this
proves that no ledger row or holder was written without one. A DBA who hands a
number over past the triggers (``session_replication_role = replica``, a dropped
trigger) leaves the live rows saying one thing and the history another:

- a holding with no insert record of the same number, subscriber and start, made
  in a request (services stamp a request id on everything they write);
- a closed holding whose end no history record of it carries;
- a number whose holder is not what its newest history record says, or is not the
  subscriber of an open holding that has its insert record.

Each finding names the number, so the fraud team knows where to look.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, F, OuterRef, Q, Subquery

from .models import Holding, MobileNumber


@dataclass(frozen=True)
class LedgerProblem:
    msisdn: str
    problem: str

    def __str__(self) -> str:
        return f"{self.msisdn}: {self.problem}"


def _inserted_by_service():
    history = Holding.history.model._base_manager
    return history.filter(
        id=OuterRef("pk"),
        history_type="+",
        number_id=OuterRef("number_id"),
        subscriber_id=OuterRef("subscriber_id"),
        started_at=OuterRef("started_at"),
    ).exclude(history_request_id="")


def _msisdns(ids) -> dict[int, str]:
    return dict(MobileNumber._base_manager.filter(pk__in=set(ids)).values_list("pk", "msisdn"))


def verify_ledger(*, limit: int = 1000) -> list[LedgerProblem]:
    """Every problem found (up to ``limit`` of each kind), by number."""
    findings: list[tuple[int, str]] = []
    holdings = Holding._base_manager.order_by("number_id", "pk")

    for pk, number_id, subscriber_id in (
        holdings.annotate(recorded=Exists(_inserted_by_service()))
        .filter(recorded=False)
        .values_list("pk", "number_id", "subscriber_id")[:limit]
    ):
        findings.append(
            (number_id, f"holding #{pk} (subscriber #{subscriber_id}) was written without a service record")
        )

    end_recorded = Holding.history.model._base_manager.filter(id=OuterRef("pk"), ended_at=OuterRef("ended_at"))
    for pk, number_id in (
        holdings.filter(ended_at__isnull=False)
        .annotate(recorded=Exists(end_recorded))
        .filter(recorded=False)
        .values_list("pk", "number_id")[:limit]
    ):
        findings.append((number_id, f"holding #{pk} was closed (or its end rewritten) without a service record"))

    last_recorded_holder = Subquery(
        MobileNumber.history.model._base_manager.filter(id=OuterRef("pk"))
        .order_by("-history_id")
        .values("holder_id")[:1]
    )
    recorded_open_holding = Holding._base_manager.filter(
        number_id=OuterRef("pk"), subscriber_id=OuterRef("holder_id"), ended_at__isnull=True
    ).filter(Exists(_inserted_by_service()))
    numbers = (
        MobileNumber._base_manager.annotate(recorded_holder=last_recorded_holder)
        .filter(
            Q(holder__isnull=False, recorded_holder__isnull=True)
            | Q(holder__isnull=True, recorded_holder__isnull=False)
            | (Q(holder__isnull=False, recorded_holder__isnull=False) & ~Q(holder_id=F("recorded_holder")))
        )
        .order_by("pk")
        .values_list("pk", "holder_id", "recorded_holder")[:limit]
    )
    for pk, holder_id, recorded in numbers:
        findings.append(
            (
                pk,
                f"its holder changed without a service record (holder #{holder_id or '-'}, "
                f"last recorded holder #{recorded or '-'})",
            )
        )
    for pk, holder_id in (
        MobileNumber._base_manager.filter(holder__isnull=False)
        .annotate(recorded=Exists(recorded_open_holding))
        .filter(recorded=False)
        .order_by("pk")
        .values_list("pk", "holder_id")[:limit]
    ):
        findings.append((pk, f"its holder #{holder_id} has no open holding written by a service"))

    names = _msisdns(number_id for number_id, _ in findings)
    return [LedgerProblem(names.get(number_id, f"number #{number_id}"), text) for number_id, text in findings]
