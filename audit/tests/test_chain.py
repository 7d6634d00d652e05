"""The audit chain: written on every history record, verified, and tampering found."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit.chain import chained_models, verify_table
from numbers.models import MobileNumber
from numbers.services import number_create

pytestmark = pytest.mark.django_db


def _verify():
    call_command("verify_audit", verbosity=0)


def test_a_service_change_is_chained_with_who_why_and_request(admin_user, branch_a):
    number = number_create(msisdn="+85512999001", branch=branch_a, actor=admin_user, reason="New stock")
    record = number.history.latest()
    assert record.history_user == admin_user
    assert record.history_change_reason == "New stock"
    assert record.actor_label == admin_user.get_username()
    assert len(record.history_request_id) == 32
    assert len(record.record_hash) == 64
    _verify()


def test_an_edited_history_row_is_found(admin_user, branch_a):
    number = number_create(msisdn="+85512999002", branch=branch_a, actor=admin_user, reason="New stock")
    number_create(msisdn="+85512999003", branch=branch_a, actor=admin_user, reason="New stock")
    record = number.history.latest()
    table = MobileNumber.history.model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"UPDATE {table} SET history_change_reason = 'edited' WHERE history_id = %s", [record.pk])
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")
    count, problem = verify_table(MobileNumber.history.model)
    assert problem is not None and problem.pk == str(record.pk)
    with pytest.raises(CommandError, match="tampered"):
        _verify()


def test_every_audit_table_is_chained():
    tables = {m._meta.db_table for m in chained_models()}
    assert "numbers_historicalmobilenumber" in tables
    assert "audit_historicaluser" in tables
    assert "audit_accessevent" in tables
