"""Scoped reads of numbers, holdings and subscribers.

Every list a user sees passes through here, so branch scoping is decided once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import Case, CharField, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.expressions import RawSQL
from django.utils import timezone

from backoffice.msisdn import msisdn_search_query, normalize_msisdn
from staff.selectors import branch_scope

from .choices import (
    OPEN_TRANSFER_STATES,
    OPEN_WITHDRAWAL_STATES,
    ConsentMethod,
    ConsentParty,
    HoldingEndReason,
    TransferState,
    WithdrawalState,
)
from .identity import document_hash, normalize_document_number
from .models import (
    ConsentCode,
    Holding,
    InactivityWarning,
    MobileNumber,
    Subscriber,
    TransferConsent,
    TransferLock,
    TransferRequest,
    WithdrawalRequest,
)
from .registry import open_complaint_by_subscriber, open_complaint_on_number


def number_list(*, user, perm: str = "view_branch_numbers") -> QuerySet[MobileNumber]:
    queryset = MobileNumber.objects.select_related("holder", "branch")
    return branch_scope(user, perm).filter(queryset)


def number_search(*, queryset: QuerySet[MobileNumber], term: str) -> QuerySet[MobileNumber]:
    """Find numbers by MSISDN (any format, whole or its beginning) or holder's document.

    Only index lookups, never a substring scan. The document is resolved first on
    its unique key, so the number query is an OR of two index conditions: a
    subquery inside the OR made PostgreSQL scan every row (282 ms against 20 ms at
    a million numbers, see benchmark_admin).
    """
    query = msisdn_search_query(term)
    if query is not None and query.exact:
        return queryset.filter(msisdn=query.value)
    holder_ids = list(subscribers_by_document_query(term).values_list("pk", flat=True)[:10])
    if query is None:
        return queryset.filter(holder_id__in=holder_ids)
    if not holder_ids:
        return queryset.filter(msisdn__startswith=query.value)
    return queryset.filter(Q(msisdn__startswith=query.value) | Q(holder_id__in=holder_ids))


def holding_list(*, user) -> QuerySet[Holding]:
    queryset = Holding.objects.select_related("number", "subscriber", "started_by", "ended_by")
    return branch_scope(user, "view_branch_numbers").filter(queryset, path="number__branch")


def inactivity_warning_list(*, user) -> QuerySet[InactivityWarning]:
    queryset = InactivityWarning.objects.select_related("number", "subscriber")
    return branch_scope(user, "view_branch_numbers").filter(queryset, path="number__branch")


def subscriber_list(*, user) -> QuerySet[Subscriber]:
    """Subscribers are customers of the operator, not of a branch: any working
    employee may look one up (identity shown masked) to sell or serve."""
    scope = branch_scope(user, "view_branch_numbers")
    if not scope.anywhere:
        return Subscriber.objects.none()
    return Subscriber.objects.select_related("registered_branch", "created_by")


# --- Transfer screens -------------------------------------------------------------
#
# Lists and the approval queue read every row's consent status and risk flags as
# annotations of one query, so a page costs the same number of queries whatever
# its length (tests pin it at two sizes).

# "dispute": the holder's SMS "NO", shown beside the state (a join, no query per row).
TRANSFER_RELATED = ("number", "from_holder", "to_subscriber", "requested_by", "branch", "dispute")
RISK_HOLDER_CHANGE_DAYS = 90
RISK_NEW_SUBSCRIBER_HOURS = 24


def _standing_consent(party: str, now: datetime) -> Exists:
    return Exists(TransferConsent.objects.standing(now).filter(request=OuterRef("pk"), party=party).order_by())


def with_consent_status(queryset: QuerySet[TransferRequest], *, now: datetime | None = None) -> QuerySet:
    """Annotate whether each party's consent stands now (given, not revoked, not lapsed).

    The stored state goes back to "awaiting consent" after a consent lapses only when
    the expiry job next runs, so screens read the consents themselves.
    """
    now = now or timezone.now()
    return queryset.annotate(
        holder_consents=_standing_consent(ConsentParty.CURRENT_HOLDER, now),
        new_subscriber_consents=_standing_consent(ConsentParty.NEW_SUBSCRIBER, now),
    )


def transfer_list(*, user, state: str = "", mine: bool = False) -> QuerySet[TransferRequest]:
    """Transfer requests of the branches ``user`` may see, newest first."""
    queryset = TransferRequest.objects.select_related(*TRANSFER_RELATED)
    queryset = branch_scope(user, "view_branch_numbers").filter(queryset)
    if state:
        queryset = queryset.filter(state=state)
    if mine:
        queryset = queryset.filter(requested_by=user)
    return with_consent_status(queryset).order_by("-created_at", "-id")


def transfer_detail(*, pk: int) -> TransferRequest | None:
    """One request with what its page shows, unscoped: the view decides 403 by its branch."""
    queryset = TransferRequest.objects.select_related(
        *TRANSFER_RELATED, "decided_by", "closed_by", "number__holder", "first_approved_by"
    )
    return with_risk_annotations(with_consent_status(queryset)).filter(pk=pk).first()


def transfer_detail_related(*, transfer: TransferRequest, history_limit: int = 10) -> dict:
    """The rows around a request: its consents, its live one-time code and the
    number's recent history (who changed it, when, why, status and holder)."""
    consents = list(
        TransferConsent.objects.filter(request=transfer)
        .select_related("subscriber", "captured_by", "revoked_by", "confirmed_by")
        .order_by("captured_at", "id")
    )
    live_code = (
        ConsentCode.objects.filter(request=transfer, used_at__isnull=True, superseded_at__isnull=True)
        .order_by("-created_at", "-id")
        .first()
    )
    codes_sent = ConsentCode.objects.filter(request=transfer).count()
    history = list(
        transfer.number.history.select_related("history_user", "holder").order_by("-history_date", "-history_id")[
            :history_limit
        ]
    )
    return {"consents": consents, "live_code": live_code, "codes_sent": codes_sent, "number_history": history}


def approval_queue(*, user, state: str = "") -> QuerySet[TransferRequest]:
    """Open requests of the branches where ``user`` supervises: awaiting approval
    first, then awaiting consent, oldest first within each; with risk annotations."""
    states = [state] if state in OPEN_TRANSFER_STATES else list(OPEN_TRANSFER_STATES)
    # A request past its expiry cannot be approved; the expiry job closes it.
    queryset = TransferRequest.objects.select_related(*TRANSFER_RELATED).filter(
        state__in=states, expires_at__gt=timezone.now()
    )
    queryset = branch_scope(user, "supervise_branch").filter(queryset)
    queryset = with_risk_annotations(with_consent_status(queryset))
    waiting_first = Case(When(state=TransferState.AWAITING_APPROVAL, then=Value(0)), default=Value(1))
    return queryset.order_by(waiting_first, "created_at", "id")


# --- Risk flags -----------------------------------------------------------------


class RiskLevel:
    HIGH = "high"  # needs a second supervisor's approval
    MEDIUM = "medium"
    LOW = "low"


@dataclass(frozen=True)
class RiskFlag:
    code: str
    label: str  # the sentence on the request's page: what was seen and why it matters
    short: str  # the queue's column
    level: str = RiskLevel.MEDIUM

    @property
    def is_high(self) -> bool:
        return self.level == RiskLevel.HIGH


# The requester flag needs "more than a few"; counting further only costs: one
# requester with 36,000 requests in 30 days made the queue take 250 ms (benchmark_admin).
RISK_REQUESTER_COUNT_CAP = 100


def _requester_requests_since(since: datetime) -> RawSQL:
    """How many requests the row's requester made since ``since``, counted up to the cap
    (a LIMIT inside the count, which the ORM cannot say)."""
    table = TransferRequest._meta.db_table  # the model's own name: no input reaches this SQL
    sql = (
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} recent WHERE recent.requested_by_id = {table}.requested_by_id "  # noqa: S608
        "AND recent.created_at >= %s LIMIT %s) capped"
    )
    return RawSQL(  # noqa: S611
        sql,
        (since, RISK_REQUESTER_COUNT_CAP),
        output_field=IntegerField(),
    )


def with_risk_annotations(queryset: QuerySet[TransferRequest], *, now: datetime | None = None) -> QuerySet:
    """Annotate what ``transfer_risk_flags`` reads: correlated subqueries on indexed
    columns, evaluated in the page's one query (never a query per row)."""
    now = now or timezone.now()
    given = TransferConsent.objects.given(now).filter(request=OuterRef("pk")).order_by()
    return queryset.annotate(
        open_complaint=open_complaint_on_number(OuterRef("number")),
        holder_complaint=open_complaint_by_subscriber(OuterRef("from_holder")),
        requester_requests_30d=_requester_requests_since(now - timedelta(days=30)),
        holder_changed_recently=Exists(
            Holding.objects.filter(
                number=OuterRef("number"), started_at__gte=now - timedelta(days=RISK_HOLDER_CHANGE_DAYS)
            ).order_by()
        ),
        number_locked=Exists(TransferLock.objects.filter(number=OuterRef("number"), lifted_at__isnull=True).order_by()),
        holder_consent_method=Subquery(
            given.filter(party=ConsentParty.CURRENT_HOLDER).values("method")[:1], output_field=CharField()
        ),
        requester_captured=Exists(given.filter(captured_by=OuterRef("requested_by"))),
    )


def cooling_off_ends(transfer: TransferRequest) -> datetime | None:
    """When the holder's time to object runs out (None: the holder was never told)."""
    if transfer.holder_notified_at is None:
        return None
    return transfer.holder_notified_at + timedelta(hours=settings.TRANSFER_COOLING_OFF_HOURS)


def _out_of_hours(moment: datetime) -> bool:
    hour = timezone.localtime(moment).hour
    return not settings.TRANSFER_RISK_OPEN_HOUR <= hour < settings.TRANSFER_RISK_CLOSE_HOUR


def transfer_risk_flags(transfer: TransferRequest, *, now: datetime | None = None) -> list[RiskFlag]:
    """The reasons a supervisor should look twice, from a row of ``with_risk_annotations``
    (with ``number`` and ``to_subscriber`` selected), highest first. Computed in
    memory: no query. Any "high" flag makes the approval need a second supervisor."""
    now = now or timezone.now()
    high, medium, low = RiskLevel.HIGH, RiskLevel.MEDIUM, RiskLevel.LOW
    flags: list[RiskFlag] = []
    method = transfer.holder_consent_method
    if method and method != ConsentMethod.SMS_CODE:
        label = (
            f"The holder's consent was taken {ConsentMethod(method).label.lower()}, not by the code sent to the "
            "number: staff can produce that evidence, the holder's SIM they cannot"
        )
        flags.append(RiskFlag("holder_not_by_code", label, "Holder not by code", high))
        ends = cooling_off_ends(transfer)
        if ends is None or ends > now:
            when = f"until {timezone.localtime(ends):%d %b %H:%M}" if ends else "the holder was never told"
            label = f"Cooling-off has not run ({when}): the holder still has time to object to the notice"
            flags.append(RiskFlag("cooling_off", label, "Cooling-off running", high))
    if transfer.open_complaint or transfer.holder_complaint:
        whose = "The number is under" if transfer.open_complaint else "The holder has"
        label = f"{whose} an open complaint: a dispute may be what this transfer settles"
        flags.append(RiskFlag("open_complaint", label, "Open complaint", high))
    if transfer.number_locked:
        label = "The holder has locked the number against transfers"
        flags.append(RiskFlag("locked", label, "Transfer lock", high))
    if transfer.requester_captured:
        label = "The requester captured a consent: the person asking also vouched for a party"
        flags.append(RiskFlag("requester_captured", label, "Requester captured consent", medium))
    topup_days = settings.TRANSFER_RISK_TOPUP_DAYS
    last_topup = transfer.number.last_topup_at
    if last_topup and last_topup >= now - timedelta(days=topup_days):
        label = f"Topped up or used in the last {topup_days} days: a holder still using the number rarely gives it away"
        flags.append(RiskFlag("recent_topup", label, "Recent top-up", medium))
    busy = settings.TRANSFER_RISK_REQUESTS_30D
    if transfer.requester_requests_30d > busy:
        made = transfer.requester_requests_30d
        made = f"{made}+" if made >= RISK_REQUESTER_COUNT_CAP else str(made)
        label = f"Requester made {made} transfer requests in 30 days (more than {busy}): unusually many"
        flags.append(RiskFlag("busy_requester", label, f"Requester: {made} in 30 d", medium))
    if _out_of_hours(transfer.created_at):
        opens, closes = settings.TRANSFER_RISK_OPEN_HOUR, settings.TRANSFER_RISK_CLOSE_HOUR
        label = f"Requested out of hours (branches work {opens}:00 to {closes}:00): fewer colleagues around to notice"
        flags.append(RiskFlag("out_of_hours", label, "Out of hours", medium))
    new_subscriber = transfer.to_subscriber
    if new_subscriber.created_at >= now - timedelta(hours=RISK_NEW_SUBSCRIBER_HOURS):
        if new_subscriber.created_by_id == transfer.requested_by_id:
            label = "The requester registered the new subscriber in the last day: the recipient may be made up"
            flags.append(RiskFlag("new_subscriber_by_requester", label, "Recipient new, by requester", medium))
        else:
            label = "New subscriber registered in the last day: no history with the operator"
            flags.append(RiskFlag("new_subscriber", label, "New subscriber", low))
    if transfer.holder_changed_recently:
        label = f"Holder changed (a holding started) in the last {RISK_HOLDER_CHANGE_DAYS} days"
        flags.append(RiskFlag("recent_holder", label, f"New holder < {RISK_HOLDER_CHANGE_DAYS} d", low))
    return flags


def transfer_risk_flags_now(*, transfer: TransferRequest, now: datetime) -> list[RiskFlag]:
    """The flags of one request read fresh (the approval service decides on these)."""
    queryset = TransferRequest.objects.select_related("number", "to_subscriber").filter(pk=transfer.pk)
    return transfer_risk_flags(with_risk_annotations(queryset, now=now).get(), now=now)


def attach_risk_flags(transfers, *, now: datetime | None = None) -> list[TransferRequest]:
    """Set ``risk_flags`` on each row (for templates) and return them as a list."""
    now = now or timezone.now()
    rows = list(transfers)
    for transfer in rows:
        transfer.risk_flags = transfer_risk_flags(transfer, now=now)
    return rows


def subscriber_by_document(*, document_type: str, document_number: str) -> Subscriber | None:
    """The one subscriber with this identity document (exact match on the unique key)."""
    document = normalize_document_number(document_number)
    if not document:
        return None
    return Subscriber.objects.filter(id_document_type=document_type, id_document_hash=document_hash(document)).first()


def subscribers_by_document_query(term: str) -> QuerySet[Subscriber]:
    """Subscribers whose document is exactly ``term`` (any type): the keyed hash of what was
    typed, matched on the unique key. Only a whole number finds anyone; no prefix, no last four."""
    document = normalize_document_number(term)
    if not document:
        return Subscriber.objects.none()
    return Subscriber.objects.filter(id_document_hash=document_hash(document))


def transfer_consent(*, transfer: TransferRequest, pk: int) -> TransferConsent | None:
    """A consent of this request (never one of another request reached by its id)."""
    return TransferConsent.objects.filter(request=transfer, pk=pk).first()


# --- The disconnection register ---------------------------------------------------


@dataclass(frozen=True)
class DisconnectionAnswer:
    """ "Has this number been permanently disconnected since D?" — as the US
    Reassigned Numbers Database answers it: yes, no, or no data."""

    msisdn: str
    since: date
    answer: str  # "yes", "no" or "no_data"
    last_disconnected_on: date | None
    explanation: str

    YES = "yes"
    NO = "no"
    NO_DATA = "no_data"


def last_disconnection(number_id: int) -> datetime | None:
    """When the number was last withdrawn from a subscriber (holding ended by withdrawal)."""
    return (
        Holding.objects.filter(number_id=number_id, end_reason=HoldingEndReason.WITHDRAWAL)
        .order_by("-ended_at")
        .values_list("ended_at", flat=True)
        .first()
    )


def disconnection_check(*, msisdn: str, since: date) -> DisconnectionAnswer:
    """Answer for a caller (a bank, say) who got consent to text ``msisdn`` on ``since``.

    "No data" when the number is not ours, or our records of it start after that
    day: we cannot vouch for what happened before we held it.
    """
    from .lifecycle import local_day

    e164 = normalize_msisdn(msisdn)
    number = MobileNumber.objects.filter(msisdn=e164).only("pk", "created_at").first()
    if number is None:
        return DisconnectionAnswer(
            e164, since, DisconnectionAnswer.NO_DATA, None, "This number is not in our inventory."
        )
    last = last_disconnection(number.pk)
    last_day = local_day(last) if last else None
    if last_day is not None and last_day >= since:
        return DisconnectionAnswer(
            e164, since, DisconnectionAnswer.YES, last_day, f"Permanently disconnected on {last_day:%d %b %Y}."
        )
    if local_day(number.created_at) > since:
        return DisconnectionAnswer(
            e164,
            since,
            DisconnectionAnswer.NO_DATA,
            last_day,
            f"Our records of this number start on {local_day(number.created_at):%d %b %Y}, after that date.",
        )
    return DisconnectionAnswer(e164, since, DisconnectionAnswer.NO, last_day, "Not disconnected since that date.")


# --- Withdrawal requests ---------------------------------------------------------------


def withdrawal_queue(*, user) -> QuerySet[WithdrawalRequest]:
    """Open withdrawal requests of the branches the user supervises, oldest first,
    those ready for a decision before those still awaiting the holder's code."""
    queryset = (
        WithdrawalRequest.objects.filter(state__in=OPEN_WITHDRAWAL_STATES)
        .select_related("number", "holder", "branch", "requested_by")
        .order_by(
            Case(When(state=WithdrawalState.AWAITING_APPROVAL, then=0), default=1),
            "created_at",
            "id",
        )
    )
    return branch_scope(user, "supervise_branch").filter(queryset)


def withdrawal_detail(*, pk: int) -> WithdrawalRequest | None:
    return (
        WithdrawalRequest.objects.select_related(
            "number",
            "holder",
            "branch",
            "requested_by",
            "decided_by",
            "closed_by",
            "holder_checked_by",
            "holder_check_confirmed_by",
        )
        .filter(pk=pk)
        .first()
    )


def disputes_recent(*, user, days: int = 30) -> QuerySet[TransferRequest]:
    """Requests the holder disputed by SMS in the last ``days``, in the branches
    ``user`` supervises, newest first: the queue shows them beside what waits."""
    since = timezone.now() - timedelta(days=days)
    queryset = TransferRequest.objects.select_related(*TRANSFER_RELATED).filter(dispute__disputed_at__gte=since)
    return branch_scope(user, "supervise_branch").filter(queryset).order_by("-dispute__disputed_at", "-id")
