"""The tamper-evident chain every audit record carries.

Each record of a chained table stores ``prev_hash`` (the hash of the record
before it in that table) and ``record_hash`` = HMAC-SHA256, keyed with
``settings.AUDIT_CHAIN_KEY``, of ``prev_hash`` and the record's canonical content:
someone holding only the database cannot re-hash a record they altered (an
unkeyed SHA-256, what the chain used before ``audit/0008``, anyone can recompute).
``audit.ChainHead`` keeps the last hash of every table, and the next record
chains from the head, not from whatever row happens to be last: deleting the
newest records leaves the head pointing at nothing. ``verify_table`` recomputes a
table's chain and names the first broken link; signed checkpoints kept outside
the database (``audit.checkpoints``) catch a table cut back with its head.

Writers take one lock (``audit.context.chain_lock``) so each table's chain has a
single order: the primary-key order of its rows.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
from dataclasses import dataclass
from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import models, transaction
from django.utils import timezone

from . import context

GENESIS = "0" * 64
CHAIN_FIELDS = ("prev_hash", "record_hash")


def _canonical_value(field: models.Field, value):
    if value is None:
        return None
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    try:
        value = field.to_python(value)
    except (ValidationError, TypeError, ValueError):
        return str(value)
    if isinstance(value, datetime.datetime):
        if timezone.is_aware(value):
            value = value.astimezone(datetime.UTC)
        return value.isoformat()
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        places = getattr(field, "decimal_places", None)
        if places is not None:
            value = value.quantize(Decimal(1).scaleb(-places))
        return str(value)
    if isinstance(value, (bool, int, dict, list)):
        return value
    return str(value)


def _unset(field: models.Field, value) -> bool:
    """What a column added to a chained table holds in the rows written before it existed:
    null, blank, or the default the migration filled in."""
    return value in (None, "") or value == _canonical_value(field, field.get_default())


def canonical_content(record: models.Model) -> str:
    """The record as hashed: every stored field but its key and the chain itself, in a fixed form.

    A field the model gained after its table was chained (``added_later``, or a
    ``chain_added_later`` attribute on a chained model) is left out while unset
    (null, blank or its default), so the rows written before it existed keep their
    hashes; once it holds another value, that value is hashed like any other, and
    setting or clearing it still changes the hash.
    """
    opts = record._meta
    added_later = getattr(opts.model, "chain_added_later", frozenset())
    content = {}
    for field in opts.concrete_fields:
        if field.attname in CHAIN_FIELDS or field.primary_key:
            continue
        value = _canonical_value(field, getattr(record, field.attname))
        if field.name in added_later and _unset(field, value):
            continue
        content[field.attname] = value
    return json.dumps({"table": opts.db_table, "fields": content}, sort_keys=True, separators=(",", ":"))


def chain_keys() -> list[bytes]:
    """The chain's keys, oldest first; the last one writes (see ``settings.AUDIT_CHAIN_KEY``)."""
    keys = [key.strip() for key in settings.AUDIT_CHAIN_KEY.split(",") if key.strip()]
    if not keys:
        raise ImproperlyConfigured("AUDIT_CHAIN_KEY is empty: the audit chain needs a key.")
    return [key.encode() for key in reversed(keys)]


def record_hash(prev_hash: str, record: models.Model, *, key: bytes | None = None) -> str:
    """The record's link: HMAC-SHA256 of the link before it and its content, with the writing key."""
    message = f"{prev_hash}\n{canonical_content(record)}".encode()
    return hmac.new(key or chain_keys()[-1], message, hashlib.sha256).hexdigest()


def unkeyed_record_hash(prev_hash: str, record: models.Model) -> str:
    """The link as written before the chain was keyed (migrations up to ``audit/0008`` use it)."""
    return hashlib.sha256(f"{prev_hash}\n{canonical_content(record)}".encode()).hexdigest()


def _head_model():
    return apps.get_model("audit", "ChainHead")


def seal(records: list[models.Model]) -> None:
    """Chain new, unsaved records of one table after the table's head; caller inserts them."""
    if not records:
        return
    context.chain_lock()
    model = type(records[0])
    table = model._meta.db_table
    head = _head_model().objects.filter(table=table).first()
    prev = head.last_hash if head else GENESIS
    for record in records:
        _stamp_from_context(record)
        record.prev_hash = prev
        record.record_hash = prev = record_hash(prev, record)


def advance_head(model: type[models.Model], last: models.Model) -> None:
    head_model = _head_model()
    head_model.objects.bulk_create(
        [head_model(table=model._meta.db_table, last_pk=str(last.pk), last_hash=last.record_hash)],
        update_conflicts=True,
        unique_fields=["table"],
        update_fields=["last_pk", "last_hash"],
    )


def _stamp_from_context(record: models.Model) -> None:
    """Fill who, why and which request from the audit context where the writer left them blank."""
    if hasattr(record, "history_request_id") and not record.history_request_id:
        record.history_request_id = context.current_request_id() or context.new_request_id()
    if not hasattr(record, "history_change_reason"):
        return
    acting = context.current_acting()
    if record.history_user_id is None and acting and getattr(acting.actor, "pk", None):
        record.history_user_id = acting.actor.pk
    if not record.history_change_reason and acting and acting.reason:
        record.history_change_reason = acting.reason
    if not record.actor_label:
        job = context.current_job()
        if record.history_user_id is not None:
            user = acting.actor if acting and getattr(acting.actor, "pk", None) == record.history_user_id else None
            user = user or record.history_user
            record.actor_label = user.get_username()
        elif job:
            record.actor_label = f"job:{job}"


APPEND_ONLY_UPDATE = "Audit records are append-only: they are never updated."
APPEND_ONLY_DELETE = "Audit records are append-only: they are never deleted."


class ChainedQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        if kwargs.get("ignore_conflicts") or kwargs.get("update_conflicts"):
            # A skipped row would leave the head naming a record that was never written;
            # an upsert would rewrite one that was.
            raise ValidationError(
                "Audit records are inserted whole: ignore_conflicts and update_conflicts are refused.",
                code="append_only",
            )
        objs = list(objs)
        if not objs:
            return objs
        with transaction.atomic(using=self.db):
            seal(objs)
            created = super().bulk_create(objs, *args, **kwargs)
            advance_head(self.model, objs[-1])
        return created

    def update(self, **kwargs):
        raise ValidationError(APPEND_ONLY_UPDATE, code="append_only")

    def bulk_update(self, objs, fields, batch_size=None):
        raise ValidationError(APPEND_ONLY_UPDATE, code="append_only")

    def delete(self):
        raise ValidationError(APPEND_ONLY_DELETE, code="append_only")


class ChainedRecord(models.Model):
    """An append-only record on the audit chain."""

    history_request_id = models.CharField(max_length=32, blank=True, default="", db_index=True)
    prev_hash = models.CharField(max_length=64, editable=False, default="")
    record_hash = models.CharField(max_length=64, editable=False, default="")

    objects = ChainedQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding or kwargs.get("force_update") or kwargs.get("update_fields") is not None:
            raise ValidationError(APPEND_ONLY_UPDATE, code="append_only")
        # Always an INSERT: a new instance given an existing key would otherwise UPDATE that row.
        kwargs["force_insert"] = True
        with transaction.atomic(using=kwargs.get("using")):
            seal([self])
            super().save(*args, **kwargs)
            advance_head(type(self), self)

    def delete(self, *args, **kwargs):
        raise ValidationError(APPEND_ONLY_DELETE, code="append_only")


class AuditedHistoricalRecord(ChainedRecord):
    """Base of every simple-history model here: adds the actor's name as it was at the time.

    The name survives a renamed or retired account, and names the job when a job acted.
    """

    actor_label = models.CharField(max_length=150, blank=True, default="", db_index=True)

    class Meta:
        abstract = True


# --- Verification -------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    table: str
    pk: str | None
    problem: str

    def __str__(self) -> str:
        where = f"record {self.pk}" if self.pk is not None else "chain head"
        return f"{self.table}: {where}: {self.problem}"


def chained_models() -> list[type[models.Model]]:
    return sorted(
        (m for m in apps.get_models() if issubclass(m, ChainedRecord)),
        key=lambda m: m._meta.db_table,
    )


@dataclass(frozen=True)
class Expected:
    """What a signed checkpoint says one record of a table is: its place in the table and its hash."""

    checkpoint: str  # how the checkpoint is named in a report: "checkpoint #3 (signed ...)"
    pk: str
    count: int
    hash: str


def verify_table(
    model: type[models.Model], *, chunk_size: int = 2000, expected: list[Expected] = ()
) -> tuple[int, Break | None]:
    """Walk one table's chain in key order; return how many records and the first break, if any.

    Each link must be an HMAC with one of the chain's keys, never an older key than
    the link before it used (a retired key cannot forge a link after the rotation).
    ``expected`` are the table's signed checkpoints (``audit.checkpoints``): the
    record each names must still be there, at its place, with its hash.
    """
    table = model._meta.db_table
    head = _head_model().objects.filter(table=table).first()
    keys = chain_keys()
    era = 0
    anchors: dict[str, list[Expected]] = {}
    for anchor in expected:
        anchors.setdefault(anchor.pk, []).append(anchor)
    prev = GENESIS
    last = None
    head_seen = False
    count = 0
    for record in model._base_manager.order_by("pk").iterator(chunk_size=chunk_size):
        count += 1
        if record.prev_hash != prev:
            if last is None:
                problem = "the chain does not start here: the records before it were removed"
            elif record.prev_hash == GENESIS:
                problem = f"the chain restarts here, after record {last.pk}: it was not written by the portal"
            else:
                problem = (
                    f"its link does not match record {last.pk} before it: a record between them was removed, "
                    f"or record {last.pk} was altered (or this one inserted)"
                )
            return count, Break(table, str(record.pk), problem)
        matched = next(
            (i for i in range(era, len(keys)) if record_hash(prev, record, key=keys[i]) == record.record_hash), None
        )
        if matched is None:
            return count, Break(
                table,
                str(record.pk),
                "its content was altered after it was written (or its hash was made without the chain's key)",
            )
        era = matched
        if head_seen:
            # A well-formed link past the head: appended behind the chain's back.
            return count, Break(
                table, str(record.pk), f"it follows the chain head (record {head.last_pk}): it was inserted by hand"
            )
        for anchor in anchors.pop(str(record.pk), ()):
            if anchor.hash != record.record_hash:
                return count, Break(
                    table,
                    str(record.pk),
                    f"{anchor.checkpoint} signed another hash for it: the table was rewritten since",
                )
            if anchor.count != count:
                return count, Break(
                    table,
                    str(record.pk),
                    f"{anchor.checkpoint} signed it as record number {anchor.count} of the table, it is now "
                    f"number {count}: records before it were removed or inserted since",
                )
        prev = record.record_hash
        last = record
        if head is not None and head.last_pk == str(record.pk) and head.last_hash == record.record_hash:
            head_seen = True
    if anchors:
        anchor = max((a for group in anchors.values() for a in group), key=lambda a: a.count)
        ends = f"it ends at record {last.pk}, {count} records" if last is not None else "it is empty"
        how = (
            "the newest records were removed and the head rewound since"
            if anchor.count > count
            else "records were removed and the chain re-linked since"
        )
        return count, Break(
            table,
            None,
            f"{anchor.checkpoint} signed record {anchor.pk} as its head ({anchor.count} records), which the table "
            f"no longer holds ({ends}): {how}",
        )
    if last is None:
        if head is not None:
            return count, Break(table, None, f"the head names record {head.last_pk}, but the table is empty")
        return count, None
    if head is None:
        return count, Break(table, None, "the table has records but no chain head")
    if not head_seen:
        return count, Break(
            table,
            None,
            f"the newest records were removed: the head names record {head.last_pk}, the table ends at {last.pk}",
        )
    return count, None
