"""What every app's evidence stands on: rows that are never deleted, and the write
scope inside which only a service may change a guarded field.

Shared infrastructure (the bottom floor): numbers, complaints, sms, staff and audit
models build on it; it knows none of them.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import models, transaction

from audit.context import record_refusal

from .exceptions import DeletionRefused, GuardedFieldChange

# --- The service-layer write scope --------------------------------------------

_service_write: ContextVar[bool] = ContextVar("numbers_service_write", default=False)


@contextmanager
def service_write_scope():
    """Opened only by numbers.services around the writes they have checked."""
    token = _service_write.set(True)
    try:
        yield
    finally:
        _service_write.reset(token)


def in_service_scope() -> bool:
    return _service_write.get()


def kept_as_evidence(guard):
    """A guard's refusal outside any transaction (the shell, a script) is kept as a refused
    attempt; inside one, whoever rolls it back keeps it (the admin: backoffice.adminkit)."""

    @functools.wraps(guard)
    def wrapper(sender, instance, *args, **kwargs):
        try:
            return guard(sender, instance, *args, **kwargs)
        except GuardedFieldChange as error:
            if not transaction.get_connection().in_atomic_block:
                target = instance if instance.pk is not None else None
                record_refusal(service=f"{sender._meta.label_lower} save", error=error, target=target)
            raise

    return wrapper


class UndeletableQuerySet(models.QuerySet):
    """Evidence is never hard-deleted, not even in bulk."""

    def delete(self):
        raise DeletionRefused(
            "%(model)s records are never deleted; change their status instead.",
            code="no_delete",
            params={"model": self.model._meta.verbose_name.capitalize()},
        )


class UndeletableModel(models.Model):
    class Meta:
        abstract = True

    def delete(self, *args, **kwargs):
        raise DeletionRefused(
            "%(model)s records are never deleted; change their status instead.",
            code="no_delete",
            params={"model": self._meta.verbose_name.capitalize()},
        )
