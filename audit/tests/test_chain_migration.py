"""Migration audit/0008 on a database whose chain was written unkeyed (SHA-256): it
verifies each chain first, refuses to re-link a broken one, and re-links every record
with the keyed hash, past the append-only triggers, which it puts back."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from audit import models as real
from audit.chain import GENESIS, record_hash, unkeyed_record_hash, verify_table
from tests.template_db import restore_from_template

BEFORE = [("audit", "0007_evidence_triggers_not_ignorable")]
AFTER = [("audit", "0008_keyed_audit_chain")]
TABLE = "audit_accessevent"


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def _written_unkeyed(apps, count: int) -> list[str]:
    """Sign-ins chained as the portal wrote them before 0008; return their unkeyed hashes."""
    AccessEvent = apps.get_model("audit", "AccessEvent")
    Head = apps.get_model("audit", "ChainHead")
    prev, hashes = GENESIS, []
    for i in range(count):
        fields = {
            "kind": "login",
            "at": timezone.now(),
            "username": f"agent_{i}",
            "ip_address": "10.0.0.1",
            "history_request_id": "0" * 32,
        }
        # Hashed as the real model hashes it (its added_later fields left out while unset).
        digest = unkeyed_record_hash(prev, real.AccessEvent(**fields))
        event = AccessEvent.objects.create(**fields, prev_hash=prev, record_hash=digest)
        prev = digest
        hashes.append(digest)
    Head.objects.create(table=TABLE, last_pk=str(event.pk), last_hash=prev)
    return hashes


@contextmanager
def _past_the_triggers():
    """Write to an append-only table as a DBA would (SQLite's have no triggers)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        yield


@pytest.mark.django_db(transaction=True)
def test_the_migration_re_keys_a_chain_written_before_it():
    old = _migrate(BEFORE)
    try:
        unkeyed = _written_unkeyed(old, 3)
    finally:
        _migrate(AFTER)
        call_command("migrate", verbosity=0)

    events = list(real.AccessEvent._base_manager.order_by("pk"))
    assert [event.username for event in events] == ["agent_0", "agent_1", "agent_2"]
    prev = GENESIS
    for event, before in zip(events, unkeyed, strict=True):
        assert event.prev_hash == prev
        assert event.record_hash == record_hash(prev, event) != before
        prev = event.record_hash
    head = real.ChainHead.objects.get(table=TABLE)
    assert (head.last_pk, head.last_hash) == (str(events[-1].pk), events[-1].record_hash)
    assert verify_table(real.AccessEvent) == (3, None)
    call_command("verify_audit", verbosity=0)
    if connection.vendor == "postgresql":  # the append-only triggers are back
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE audit_accessevent SET username = 'someone else'")


@pytest.mark.django_db(transaction=True)
def test_a_broken_unkeyed_chain_stops_the_migration_instead_of_being_re_keyed():
    old = _migrate(BEFORE)
    AccessEvent = old.get_model("audit", "AccessEvent")
    try:
        unkeyed = _written_unkeyed(old, 2)
        first = AccessEvent.objects.order_by("pk").first()
        with _past_the_triggers():
            AccessEvent._base_manager.filter(pk=first.pk).update(username="someone_else")
        with pytest.raises(RuntimeError, match=rf"{TABLE}: record {first.pk} does not verify with the unkeyed hash"):
            _migrate(AFTER)
        # Nothing was re-linked: the chain still carries its unkeyed hashes.
        assert list(AccessEvent._base_manager.order_by("pk").values_list("record_hash", flat=True)) == unkeyed
    finally:
        restore_from_template()  # left at 0007 on purpose, with a broken chain
