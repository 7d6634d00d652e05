"""Helpers shared by the audit tests: a history table to tamper with, raw-SQL tampering, verify_audit's answers."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction

from numbers.models import MobileNumber
from numbers.services import number_create

ROOT = Path(__file__).resolve().parents[2]
History = MobileNumber.history.model
TABLE = History._meta.db_table


def tamper(sql: str, params=()) -> None:
    """Raw SQL past every guard: on PostgreSQL with the triggers switched off for the transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")


def copy_row(model, pk) -> int:
    """INSERT ... SELECT a copy of one record under a new key; return that key."""
    columns = ", ".join(connection.ops.quote_name(f.column) for f in model._meta.concrete_fields if not f.primary_key)
    table = connection.ops.quote_name(model._meta.db_table)
    pk_column = connection.ops.quote_name(model._meta.pk.column)
    tamper(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} WHERE {pk_column} = %s", [pk])  # noqa: S608
    return model._base_manager.order_by("-pk").values_list("pk", flat=True).first()


def verify_output() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out, verbosity=2)
    return out.getvalue()


def verify_refused() -> tuple[str, str]:
    """verify_audit must fail; return its error and what it wrote to stderr."""
    err = StringIO()
    with pytest.raises(CommandError, match="tampered") as exc:
        call_command("verify_audit", stderr=err, verbosity=0)
    return str(exc.value), err.getvalue()


def numbers_made(actor, branch, count: int = 4, *, start: int = 0) -> list:
    """``count`` new numbers (from the ``start``-th), one history record each; return those
    records in chain order."""
    first = History.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    for i in range(start, start + count):
        number_create(msisdn=f"+8551299{i:04d}", branch=branch, actor=actor, reason=f"New stock {i}")
    records = list(History.objects.filter(pk__gt=first).order_by("pk"))
    assert len(records) == count
    return records


def database_url() -> str:
    """The test database (PostgreSQL) as a DATABASE_URL for a subprocess."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="") + (f":{quote(s['PASSWORD'], safe='')}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def manage_verify_audit() -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "backoffice.settings"}
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "verify_audit"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
