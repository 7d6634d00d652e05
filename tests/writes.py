"""Which writes outlive an action: the check behind ``tests.helpers.refused``.

A refused service must leave nothing behind. Its own transaction (a savepoint in a
test) rolls back what it wrote before raising; a write that outlives the refusal was
made outside it. ``surviving_writes`` watches the SQL the action runs: every
INSERT, UPDATE and DELETE, and the savepoints opened, released and rolled back
around them, and so knows which writes are still there when the action ends.

Writes that outlive a refusal on purpose are not counted: the refusal's own record
(``audit.refusals`` writes it after the service rolled back) and the tables a caller
names (a counted wrong try that commits although the call fails).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import partial

from django.db import connection, transaction

from audit import context
from audit.models import ChainHead

_WRITE = re.compile(
    r"""^\s*(?:INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO|TRUNCATE(?:\s+TABLE)?)
    \s+(?:ONLY\s+)?"?([\w.]+)"?""",
    re.IGNORECASE | re.VERBOSE,
)
_WRITE_IN_CTE = re.compile(r"""\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?([\w.]+)"?""", re.IGNORECASE)
_SAVEPOINT = re.compile(r"""^\s*(SAVEPOINT|RELEASE\s+SAVEPOINT|ROLLBACK\s+TO\s+SAVEPOINT)\s+"?(\w+)"?""", re.IGNORECASE)

_recording_refusal: ContextVar[bool] = ContextVar("tests_recording_refusal", default=False)


@dataclass(frozen=True)
class Write:
    table: str
    sql: str

    def __str__(self) -> str:
        return self.sql if len(self.sql) <= 300 else f"{self.sql[:300]}..."


@dataclass
class Ledger:
    """The writes of one action, by the savepoint they were made in."""

    kept_tables: frozenset[str]
    in_test_transaction: bool  # else a transactional test: commits are real
    surviving: list[Write] = field(default_factory=list)
    _savepoints: list[tuple[str, list[Write]]] = field(default_factory=list)

    def _current(self) -> list[Write]:
        return self._savepoints[-1][1] if self._savepoints else self.surviving

    def _index(self, name: str) -> int | None:
        for index in range(len(self._savepoints) - 1, -1, -1):
            if self._savepoints[index][0] == name:
                return index
        return None

    def savepoint(self, verb: str, name: str) -> None:
        verb = " ".join(verb.upper().split())
        if verb == "SAVEPOINT":
            self._savepoints.append((name, []))
            return
        index = self._index(name)
        if verb == "ROLLBACK TO SAVEPOINT":
            if index is None:  # a savepoint older than the action: all of it is gone
                self._savepoints.clear()
                self.surviving.clear()
                return
            del self._savepoints[index + 1 :]  # later savepoints go with it; it stays open
            self._savepoints[index][1].clear()
            return
        # RELEASE SAVEPOINT: its writes (and those of later savepoints) join the enclosing one.
        start = 0 if index is None else index
        released = [write for _, writes in self._savepoints[start:] for write in writes]
        del self._savepoints[start:]
        self._current().extend(released)

    def write(self, write: Write) -> None:
        if write.table in self.kept_tables or _recording_refusal.get():
            return
        if connection.get_autocommit():
            self.surviving.append(write)  # committed by itself
        elif not self.in_test_transaction:
            # A transaction the action began itself (a transactional test): the write
            # survives if that transaction commits.
            transaction.on_commit(partial(self.surviving.append, write))
        else:
            self._current().append(write)


def _table_written(sql: str) -> str | None:
    match = _WRITE.match(sql)
    if match:
        return match.group(1)
    if re.match(r"^\s*WITH\b", sql, re.IGNORECASE):
        match = _WRITE_IN_CTE.search(sql)
        return match.group(1) if match else None
    return None


@contextmanager
def _refusals_recorded_on_purpose() -> Iterator[None]:
    """Mark the writes of the refusal recorder (audit.refusals.record) while it runs."""
    recorder = context._refusal_recorder
    if recorder is None:
        yield
        return

    def recording(**kwargs):
        token = _recording_refusal.set(True)
        try:
            return recorder(**kwargs)
        finally:
            _recording_refusal.reset(token)

    context.register_refusal_recorder(recording)
    try:
        yield
    finally:
        context.register_refusal_recorder(recorder)


def _tables_of(kept: Iterable[type]) -> frozenset[str]:
    """The kept models' tables, their history's, and the chain head the history moves."""
    models = list(kept)
    models += [model.history.model for model in models if hasattr(model, "history")]
    if models:
        models.append(ChainHead)
    return frozenset(model._meta.db_table for model in models)


@contextmanager
def surviving_writes(*, kept: Iterable[type] = ()) -> Iterator[Ledger]:
    """Watch the block; ``.surviving`` then lists the writes it left behind.

    Inside the test's transaction (the usual case) a write survives unless a savepoint
    opened in the block rolls it back. In a transactional test a write survives when
    it commits: at once in autocommit, or when the block's own transaction commits.
    ``kept`` names models whose writes may survive on purpose (with their history).
    """
    ledger = Ledger(kept_tables=_tables_of(kept), in_test_transaction=connection.in_atomic_block)

    def watch(execute, sql, params, many, context_):
        text = sql if isinstance(sql, str) else str(sql)
        savepoint = _SAVEPOINT.match(text)
        result = execute(sql, params, many, context_)
        if savepoint and ledger.in_test_transaction:
            ledger.savepoint(savepoint.group(1), savepoint.group(2))
        table = _table_written(text)
        if table is not None:
            ledger.write(Write(table=table, sql=text))
        return result

    with _refusals_recorded_on_purpose(), connection.execute_wrapper(watch):
        yield ledger
