"""Migration 0014 on a database that already had subscribers (and their history):
the readable number is gone from rows and history, and verify_audit still says intact."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from audit.chain import GENESIS
from audit.chain import unkeyed_record_hash as record_hash  # written before audit/0008 keyed the chain
from numbers.identity import document_hash, document_matches, unseal_document
from tests.template_db import restore_from_template

BEFORE = [("numbers", "0013_sms_transfer_disputes")]
AFTER = [("numbers", "0014_identity_sealed_documents")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _chained_history(apps, subscriber, *, reason: str, history_type: str) -> None:
    """A history row as the portal wrote it before 0014: plaintext number, chained after the head."""
    History = apps.get_model("numbers", "HistoricalSubscriber")
    Head = apps.get_model("audit", "ChainHead")
    table = History._meta.db_table
    head = Head.objects.filter(table=table).first()
    record = History(
        id=subscriber.pk,
        full_name=subscriber.full_name,
        id_document_type=subscriber.id_document_type,
        id_document_number=subscriber.id_document_number,
        contact_msisdn=subscriber.contact_msisdn,
        alternate_msisdn="",
        created_at=subscriber.created_at,
        history_date=subscriber.created_at,
        history_type=history_type,
        history_change_reason=reason,
        history_request_id="0" * 32,
    )
    record.prev_hash = head.last_hash if head else GENESIS
    record.record_hash = record_hash(record.prev_hash, record)
    record.save()
    Head.objects.update_or_create(table=table, defaults={"last_pk": str(record.pk), "last_hash": record.record_hash})


@pytest.mark.django_db(transaction=True)
def test_migrating_subscribers_hashes_seals_redacts_history_and_keeps_the_chain_intact():
    old = _migrate(BEFORE)
    try:
        Subscriber = old.get_model("numbers", "Subscriber")
        dara = Subscriber.objects.create(
            full_name="Dara Sok", id_document_type="national_id", id_document_number="N0012345"
        )
        _chained_history(old, dara, reason="Registered at the counter", history_type="+")
        dara.full_name = "Dara Sokh"
        dara.save()
        _chained_history(old, dara, reason="Name corrected", history_type="~")
    finally:
        new = _migrate(AFTER)
        call_command("migrate", verbosity=0)

    Subscriber = new.get_model("numbers", "Subscriber")
    migrated = Subscriber.objects.get(pk=dara.pk)
    assert migrated.id_document_hash == document_hash("N0012345")
    assert migrated.id_document_last4 == "2345"
    assert unseal_document(migrated.id_document_sealed) == "N0012345"
    assert "N0012345" not in migrated.id_document_sealed
    assert document_matches(migrated, "national_id", "n-0012 345")
    assert not document_matches(migrated, "national_id", "N0012346")

    History = new.get_model("numbers", "HistoricalSubscriber")
    rows = list(History.objects.order_by("history_id").values())
    assert [row["full_name"] for row in rows] == ["Dara Sok", "Dara Sokh"]
    assert {(row["id_document_hash"], row["id_document_last4"]) for row in rows} == {
        (document_hash("N0012345"), "2345")
    }
    assert not any("N0012345" in str(value) for row in rows for value in row.values())
    assert "id_document_sealed" not in rows[0]
    with connection.cursor() as cursor:
        columns = [c.name for c in connection.introspection.get_table_description(cursor, History._meta.db_table)]
    assert "id_document_number" not in columns
    call_command("verify_audit")
    if connection.vendor == "postgresql":  # the append-only trigger the migration lifted is back
        with (
            pytest.raises(DatabaseError, match="Cannot update or delete"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("UPDATE numbers_historicalsubscriber SET full_name = 'y'")


@contextmanager
def _past_the_triggers():
    """Write to an append-only table as a DBA would: on PostgreSQL with triggers off
    for the transaction (SQLite's history tables have no such trigger)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        yield


@pytest.mark.django_db(transaction=True)
def test_a_broken_subscriber_history_chain_stops_the_migration_instead_of_being_resealed():
    old = _migrate(BEFORE)
    Subscriber = old.get_model("numbers", "Subscriber")
    History = old.get_model("numbers", "HistoricalSubscriber")
    try:
        dara = Subscriber.objects.create(full_name="Dara Sok", id_document_type="national_id", id_document_number="N1")
        _chained_history(old, dara, reason="Registered", history_type="+")
        with _past_the_triggers():
            History.objects.update(full_name="Someone Else")  # altered behind the chain's back, as a DBA would
        with pytest.raises(RuntimeError, match="does not verify"):
            _migrate(AFTER)
    finally:
        restore_from_template()  # left at 0013 on purpose, with a broken chain
