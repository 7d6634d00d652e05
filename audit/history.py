"""simple-history, configured for evidence: every historical table is on the audit chain
and append-only in PostgreSQL."""

from __future__ import annotations

import pgtrigger
from simple_history.manager import HistoricalQuerySet
from simple_history.models import HistoricalRecords

from .chain import AuditedHistoricalRecord, ChainedQuerySet, ChainedRecord
from .triggers import EvidenceProtect, EvidenceTrigger


def append_only_triggers() -> list:
    """PostgreSQL refuses UPDATE, DELETE and TRUNCATE on an audit table, whoever asks:
    ``SET pgtrigger.ignore`` does not lift them (``audit.triggers``)."""
    return [
        EvidenceProtect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        EvidenceTrigger(
            name="no_truncate",
            operation=pgtrigger.Truncate,
            level=pgtrigger.Statement,
            when=pgtrigger.Before,
            func="RAISE EXCEPTION 'audit table % is append-only: it cannot be truncated', TG_TABLE_NAME;",
        ),
    ]


class AuditedHistoricalQuerySet(HistoricalQuerySet, ChainedQuerySet):
    """What ``Model.history`` returns: simple-history's queryset, append-only like the records.

    Without it ``number.history.all().delete()`` or ``.update(...)`` would go around
    the refusals ``ChainedQuerySet`` puts on the historical model's own manager.
    """


class AuditedHistoricalRecords(HistoricalRecords):
    """``HistoricalRecords`` whose tables carry the chain, the request id and the actor's name.

    ``added_later`` names the fields a model gained after its history table was
    already chained. Rows written before the column existed were hashed without
    it; the chain leaves such a field out of a row's hash while it is empty (see
    ``audit.chain.canonical_content``), so adding a column never breaks the
    links already written, and any value it takes later is hashed as usual.
    """

    def __init__(self, *args, added_later: tuple[str, ...] = (), **kwargs):
        kwargs.setdefault("historical_queryset", AuditedHistoricalQuerySet)
        kwargs.setdefault("bases", [AuditedHistoricalRecord])
        kwargs.setdefault("m2m_bases", [ChainedRecord])
        self.added_later = tuple(added_later)
        super().__init__(*args, **kwargs)

    def create_history_model(self, model, inherited):
        unknown = sorted(set(self.added_later) - {field.name for field in model._meta.concrete_fields})
        if unknown:
            raise TypeError(f"{model.__name__}: added_later names no field: {', '.join(unknown)}")
        history_model = super().create_history_model(model, inherited)
        history_model.chain_added_later = frozenset(self.added_later)
        return history_model

    def get_meta_options(self, model):
        options = super().get_meta_options(model)
        options["triggers"] = append_only_triggers()
        return options

    def get_meta_options_m2m(self, through_model):
        options = super().get_meta_options_m2m(through_model)
        options["triggers"] = append_only_triggers()
        return options

    def post_save(self, instance, created, using=None, **kwargs):
        # A login stamps last_login on the user; the access log records logins, not history.
        update_fields = kwargs.get("update_fields")
        if update_fields and set(update_fields) <= {"last_login"}:
            return
        super().post_save(instance, created, using=using, **kwargs)
