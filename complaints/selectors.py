"""Scoped reads of complaints: the queues, one complaint's timeline, what a user may do.

Staff of a branch see its complaints; the assigned handler acts on them; other
branches do not see them at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from backoffice.msisdn import format_msisdn, msisdn_search_query
from numbers.models import Holding, MobileNumber, Subscriber, TransferRequest
from numbers.selectors import subscribers_by_document_query
from staff.selectors import branch_scope, has_branch_perm

from .choices import LIVE_OFFER_STATES, OPEN_COMPLAINT_STATES, OfferState, RestorationState, SlaStatus
from .models import (
    CompensationOffer,
    Complaint,
    ComplaintNumber,
    EmergencyBlock,
    EmployeeFlag,
    RegulatorCase,
    RegulatorResponse,
    Restoration,
)

COMPLAINT_RELATED = ("complainant", "branch", "assigned_to")


# --- Queues --------------------------------------------------------------------------


def complaint_scope(user):
    return branch_scope(user, "view_branch_numbers")


def complaint_list(
    *, user, mine: bool = False, state: str = "", sla: str = "", category: str = "", q: str = "", now=None
) -> QuerySet[Complaint]:
    """Complaints of the branches ``user`` works in (all, for auditors), newest first."""
    queryset = complaint_scope(user).filter(Complaint.objects.select_related(*COMPLAINT_RELATED))
    if mine:
        queryset = queryset.filter(assigned_to=user)
    if state == "open":
        queryset = queryset.filter(state__in=OPEN_COMPLAINT_STATES)
    elif state:
        queryset = queryset.filter(state=state)
    if category:
        queryset = queryset.filter(category=category)
    if sla:
        queryset = queryset.filter(sla_filter(sla, now=now))
    if q:
        queryset = complaint_search(queryset=queryset, term=q)
    return queryset.order_by("-received_at", "-id")


def _breached(now: datetime) -> Q:
    recorded = Q(acknowledge_breached_at__isnull=False) | Q(resolve_breached_at__isnull=False)
    recorded |= Q(block_breached_at__isnull=False)
    running = Q(acknowledged_at__isnull=True, acknowledge_due_at__lte=now) | Q(resolve_due_at__lte=now)
    running |= Q(first_blocked_at__isnull=True, block_due_at__lte=now)
    return recorded | Q(state__in=OPEN_COMPLAINT_STATES) & running


def _warned(now: datetime) -> Q:
    warned = Q(acknowledged_at__isnull=True, acknowledge_warn_at__lte=now) | Q(resolve_warn_at__lte=now)
    warned |= Q(first_blocked_at__isnull=True, block_warn_at__lte=now)
    return Q(state__in=OPEN_COMPLAINT_STATES) & warned


def sla_filter(status: str, *, now: datetime | None = None) -> Q:
    """The rows ``Complaint.sla_status`` would call ``status``, as one WHERE clause."""
    now = now or timezone.now()
    breached = _breached(now)
    if status == SlaStatus.BREACHED:
        return breached
    if status == SlaStatus.DUE_SOON:
        return _warned(now) & ~breached
    if status == SlaStatus.ON_TIME:
        return Q(state__in=OPEN_COMPLAINT_STATES) & ~_warned(now) & ~breached
    if status == SlaStatus.MET:
        return ~Q(state__in=OPEN_COMPLAINT_STATES) & ~breached
    return Q()


def complaint_search(*, queryset: QuerySet[Complaint], term: str) -> QuerySet[Complaint]:
    """By reference, MSISDN (whole or its beginning), or complainant (name beginning or
    identity document). Index lookups only."""
    term = (term or "").strip()
    if not term:
        return queryset
    if term.upper().startswith("C-"):
        return queryset.filter(reference__startswith=term.upper())
    conditions = Q()
    query = msisdn_search_query(term)
    if query is not None:
        lookup = {"msisdn": query.value} if query.exact else {"msisdn__startswith": query.value}
        numbers = MobileNumber.objects.filter(**lookup)
        links = ComplaintNumber.objects.filter(number__in=numbers.values("pk")[:50], complaint=OuterRef("pk"))
        conditions |= Q(Exists(links))
    who = Q(pk__in=subscribers_by_document_query(term).values("pk"))
    if any(ch.isalpha() for ch in term):
        # A name prefix only for a term with letters: a digits-only term would scan every name.
        who |= Q(full_name__istartswith=term)
    subscribers = Subscriber.objects.filter(who).values_list("pk", flat=True)[:50]
    conditions |= Q(complainant_id__in=list(subscribers))
    return queryset.filter(conditions)


def complaint_detail(*, pk: int) -> Complaint | None:
    """Unscoped: the view decides 404/403 with ``complaint_can_view``."""
    return (
        Complaint.objects.select_related(*COMPLAINT_RELATED, "sla_rule__table", "acknowledged_by", "resolved_by")
        .filter(pk=pk)
        .first()
    )


def complaint_can_view(user, complaint: Complaint) -> bool:
    return complaint_scope(user).allows(complaint.branch_id)


@dataclass
class ComplaintPermissions:
    """What the detail page offers ``user``; the services check again."""

    view: bool = False
    act: bool = False  # the assigned handler
    supervise: bool = False
    take: bool = False  # an unassigned complaint a handler may take

    @property
    def assign(self) -> bool:
        return self.supervise or self.act or self.take

    @property
    def read_only(self) -> bool:
        return not (self.act or self.supervise or self.take)


def complaint_permissions(user, complaint: Complaint) -> ComplaintPermissions:
    from .services._common import is_assigned_handler, is_branch_supervisor

    if not complaint_can_view(user, complaint):
        return ComplaintPermissions()
    return ComplaintPermissions(
        view=True,
        act=is_assigned_handler(user, complaint),
        supervise=is_branch_supervisor(user, complaint),
        take=complaint.assigned_to_id is None
        and has_branch_perm(user, "handle_branch_complaints", complaint.branch_id),
    )


def complaint_handlers(complaint: Complaint) -> QuerySet:
    """Who the complaint may be assigned to: working handlers of its branch."""
    from django.contrib.auth import get_user_model

    from numbers.models import BranchUserObjectPermission
    from staff.choices import EmploymentStatus

    granted = BranchUserObjectPermission.objects.filter(
        content_object_id=complaint.branch_id, permission__codename="handle_branch_complaints"
    ).values("user_id")
    return (
        get_user_model()
        .objects.filter(pk__in=granted, is_active=True)
        .exclude(employee__employment_status__in=[s for s in EmploymentStatus.values if s != EmploymentStatus.ACTIVE])
        .order_by("username")
    )


# --- One complaint's parts -----------------------------------------------------------------


def complaint_numbers(complaint: Complaint) -> list[MobileNumber]:
    """The numbers concerned, each with ``active_block`` set (or None)."""
    numbers = list(
        MobileNumber.objects.filter(complaint_links__complaint=complaint)
        .select_related("holder", "branch")
        .order_by("msisdn")
    )
    blocks = {
        block.number_id: block
        for block in EmergencyBlock.objects.filter(number__in=numbers, lifted_at__isnull=True).select_related(
            "complaint"
        )
    }
    for number in numbers:
        number.active_block = blocks.get(number.pk)
    return numbers


def complaint_offers(complaint: Complaint) -> QuerySet[CompensationOffer]:
    return complaint.offers.select_related(
        "proposed_by", "approved_by", "offered_by", "response_recorded_by", "closed_by"
    ).order_by("proposed_at", "id")


def complaint_restorations(complaint: Complaint) -> QuerySet[Restoration]:
    return complaint.restorations.select_related(
        "number", "from_holder", "to_subscriber", "requested_by", "decided_by"
    ).order_by("requested_at", "id")


def complaint_regulator_cases(complaint: Complaint) -> list[RegulatorCase]:
    responses = Prefetch("responses", queryset=RegulatorResponse.objects.select_related("recorded_by"))
    return list(complaint.regulator_cases.prefetch_related(responses).select_related("recorded_by"))


def complaint_flags(complaint: Complaint) -> QuerySet[EmployeeFlag]:
    return complaint.employee_flags.select_related("employee", "flagged_by", "withdrawn_by")


def complaint_blocks(complaint: Complaint) -> QuerySet[EmergencyBlock]:
    return complaint.blocks.select_related("number", "blocked_by", "lifted_by").order_by("blocked_at", "id")


# --- The timeline ------------------------------------------------------------------------


@dataclass
class TimelineEntry:
    at: datetime
    source: str  # complaint, number, holding, transfer
    title: str
    text: str = ""
    actor: object = None
    number: str = ""
    change_key: str = ""  # for a flaggable staff change: "numbers.holding:<history id>"
    extra: dict = field(default_factory=dict)


# The history tables a complaint's timeline reads (and an employee flag may point to):
# model label -> (model, the field naming the number).
FLAGGABLE_HISTORIES: dict[str, tuple[type, str]] = {
    "numbers.mobilenumber": (MobileNumber, "id"),
    "numbers.holding": (Holding, "number_id"),
    "numbers.transferrequest": (TransferRequest, "number_id"),
}
TIMELINE_HISTORY_LIMIT = 300


def _history_records(complaint: Complaint, number_ids: list[int]):
    since = complaint.received_at - timedelta(days=settings.COMPLAINTS_TIMELINE_LOOKBACK_DAYS)
    for label, (model, number_field) in FLAGGABLE_HISTORIES.items():
        records = (
            model.history.filter(**{f"{number_field}__in": number_ids}, history_date__gte=since)
            .select_related("history_user")
            .order_by("-history_date", "-history_id")[:TIMELINE_HISTORY_LIMIT]
        )
        for record in records:
            yield label, record


def change_summary(label: str, record) -> str:
    """One line saying what a history record changed, for timelines and flags."""
    kind = {"+": "created", "~": "changed", "-": "deleted"}.get(record.history_type, "changed")
    reason = f" ({record.history_change_reason})" if record.history_change_reason else ""
    when = timezone.localtime(record.history_date).strftime("%d %b %Y %H:%M")
    if label == "numbers.mobilenumber":
        what = f"{format_msisdn(record.msisdn)} {kind}: status {record.status}, holder #{record.holder_id or '-'}"
    elif label == "numbers.holding":
        state = "opened" if record.history_type == "+" else ("closed" if record.ended_at else "changed")
        what = (
            f"Holding #{record.id} {state} ({record.get_start_reason_display()}) for subscriber #{record.subscriber_id}"
        )
        if record.ended_at:
            what += f", ended: {record.get_end_reason_display().lower()}"
    else:
        what = f"Transfer request T-{record.id} {kind}: {record.get_state_display().lower()}"
    who = record.history_user.get_username() if record.history_user_id else "system"
    return f"{when} by {who}: {what}{reason}"


def complaint_timeline(complaint: Complaint) -> list[TimelineEntry]:
    """The complaint's own events (notes, blocks, restorations, offers, the regulator,
    flags) and its numbers' history (who changed them, who held them, transfers), in order."""
    entries = [
        TimelineEntry(
            at=event.at,
            source="complaint",
            title=event.get_kind_display(),
            text=event.text,
            actor=event.actor,
            number=format_msisdn(event.number.msisdn) if event.number_id else "",
            extra={"kind": event.kind},
        )
        for event in complaint.events.select_related("actor", "number").order_by("at", "id")
    ]
    number_ids = list(complaint.complaint_numbers.values_list("number_id", flat=True))
    msisdns = dict(MobileNumber.objects.filter(pk__in=number_ids).values_list("pk", "msisdn"))
    for label, record in _history_records(complaint, number_ids):
        number_id = record.id if label == "numbers.mobilenumber" else record.number_id
        entries.append(
            TimelineEntry(
                at=record.history_date,
                source=label.split(".")[1],
                title={"numbers.mobilenumber": "Number", "numbers.holding": "Holding"}.get(label, "Transfer request"),
                text=change_summary(label, record),
                actor=record.history_user,
                number=format_msisdn(msisdns.get(number_id, "")),
                change_key=f"{label}:{record.history_id}" if record.history_user_id else "",
            )
        )
    entries.sort(key=lambda entry: entry.at)
    return entries


def flaggable_changes(complaint: Complaint) -> list[tuple[str, str]]:
    """(key, summary) of every employee's change to the complaint's numbers, newest first."""
    number_ids = list(complaint.complaint_numbers.values_list("number_id", flat=True))
    rows = [
        (record.history_date, f"{label}:{record.history_id}", change_summary(label, record))
        for label, record in _history_records(complaint, number_ids)
        if record.history_user_id
    ]
    return [(key, summary) for _, key, summary in sorted(rows, reverse=True)]


def flaggable_change(*, complaint: Complaint, change: str):
    """The history record ``change`` names, if it is an employee's change to one of the
    complaint's numbers; None otherwise (never a record of another number)."""
    label, _, history_id = (change or "").partition(":")
    if label not in FLAGGABLE_HISTORIES or not history_id.isdigit():
        return None
    model, number_field = FLAGGABLE_HISTORIES[label]
    number_ids = complaint.complaint_numbers.values("number_id")
    return (
        model.history.filter(
            history_id=int(history_id), history_user__isnull=False, **{f"{number_field}__in": number_ids}
        )
        .select_related("history_user")
        .first()
    )


# --- Supervisors' approvals -----------------------------------------------------------------


def restorations_awaiting(*, user) -> QuerySet[Restoration]:
    queryset = Restoration.objects.filter(state=RestorationState.AWAITING_APPROVAL).select_related(
        "complaint", "number", "from_holder", "to_subscriber", "requested_by"
    )
    return branch_scope(user, "supervise_branch").filter(queryset, path="complaint__branch").order_by("requested_at")


def offers_awaiting(*, user) -> QuerySet[CompensationOffer]:
    queryset = CompensationOffer.objects.filter(state=OfferState.AWAITING_APPROVAL).select_related(
        "complaint", "proposed_by"
    )
    return branch_scope(user, "supervise_branch").filter(queryset, path="complaint__branch").order_by("proposed_at")


def live_offer(complaint: Complaint) -> CompensationOffer | None:
    return complaint.offers.filter(state__in=LIVE_OFFER_STATES).first()


# --- For other apps ------------------------------------------------------------------------


def open_complaint_on_number(number_ref) -> Exists:
    """An Exists on an open complaint about the number ``number_ref`` points at
    (used by the approval queue's risk flags and the lifecycle job's skips)."""
    return Exists(
        ComplaintNumber.objects.filter(number=number_ref, complaint__state__in=OPEN_COMPLAINT_STATES).order_by()
    )


def open_complaint_by_subscriber(subscriber_ref) -> Exists:
    """An Exists on an open complaint made by the subscriber ``subscriber_ref`` points at
    (the approval queue's "the holder has an open complaint" flag)."""
    return Exists(Complaint.objects.filter(complainant=subscriber_ref, state__in=OPEN_COMPLAINT_STATES).order_by())


def emergency_block_reference(number: MobileNumber) -> str | None:
    """The reference of the complaint whose open emergency block holds the number, or None
    (a number frozen by a complaint leaves that state only from the complaint)."""
    block = EmergencyBlock.objects.filter(number=number, lifted_at__isnull=True).select_related("complaint").first()
    return None if block is None else block.complaint.reference


def blocked_among(ids: list[int]) -> set[int]:
    """Which of these numbers an open emergency block holds (one query)."""
    return set(
        EmergencyBlock.objects.filter(number_id__in=ids, lifted_at__isnull=True).values_list("number_id", flat=True)
    )


def complained_among(ids: list[int]) -> set[int]:
    """Which of these numbers an open complaint is about (one query)."""
    return set(
        ComplaintNumber.objects.filter(number_id__in=ids, complaint__state__in=OPEN_COMPLAINT_STATES).values_list(
            "number_id", flat=True
        )
    )


def complaints_matching(condition: Q) -> QuerySet[Complaint]:
    """The complaints matching a condition numbers' admin pages build (a number's, a subscriber's)."""
    return Complaint.objects.filter(condition)


# --- Screens ---------------------------------------------------------------------------------
# A part of this complaint by its id (never one of another complaint reached by its id).


def complaint_block(*, complaint: Complaint, pk: int) -> EmergencyBlock | None:
    return complaint.blocks.select_related("number", "complaint").filter(pk=pk).first()


def complaint_restoration(*, complaint: Complaint, pk: int) -> Restoration | None:
    return complaint.restorations.select_related("number", "complaint").filter(pk=pk).first()


def complaint_offer(*, complaint: Complaint, pk: int) -> CompensationOffer | None:
    return complaint.offers.select_related("complaint").filter(pk=pk).first()


def complaint_regulator_case(*, complaint: Complaint, pk: int) -> RegulatorCase | None:
    return complaint.regulator_cases.select_related("complaint").filter(pk=pk).first()


def complaint_flag(*, complaint: Complaint, pk: int) -> EmployeeFlag | None:
    return complaint.employee_flags.select_related("complaint", "employee").filter(pk=pk).first()
