"""What the audit review reads: an employee's changes across every history table,
an object's full history, one request's changes, the access log and the cases.

Every history record becomes an ``Entry`` with its field-by-field changes, worked
out against the previous record of the same object. Reads are batched: a page
of entries costs one query to choose the page, then a fixed number per history
table on the page (its records, their predecessors, their many-to-many rows, the
objects they describe) and one per related model, however many entries it holds.

Why one module of ~680 lines: the timeline, an object's history and a request's
changes share that one batched read of ``Entry`` rows; split apart, each screen
would carry its own copy of the batching, and the query-count tests pin it once.
"""

from __future__ import annotations

import datetime
import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import CharField, Count, OuterRef, Prefetch, Q, Subquery, Value
from django.urls import reverse
from django.utils import timezone
from django.utils.text import capfirst

from audit.chain import CHAIN_FIELDS, AuditedHistoricalRecord, chained_models
from audit.choices import CaseState
from audit.models import AccessEvent, DisciplinaryCase, RefusedAttempt
from backoffice.converters import MAX_OBJECT_ID
from backoffice.screens import page_number

PER_PAGE = 200
OBJECT_HISTORY_LIMIT = 500
REQUEST_LIMIT = 500
ACCESS_LIMIT = 200
ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}
ACTION_CHOICES = [("+", "Created"), ("~", "Changed"), ("-", "Deleted")]

# The history model's own bookkeeping: shown as when/who/why/request, never as a change.
_BOOKKEEPING = {
    "history_id",
    "history_date",
    "history_change_reason",
    "history_type",
    "history_user",
    "history_relation",
    "actor_label",
    "history_request_id",
    *CHAIN_FIELDS,
}
# Stored secrets: that they changed is evidence, what they are is not shown.
# A document's keyed hash is shown by the last characters beside it (numbers/identity.py).
_SECRET_FIELDS = {"password", "code_hash", "id_document_hash", "new_document_hash"}
REQUEST_ID_RE = re.compile(r"^[0-9A-Za-z_-]{1,64}$")


# --- The history tables -----------------------------------------------------------------


@dataclass(frozen=True)
class M2MHistory:
    """A many-to-many field of a tracked model and the table of its snapshots."""

    name: str
    verbose_name: str
    model: type[models.Model]  # the m2m history model (one row per related object per record)
    target_attname: str  # its column naming the related object
    target: type[models.Model]


@dataclass(frozen=True)
class HistoryTable:
    label: str  # the tracked model's label, e.g. "numbers.transferrequest"
    model: type[models.Model]  # its history model
    tracked: type[models.Model]
    pk_attname: str  # the tracked model's key, as a column of the history model
    m2m: tuple[M2MHistory, ...] = ()

    @property
    def verbose_name(self) -> str:
        return str(self.tracked._meta.verbose_name)

    @property
    def fields(self) -> list[models.Field]:
        return [
            f for f in self.model._meta.concrete_fields if f.name not in _BOOKKEEPING and f.attname != self.pk_attname
        ]


@cache
def history_tables() -> dict[str, HistoryTable]:
    """Every tracked model's history table, by the tracked model's label."""
    parents = [m for m in chained_models() if issubclass(m, AuditedHistoricalRecord)]
    m2m_by_parent: dict[type, list[M2MHistory]] = defaultdict(list)
    for m2m_model in chained_models():
        if m2m_model in parents or not any(f.name == "m2m_history_id" for f in m2m_model._meta.fields):
            continue
        parent = m2m_model._meta.get_field("history").related_model
        through = m2m_model.instance_type
        for m2m_field in parent.instance_type._meta.many_to_many:
            if m2m_field.remote_field.through is through:
                target_attname = m2m_model._meta.get_field(m2m_field.m2m_reverse_field_name()).attname
                m2m_by_parent[parent].append(
                    M2MHistory(
                        name=m2m_field.name,
                        verbose_name=capfirst(str(m2m_field.verbose_name)),
                        model=m2m_model,
                        target_attname=target_attname,
                        target=m2m_field.related_model,
                    )
                )
    tables = {}
    for model in parents:
        tracked = model.instance_type
        tables[tracked._meta.label_lower] = HistoryTable(
            label=tracked._meta.label_lower,
            model=model,
            tracked=tracked,
            pk_attname=tracked._meta.pk.attname,
            m2m=tuple(sorted(m2m_by_parent.get(model, ()), key=lambda m: m.name)),
        )
    return dict(sorted(tables.items()))


def model_choices() -> list[tuple[str, str]]:
    """(label, "App: verbose name") of every model with a history, for the model filter."""
    return sorted(
        (
            (label, f"{t.tracked._meta.app_config.verbose_name}: {capfirst(t.verbose_name)}")
            for label, t in history_tables().items()
        ),
        key=lambda c: c[1].lower(),
    )


def table_for(label: str) -> HistoryTable | None:
    return history_tables().get((label or "").lower())


# --- Entries ---------------------------------------------------------------------------


@dataclass
class Change:
    field: str
    before: str
    after: str


@dataclass
class Entry:
    when: datetime.datetime
    action: str  # "+", "~" or "-"
    model_label: str
    model_name: str
    object_id: str
    object_str: str
    object_exists: bool
    changes: list[Change]
    reason: str
    request_id: str
    actor_label: str
    history_id: int

    @property
    def action_name(self) -> str:
        return ACTIONS.get(self.action, "changed")

    @property
    def key(self) -> str:
        """As complaints name a change: "numbers.holding:<history id>"."""
        return f"{self.model_label}:{self.history_id}"

    @property
    def object_url(self) -> str:
        return reverse("audit:object", args=[self.model_label, self.object_id])

    @property
    def request_url(self) -> str:
        return reverse("audit:request", args=[self.request_id]) if self.request_id else ""


def _forward_fks(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if f.is_relation and f.many_to_one]


def _bulk(model: type[models.Model], ids: Iterable) -> dict:
    """Objects by key in one query; their own foreign keys joined, so str() costs nothing more."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return model._base_manager.select_related(*_forward_fks(model)).in_bulk(ids)


def user_label(user) -> str:
    full = user.get_full_name()
    return f"{full} ({user.get_username()})" if full else user.get_username()


class _Labels:
    """Names of related objects, looked up once per model for a whole page."""

    def __init__(self):
        self.wanted: dict[type, set] = defaultdict(set)
        self.found: dict[type, dict] = {}

    def want(self, model, pk) -> None:
        if pk is not None:
            self.wanted[model].add(pk)

    def load(self) -> None:
        for model, ids in self.wanted.items():
            self.found[model] = _bulk(model, ids)

    def label(self, model, pk) -> str:
        if pk is None:
            return ""
        obj = self.found.get(model, {}).get(pk)
        if obj is None:
            return f"{capfirst(model._meta.verbose_name)} #{pk} (no longer exists)"
        if model is get_user_model():
            return user_label(obj)
        return f"{obj} (#{pk})"


def _format(field: models.Field, value, labels: _Labels) -> str:
    if value is None or value == "":
        return ""
    if field.name in _SECRET_FIELDS:
        return "(hidden)"
    if field.is_relation:
        return labels.label(field.related_model, value)
    if field.choices:
        return str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S") if timezone.is_aware(value) else str(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _m2m_label(m2m: M2MHistory, pk, labels: _Labels) -> str:
    obj = labels.found.get(m2m.target, {}).get(pk)
    if obj is None:
        return f"#{pk}"
    return user_label(obj) if m2m.target is get_user_model() else str(obj)


def _predecessor_subquery(table: HistoryTable) -> Subquery:
    previous = table.model._base_manager.filter(
        **{table.pk_attname: OuterRef(table.pk_attname)}, history_id__lt=OuterRef("history_id")
    ).order_by("-history_id")
    return Subquery(previous.values("history_id")[:1])


def _entries_of(table: HistoryTable, history_ids: list[int], labels: _Labels) -> list:
    """The records with their predecessors and m2m snapshots: three queries plus one per m2m field.

    Returns (record, build) pairs: ``build(record)`` makes the Entry once the labels are loaded."""
    records = list(
        table.model._base_manager.filter(history_id__in=history_ids).annotate(
            prev_history_id=_predecessor_subquery(table)
        )
    )
    prev_ids = [r.prev_history_id for r in records if r.prev_history_id]
    previous = table.model._base_manager.in_bulk(prev_ids) if prev_ids else {}
    snapshots: dict[str, dict[int, set]] = {}
    for m2m in table.m2m:
        sets: dict[int, set] = defaultdict(set)
        rows = m2m.model._base_manager.filter(history_id__in=[*history_ids, *prev_ids]).values_list(
            "history_id", m2m.target_attname
        )
        for history_id, target_id in rows:
            sets[history_id].add(target_id)
            labels.want(m2m.target, target_id)
        snapshots[m2m.name] = sets
    fields = table.fields
    for record in records:
        prev = previous.get(record.prev_history_id)
        for f in fields:
            if f.is_relation:
                labels.want(f.related_model, getattr(record, f.attname))
                if prev is not None:
                    labels.want(f.related_model, getattr(prev, f.attname))
    object_ids = {getattr(r, table.pk_attname) for r in records}
    live = _bulk(table.tracked, object_ids)

    def build(record) -> Entry:
        prev = previous.get(record.prev_history_id)
        changes = []
        for f in fields:
            now_value = getattr(record, f.attname)
            if record.history_type == "-":
                if now_value not in (None, ""):
                    changes.append(Change(capfirst(str(f.verbose_name)), _format(f, now_value, labels), ""))
                continue
            before_value = getattr(prev, f.attname) if prev is not None else None
            if prev is None and now_value in (None, ""):
                continue
            if prev is not None and before_value == now_value:
                continue
            changes.append(
                Change(capfirst(str(f.verbose_name)), _format(f, before_value, labels), _format(f, now_value, labels))
            )
        if record.history_type != "-":
            for m2m in table.m2m:
                sets = snapshots[m2m.name]
                now_set = sets.get(record.history_id, set())
                before_set = sets.get(prev.history_id, set()) if prev is not None else set()
                removed = sorted(_m2m_label(m2m, pk, labels) for pk in before_set - now_set)
                added = sorted(_m2m_label(m2m, pk, labels) for pk in now_set - before_set)
                if removed or added:
                    changes.append(
                        Change(
                            m2m.verbose_name,
                            f"removed: {', '.join(removed)}" if removed else "",
                            f"added: {', '.join(added)}" if added else "",
                        )
                    )
        object_id = getattr(record, table.pk_attname)
        obj = live.get(object_id)
        return Entry(
            when=record.history_date,
            action=record.history_type,
            model_label=table.label,
            model_name=capfirst(table.verbose_name),
            object_id=str(object_id),
            object_str=str(obj) if obj is not None else f"{capfirst(table.verbose_name)} #{object_id}",
            object_exists=obj is not None,
            changes=changes,
            reason=record.history_change_reason or "",
            request_id=record.history_request_id or "",
            actor_label=record.actor_label or "",
            history_id=record.history_id,
        )

    return [(record, build) for record in records]


def entries_for(keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Entry]:
    """Entries for (table label, history id) pairs, batched per table."""
    by_table: dict[str, list[int]] = defaultdict(list)
    for label, history_id in keys:
        if label in history_tables():
            by_table[label].append(history_id)
    labels = _Labels()
    pending = []
    for label, ids in by_table.items():
        pending.extend(_entries_of(history_tables()[label], ids, labels))
    labels.load()
    return {(entry.model_label, entry.history_id): entry for entry in (build(record) for record, build in pending)}


def _page(sources: list[tuple[HistoryTable, Q]], *, newest_first: bool, offset: int, limit: int):
    """One query over every source table for the page's (table, history id); then the entries."""
    querysets = [
        table.model._base_manager.filter(condition)
        .order_by()
        .annotate(src=Value(table.label, output_field=CharField()))
        .values_list("src", "history_id", "history_date")
        for table, condition in sources
    ]
    if not querysets:
        return [], False
    combined = querysets[0].union(*querysets[1:], all=True) if len(querysets) > 1 else querysets[0]
    sign = "-" if newest_first else ""
    keys = list(
        combined.order_by(f"{sign}history_date", f"{sign}src", f"{sign}history_id")[offset : offset + limit + 1]
    )
    more = len(keys) > limit
    keys = keys[:limit]
    entries = entries_for((label, history_id) for label, history_id, _ in keys)
    return [entries[(label, history_id)] for label, history_id, _ in keys], more


# --- An employee's changes -------------------------------------------------------------


@dataclass
class TimelinePage:
    entries: list[Entry]
    number: int
    per_page: int
    has_more: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def employee_timeline(
    user,
    since: datetime.datetime,
    until: datetime.datetime,
    models: Iterable[str] | None = None,
    actions: Iterable[str] | None = None,
    *,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> TimelinePage:
    """Everything ``user`` changed in [since, until), newest first, a page at a time."""
    tables = history_tables()
    chosen = [tables[label] for label in models if label in tables] if models else list(tables.values())
    condition = Q(history_user_id=user.pk, history_date__gte=since, history_date__lt=until)
    actions = [a for a in (actions or ()) if a in ACTIONS]
    if actions:
        condition &= Q(history_type__in=actions)
    page = page_number(page)
    entries, more = _page(
        [(table, condition) for table in chosen], newest_first=True, offset=(page - 1) * per_page, limit=per_page
    )
    return TimelinePage(entries=entries, number=page, per_page=per_page, has_more=more)


def employee_timeline_all(user, since, until, models=None, actions=None, *, limit: int = 10_000):
    """The whole period, page by page (for exports); stops after ``limit`` entries."""
    page, seen = 1, 0
    while True:
        result = employee_timeline(user, since, until, models, actions, page=page)
        for entry in result.entries:
            if seen >= limit:
                return
            seen += 1
            yield entry
        if not result.has_more:
            return
        page += 1


def access_events(user, since, until, *, limit: int = ACCESS_LIMIT) -> tuple[list[AccessEvent], bool]:
    """Sign-ins, failed sign-ins (also under the user's name when typed) and sign-outs."""
    rows = list(
        AccessEvent.objects.filter(Q(user=user) | Q(user__isnull=True, username=user.get_username()))
        .filter(at__gte=since, at__lt=until)
        .order_by("-at", "-id")[: limit + 1]
    )
    return rows[:limit], len(rows) > limit


def refused_attempts(user, since, until, *, limit: int = ACCESS_LIMIT) -> tuple[list[RefusedAttempt], bool]:
    """What the services refused ``user`` in the period, newest first: evidence of attempts."""
    rows = list(
        RefusedAttempt.objects.filter(actor=user, at__gte=since, at__lt=until).order_by("-at", "-id")[: limit + 1]
    )
    return rows[:limit], len(rows) > limit


def request_refusals(request_id: str) -> list[RefusedAttempt]:
    if not REQUEST_ID_RE.match(request_id or ""):
        return []
    return list(RefusedAttempt.objects.filter(history_request_id=request_id).order_by("at", "id"))


@dataclass
class EmployeeSummary:
    user: object
    employee: object  # staff.Employee or None
    branches: list
    roles: list[str]
    suspension: object  # the open staff.Suspension or None
    roles_before_suspension: list[str]
    flags: list
    cases: list
    open_case: object  # the case not yet closed, or None

    @property
    def name(self) -> str:
        return user_label(self.user)

    @property
    def employment_status(self) -> str:
        return self.employee.get_employment_status_display() if self.employee else "not an employee record"

    @property
    def live_flags(self) -> list:
        return [flag for flag in self.flags if flag.withdrawn_at is None]


def employee_summary(user) -> EmployeeSummary:
    from complaints.models import EmployeeFlag
    from staff.models import Employee, Suspension

    employee = Employee.objects.filter(user=user).prefetch_related("branches").first()
    suspension = (
        Suspension.objects.filter(user=user, reinstated_at__isnull=True)
        .select_related("suspended_by", "case")
        .prefetch_related("groups_removed")
        .first()
    )
    flags = list(
        EmployeeFlag.objects.filter(employee=user)
        .select_related("complaint", "flagged_by", "withdrawn_by")
        .order_by("-flagged_at", "-id")
    )
    cases = list(DisciplinaryCase.objects.filter(employee=user).select_related("opened_by", "closed_by"))
    return EmployeeSummary(
        user=user,
        employee=employee,
        branches=list(employee.branches.all()) if employee else [],
        roles=list(user.groups.order_by("name").values_list("name", flat=True)),
        suspension=suspension,
        roles_before_suspension=sorted(g.name for g in suspension.groups_removed.all()) if suspension else [],
        flags=flags,
        cases=cases,
        open_case=next((case for case in cases if case.state != CaseState.CLOSED), None),
    )


def reviewable_users():
    """Everyone whose changes may be reviewed, the retired and suspended included."""
    return get_user_model()._default_manager.order_by("username")


# --- An object's history, a request's changes -----------------------------------------


# A number's story is also in the records that point at it.
NUMBER_RELATED = (
    ("numbers.holding", "number_id"),
    ("numbers.transferrequest", "number_id"),
    ("numbers.transferconsent", "request__number_id"),
    ("numbers.transferlock", "number_id"),
)


@dataclass
class ObjectHistory:
    table: HistoryTable
    object_id: str
    obj: object  # the live object, or None
    entries: list[Entry]
    has_more: bool
    related: list[Entry] = field(default_factory=list)
    related_more: bool = False
    holdings: list = field(default_factory=list)

    @property
    def title(self) -> str:
        return str(self.obj) if self.obj is not None else f"{capfirst(self.table.verbose_name)} #{self.object_id}"


def _typed_pk(table: HistoryTable, pk: str):
    """The id as the model's key, or None: text that is no key, and numbers beyond any
    id (40 digits overflow the driver's integer), are simply not found."""
    try:
        key = table.tracked._meta.pk.to_python(pk)
    except Exception:  # noqa: BLE001 - a key that cannot be this model's is simply not found
        return None
    if isinstance(key, int) and not 0 < key <= MAX_OBJECT_ID:
        return None
    return key


def object_history(model_label: str, pk: str) -> ObjectHistory | None:
    """Every history record of one object, by anyone, newest first (None if never recorded)."""
    table = table_for(model_label)
    if table is None:
        return None
    key = _typed_pk(table, pk)
    if key is None:
        return None
    entries, more = _page(
        [(table, Q(**{table.pk_attname: key}))], newest_first=True, offset=0, limit=OBJECT_HISTORY_LIMIT
    )
    obj = _bulk(table.tracked, [key]).get(key)
    if not entries and obj is None:
        return None
    result = ObjectHistory(table=table, object_id=str(key), obj=obj, entries=entries, has_more=more)
    if table.label == "numbers.mobilenumber":
        from numbers.models import Holding

        tables = history_tables()
        sources = [(tables[label], Q(**{path: key})) for label, path in NUMBER_RELATED if label in tables]
        result.related, result.related_more = _page(sources, newest_first=True, offset=0, limit=OBJECT_HISTORY_LIMIT)
        result.holdings = list(
            Holding.objects.filter(number_id=key)
            .select_related("subscriber", "started_by", "ended_by", "transfer_request")
            .order_by("-started_at", "-id")
        )
    return result


def number_id_by_msisdn(msisdn: str) -> int | None:
    """The number (live, or known only to its history) with this MSISDN in E.164 form."""
    from numbers.models import MobileNumber

    found = MobileNumber.objects.filter(msisdn=msisdn).values_list("pk", flat=True).first()
    if found is None:
        found = MobileNumber.history.filter(msisdn=msisdn).order_by("-history_id").values_list("id", flat=True).first()
    return found


def request_changes(request_id: str) -> tuple[list[Entry], bool, list[AccessEvent]]:
    """Everything one request or job run changed, in the order it happened."""
    if not REQUEST_ID_RE.match(request_id or ""):
        return [], False, []
    condition = Q(history_request_id=request_id)
    entries, more = _page(
        [(table, condition) for table in history_tables().values()],
        newest_first=False,
        offset=0,
        limit=REQUEST_LIMIT,
    )
    events = list(AccessEvent.objects.filter(history_request_id=request_id).select_related("user").order_by("at", "id"))
    return entries, more, events


# --- Disciplinary cases ----------------------------------------------------------------


def case_list(*, state: str = ""):
    queryset = DisciplinaryCase.objects.select_related("employee", "opened_by", "closed_by").annotate(
        flag_count=Count("flags", distinct=True), complaint_count=Count("complaints", distinct=True)
    )
    if state:
        queryset = queryset.filter(state=state)
    return queryset.order_by("-opened_at", "-id")


def case_detail(pk: int) -> DisciplinaryCase | None:
    from complaints.models import EmployeeFlag
    from staff.models import Suspension

    case = (
        DisciplinaryCase.objects.select_related("employee", "opened_by", "closed_by")
        .prefetch_related(
            "complaints",
            Prefetch(
                "flags",
                queryset=EmployeeFlag.objects.select_related("complaint", "flagged_by", "withdrawn_by").order_by(
                    "-flagged_at", "-id"
                ),
            ),
            "notes__author",
            Prefetch(
                "suspensions",
                queryset=Suspension.objects.select_related("suspended_by", "reinstated_by").prefetch_related(
                    "groups_removed"
                ),
            ),
        )
        .filter(pk=pk)
        .first()
    )
    if case is None:
        return None
    flagged = entries_for((flag.change_model, flag.change_history_id) for flag in case.flags.all())
    for flag in case.flags.all():
        flag.change_entry = flagged.get((flag.change_model, flag.change_history_id))
    return case


def flags_for_grounds(user):
    """The employee's standing flags: what a case may be opened on."""
    from complaints.models import EmployeeFlag

    return EmployeeFlag.objects.filter(employee=user, withdrawn_at__isnull=True).select_related("complaint")


def complaints_for_grounds(user):
    from complaints.models import Complaint

    return Complaint.objects.filter(employee_flags__employee=user, employee_flags__withdrawn_at__isnull=True).distinct()


def tables_of(entries: Iterable[Entry]) -> list[HistoryTable]:
    labels = sorted({entry.model_label for entry in entries})
    return [history_tables()[label] for label in labels]
