"""A column added to a chained table does not break the links written before it.

Rows written before the column existed were hashed without it; the chain leaves a
field declared ``added_later`` out of a row's hash while it is empty, and hashes it
like any other once it holds a value.
"""

from __future__ import annotations

import json

import pytest

from audit.chain import canonical_content, record_hash
from audit.history import AuditedHistoricalRecords
from numbers.models import MobileNumber
from numbers.services import number_create

pytestmark = pytest.mark.django_db

History = MobileNumber.history.model


@pytest.fixture
def record(admin_user, branch_a):
    number = number_create(msisdn="+85512999001", branch=branch_a, actor=admin_user, reason="test stock")
    return number.history.get()


@pytest.fixture
def holder_added_later(monkeypatch):
    """Pretend ``holder`` and ``activated_at`` came after the table was chained."""
    monkeypatch.setattr(History, "chain_added_later", frozenset({"holder", "activated_at"}), raising=False)


def _fields(record) -> dict:
    return json.loads(canonical_content(record))["fields"]


def test_an_empty_added_field_is_hashed_as_if_the_column_did_not_exist(record, holder_added_later):
    fields = _fields(record)
    assert "holder_id" not in fields and "activated_at" not in fields
    assert "status" in fields


def test_without_the_declaration_every_field_is_hashed(record):
    fields = _fields(record)
    assert fields["holder_id"] is None and fields["activated_at"] is None


def test_an_added_field_with_a_value_is_hashed_and_tampering_with_it_shows(record, holder_added_later):
    empty = record_hash("0" * 64, record)
    record.activated_at = record.history_date
    assert "activated_at" in _fields(record)
    assert record_hash("0" * 64, record) != empty
    record.activated_at = None
    assert record_hash("0" * 64, record) == empty


def test_a_declared_field_must_exist():
    with pytest.raises(TypeError, match="added_later names no field: nonsense"):
        AuditedHistoricalRecords(added_later=("nonsense",)).create_history_model(MobileNumber, inherited=False)


def test_a_default_filled_in_by_the_migration_counts_as_unset(record, monkeypatch):
    """A boolean added with default False: old rows read False and keep their hash."""
    monkeypatch.setattr(History, "chain_added_later", frozenset({"status"}), raising=False)
    record.status = History._meta.get_field("status").get_default()
    assert "status" not in _fields(record)
    record.status = "active"
    assert _fields(record)["status"] == "active"


def test_access_events_were_chained_before_subscriber_views():
    from audit.models import AccessEvent

    assert AccessEvent.chain_added_later == {"subscriber"}
