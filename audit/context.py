"""Who acts, why, and in which request or job run: the context every history record is stamped with.

Services set the actor and reason they were called with; the request middleware
and the Celery task signals set the request id that groups everything one click
or one job run changed. History records made by code that cannot stamp its own
instances (guardian grants, m2m rows, cascades) take their who and why from here.
"""

from __future__ import annotations

import functools
import inspect
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import connection, transaction

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Acting:
    actor: Any = None
    reason: str = ""


_request_id: ContextVar[str | None] = ContextVar("audit_request_id", default=None)
_job: ContextVar[str | None] = ContextVar("audit_job", default=None)
_acting: ContextVar[Acting | None] = ContextVar("audit_acting", default=None)
# Set while an audited service runs: a service called by another is not the outermost.
_in_service: ContextVar[bool] = ContextVar("audit_in_service", default=False)

# Writes a refused attempt (audit.refusals.record), registered by the audit app at start-up.
_refusal_recorder: Callable[..., None] | None = None


def register_refusal_recorder(recorder: Callable[..., None]) -> None:
    global _refusal_recorder
    _refusal_recorder = recorder


def record_refusal(*, service: str, error: BaseException, actor: Any = None, target: Any = None) -> None:
    """Keep a refusal made outside a service (a model guard in the shell, the admin's save),
    once: an error a service already recorded is marked and skipped."""
    if _refusal_recorder is None or getattr(error, "_refusal_recorded", False):
        return
    if actor is None and _acting.get() is not None:
        actor = _acting.get().actor
    _refusal_recorder(service=service, actor=actor, target=target, error=error, request_id=_request_id.get())
    error._refusal_recorded = True


def _record_for(fn: Callable, kwargs: dict, error: BaseException, request_id: str) -> None:
    _refusal_recorder(
        service=fn.__name__,
        actor=kwargs.get("actor"),
        target=_target_of(fn, kwargs),
        error=error,
        request_id=request_id,
    )
    error._refusal_recorded = True


def _target_of(fn: Callable, kwargs: dict) -> Any:
    """The object a service was called on: its first model argument that is not the actor."""
    try:
        names = list(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        names = list(kwargs)
    for name in names:
        value = kwargs.get(name)
        if name != "actor" and hasattr(value, "_meta") and getattr(value, "pk", None) is not None:
            return value
    return None


# One advisory lock number for the whole audit chain (see audit.chain).
CHAIN_LOCK_KEY = 0x6175646974  # "audit"


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return _request_id.get()


def current_job() -> str | None:
    return _job.get()


def current_acting() -> Acting | None:
    return _acting.get()


@contextmanager
def request_scope(request_id: str | None = None) -> Iterator[str]:
    """Group every change made inside under one request id (kept if one is already set)."""
    existing = _request_id.get()
    if existing and request_id is None:
        yield existing
        return
    token = _request_id.set(request_id or new_request_id())
    try:
        yield _request_id.get()
    finally:
        _request_id.reset(token)


@contextmanager
def job_scope(name: str, request_id: str | None = None) -> Iterator[str]:
    """A job run: its changes share one request id and name the job as their actor."""
    job_token = _job.set(name)
    try:
        with request_scope(request_id or new_request_id()) as rid:
            yield rid
    finally:
        _job.reset(job_token)


@contextmanager
def acting(*, actor: Any, reason: str | None) -> Iterator[None]:
    token = _acting.set(Acting(actor=actor, reason=(reason or "").strip()))
    try:
        yield
    finally:
        _acting.reset(token)


def chain_lock() -> None:
    """Serialise writers of the audit chain until the transaction ends.

    Taken first thing in every service transaction, before any row lock, so the
    chain has one order and two services never wait on each other in a cycle.
    On SQLite the IMMEDIATE transaction mode already serialises writers.
    """
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])


@contextmanager
def audited_transaction(*, actor: Any = None, reason: str = "") -> Iterator[None]:
    """One audited unit of work: a transaction holding the chain lock, stamping who and why.

    Jobs use it per item, so a long sweep never holds the chain for long.
    """
    with request_scope(), transaction.atomic():
        chain_lock()
        outer = _acting.get()
        actor = actor if actor is not None else (outer.actor if outer else None)
        reason = reason or (outer.reason if outer else "")
        with acting(actor=actor, reason=reason):
            yield


def audited(fn: F) -> F:
    """Run a service as one transaction that holds the chain lock and stamps its changes.

    The ``actor`` and ``reason`` keyword arguments become the who and why of every
    history record the call makes, and the call gets a request id unless it runs
    inside a request or job that already has one.

    A refusal (``audit.refusals`` says which errors are) by the outermost service is
    evidence: once the service's transaction has rolled back, it is recorded in a
    transaction of its own. A service called by another leaves that to its caller,
    which may also catch the refusal and carry on. A refusal the service returns
    instead of raising (so that its counted try commits) is recorded with its changes.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        actor, reason = kwargs.get("actor"), kwargs.get("reason") or ""
        if _in_service.get() or _refusal_recorder is None:
            with audited_transaction(actor=actor, reason=reason):
                return fn(*args, **kwargs)
        token = _in_service.set(True)
        try:
            with request_scope() as request_id:
                try:
                    with audited_transaction(actor=actor, reason=reason):
                        result = fn(*args, **kwargs)
                        if isinstance(result, Exception):
                            _record_for(fn, kwargs, result, request_id)
                        return result
                except Exception as error:
                    _record_for(fn, kwargs, error, request_id)
                    raise
        finally:
            _in_service.reset(token)

    wrapper.__audited__ = True
    return wrapper  # type: ignore[return-value]
