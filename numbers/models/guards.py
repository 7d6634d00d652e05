"""The guard of rows only the services write (ledger, transfers, consents, locks,
withdrawals, identity changes): bulk writes and saves outside the service write scope
are refused. complaints uses it for its own service-written rows."""

from __future__ import annotations

from backoffice.evidence import UndeletableQuerySet, in_service_scope, kept_as_evidence

from ..exceptions import GuardedFieldChange


class ServiceWrittenQuerySet(UndeletableQuerySet):
    """Rows that only the number services write: the ledger, transfer requests,
    consents, one-time codes and transfer locks."""

    def update(self, **kwargs):
        _refuse_ledger_write(self.model)
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, batch_size=None):
        _refuse_ledger_write(self.model)
        return super().bulk_update(objs, fields, batch_size=batch_size)

    def bulk_create(self, objs, *args, **kwargs):
        _refuse_ledger_write(self.model)
        return super().bulk_create(objs, *args, **kwargs)


def _refuse_ledger_write(model=None) -> None:
    if not in_service_scope():
        name = model._meta.verbose_name_plural if model is not None else "holdings"
        raise GuardedFieldChange(
            "%(what)s are written only by %(writer)s.",
            code="ledger_write_refused",
            params={
                "what": "The holding ledger" if name == "holdings" else name.capitalize(),
                "writer": getattr(model, "written_by", "the number services"),
            },
        )


@kept_as_evidence
def guard_service_written(sender, instance, raw: bool = False, **kwargs) -> None:
    """pre_save for service-written models (also covers fixtures and the shell)."""
    _refuse_ledger_write(sender)
