"""The chain is keyed (HMAC-SHA256 with AUDIT_CHAIN_KEY): someone holding only the
database cannot re-hash the records they altered, with the unkeyed SHA-256 the chain
used to be or with a key of their own; keys rotate without breaking old links."""

from __future__ import annotations

import pytest

from audit.chain import GENESIS, record_hash, unkeyed_record_hash, verify_table
from audit.tests.chain_helpers import TABLE, History, numbers_made, tamper, verify_refused

pytestmark = pytest.mark.django_db


def rewrite_from(records, index: int, link) -> None:
    """Alter ``records[index]`` and re-link it and every record after it, and the head,
    with ``link``: a consistent rewrite by someone with the database alone."""
    tamper(
        f"UPDATE {TABLE} SET history_change_reason = 'rewritten' WHERE history_id = %s",  # noqa: S608
        [records[index].pk],
    )
    prev = records[index - 1].record_hash if index else GENESIS
    for row in History._base_manager.filter(pk__gte=records[index].pk).order_by("pk"):
        digest = link(prev, row)
        tamper(
            f"UPDATE {TABLE} SET prev_hash = %s, record_hash = %s WHERE history_id = %s",  # noqa: S608
            [prev, digest, row.pk],
        )
        prev, last = digest, row
    tamper('UPDATE audit_chainhead SET last_pk = %s, last_hash = %s WHERE "table" = %s', [str(last.pk), prev, TABLE])


def test_a_link_is_an_hmac_with_the_chain_key_not_a_plain_sha256(admin_user, branch_a, settings):
    record = numbers_made(admin_user, branch_a, 1)[0]
    assert record.record_hash == record_hash(record.prev_hash, record)
    assert record.record_hash != unkeyed_record_hash(record.prev_hash, record)
    settings.AUDIT_CHAIN_KEY = "another-key"
    assert record.record_hash != record_hash(record.prev_hash, record)


@pytest.mark.parametrize("how", ["unkeyed", "another key"])
def test_records_re_hashed_without_the_chain_key_are_found(admin_user, branch_a, how):
    records = numbers_made(admin_user, branch_a, 4)

    def link(prev, row):
        if how == "unkeyed":
            return unkeyed_record_hash(prev, row)
        return record_hash(prev, row, key=b"a key the attacker made up")

    rewrite_from(records, 1, link)
    _, problem = verify_table(History)
    assert (problem.table, problem.pk) == (TABLE, str(records[1].pk))
    assert "made without the chain's key" in problem.problem
    error, stderr = verify_refused()
    assert f"BROKEN  {TABLE}: record {records[1].pk}: its content was altered" in stderr
    assert f"{TABLE}: record {records[1].pk}" in error


def test_the_same_rewrite_with_the_chain_key_verifies(admin_user, branch_a):
    """What the key protects: only someone holding it can re-link a table (the signed
    checkpoints, test_checkpoints, catch that one)."""
    records = numbers_made(admin_user, branch_a, 3)
    rewrite_from(records, 1, record_hash)
    assert verify_table(History)[1] is None


def test_a_rotated_key_verifies_old_links_and_writes_new_ones(admin_user, branch_a, settings):
    settings.AUDIT_CHAIN_KEY = "first-key"
    old = numbers_made(admin_user, branch_a, 2)
    settings.AUDIT_CHAIN_KEY = "second-key,first-key"  # the first one writes
    new = numbers_made(admin_user, branch_a, 2, start=10)
    assert new[-1].record_hash == record_hash(new[-1].prev_hash, new[-1], key=b"second-key")
    assert old[-1].record_hash == record_hash(old[-1].prev_hash, old[-1], key=b"first-key")
    assert verify_table(History) == (4, None)
    # Dropping the old key leaves its links unverifiable.
    settings.AUDIT_CHAIN_KEY = "second-key"
    _, problem = verify_table(History)
    assert problem.pk == str(old[0].pk)


def test_a_retired_key_cannot_forge_links_after_the_rotation(admin_user, branch_a, settings):
    settings.AUDIT_CHAIN_KEY = "first-key"
    numbers_made(admin_user, branch_a, 2)
    settings.AUDIT_CHAIN_KEY = "second-key,first-key"
    new = numbers_made(admin_user, branch_a, 2, start=10)
    rewrite_from(new, 1, lambda prev, row: record_hash(prev, row, key=b"first-key"))
    _, problem = verify_table(History)
    assert (problem.table, problem.pk) == (TABLE, str(new[1].pk))
