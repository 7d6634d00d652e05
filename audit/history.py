"""simple-history, configured for evidence: every historical table is on the audit chain
and append-only in PostgreSQL."""

from __future__ import annotations

import pgtrigger
from simple_history.manager import HistoricalQuerySet
from simple_history.models import HistoricalRecords

from .chain import AuditedHistoricalRecord, ChainedQuerySet, ChainedRecord


def append_only_triggers() -> list:
    """PostgreSQL refuses UPDATE, DELETE and TRUNCATE on an audit table, whoever asks."""
    return [
        pgtrigger.Protect(name="append_only", operation=pgtrigger.Update | pgtrigger.Delete),
        pgtrigger.Trigger(
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
    """``HistoricalRecords`` whose tables carry the chain, the request id and the actor's name."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("historical_queryset", AuditedHistoricalQuerySet)
        kwargs.setdefault("bases", [AuditedHistoricalRecord])
        kwargs.setdefault("m2m_bases", [ChainedRecord])
        super().__init__(*args, **kwargs)

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
