"""Signed checkpoints outside the database: a table cut back with its head, or rewritten
whole with its head, since a checkpoint is found by ``verify_audit --checkpoints``; a
forged or removed checkpoint is found too; an untouched chain passes.

Tampering is done as a database administrator would (``chain_helpers.tamper``: raw SQL past
the append-only triggers), after which plain ``verify_audit`` passes: only the checkpoints,
signed with a key the database never holds, tell."""

from __future__ import annotations

import base64
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.chain import GENESIS, record_hash, verify_table
from audit.checkpoints import generate_keypair, store
from audit.models import ChainHead
from audit.tests.chain_helpers import TABLE, History, numbers_made, tamper, verify_output

pytestmark = pytest.mark.django_db


@pytest.fixture
def checkpoints(settings, tmp_path):
    """A signing pair and a checkpoint file of the test's own; return the file."""
    generate_keypair(tmp_path / "signing.pem", tmp_path / "verify.pub")
    settings.AUDIT_CHECKPOINT_SIGNING_KEY = str(tmp_path / "signing.pem")
    settings.AUDIT_CHECKPOINT_VERIFY_KEY = str(tmp_path / "verify.pub")
    settings.AUDIT_CHECKPOINT_BACKEND = "audit.checkpoints.JsonLinesStore"
    settings.AUDIT_CHECKPOINT_STORE = tmp_path / "audit-checkpoints.jsonl"
    return settings.AUDIT_CHECKPOINT_STORE


def sign() -> str:
    out = StringIO()
    call_command("audit_checkpoint", stdout=out)
    return out.getvalue()


def verify_checkpoints_output() -> str:
    out = StringIO()
    call_command("verify_audit", "--checkpoints", stdout=out, verbosity=2)
    return out.getvalue()


def checkpoints_refused() -> tuple[str, str]:
    err = StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("verify_audit", "--checkpoints", stderr=err, verbosity=0)
    return str(exc.value), err.getvalue()


def cut_back(records, keep: int) -> None:
    """Delete the newest records and rewind the head to the last one kept, as a DBA would."""
    for record in records[keep:]:
        tamper(f"DELETE FROM {TABLE} WHERE history_id = %s", [record.pk])  # noqa: S608
    last = records[keep - 1]
    tamper(
        'UPDATE audit_chainhead SET last_pk = %s, last_hash = %s WHERE "table" = %s',
        [str(last.pk), last.record_hash, TABLE],
    )


# --- Signing -----------------------------------------------------------------------------


def test_a_checkpoint_signs_every_tables_head_and_links_to_the_one_before(admin_user, branch_a, checkpoints):
    records = numbers_made(admin_user, branch_a, 3)
    output = sign()
    assert "Audit checkpoint #1 signed at" in output
    first = store().read()[0]
    heads = {head["table"]: head for head in first["checkpoint"]["tables"]}
    assert heads[TABLE] == {
        "table": TABLE,
        "last_pk": str(records[-1].pk),
        "count": History.objects.count(),
        "hash": records[-1].record_hash,
    }
    assert first["checkpoint"]["prev"] == GENESIS
    sign()
    second = store().read()[1]["checkpoint"]
    assert second["seq"] == 2
    assert second["prev"] != GENESIS
    assert "Every table holds what 2 signed checkpoints say" in verify_checkpoints_output()


def test_without_a_signing_key_the_checkpoint_is_refused_clearly(settings, checkpoints):
    settings.AUDIT_CHECKPOINT_SIGNING_KEY = ""
    with pytest.raises(CommandError, match="AUDIT_CHECKPOINT_SIGNING_KEY is not set"):
        sign()
    assert not checkpoints.exists()


# --- An untouched chain passes -------------------------------------------------------------


def test_an_untouched_chain_passes_its_checkpoints_and_keeps_passing_as_it_grows(admin_user, branch_a, checkpoints):
    numbers_made(admin_user, branch_a, 2)
    sign()
    numbers_made(admin_user, branch_a, 2, start=10)  # written after the checkpoint
    output = verify_checkpoints_output()
    assert "Audit chain intact" in output
    assert "1 signed checkpoints" in output


def test_with_no_checkpoint_to_verify_against_the_check_fails(checkpoints):
    error, stderr = checkpoints_refused()
    assert "CHECKPOINT  checkpoint store: it holds no checkpoint" in stderr
    assert "checkpoint store does not verify" in error


# --- A table cut back with its head, or rewritten with it -----------------------------------


@pytest.mark.parametrize("written_since", [False, True])
def test_the_newest_records_deleted_and_the_head_rewound_are_found(admin_user, branch_a, checkpoints, written_since):
    records = numbers_made(admin_user, branch_a, 4)
    sign()
    cut_back(records, keep=2)
    if written_since:
        numbers_made(admin_user, branch_a, 1, start=10)  # the portal carries on from the rewound head
    assert verify_table(History)[1] is None  # the chain alone cannot tell
    assert "Audit chain intact" in verify_output()
    error, stderr = checkpoints_refused()
    assert f"BROKEN  {TABLE}: " in stderr
    assert "checkpoint #1 (line 1, signed " in stderr
    assert f"signed record {records[-1].pk} as its head" in stderr
    assert TABLE in error


def test_a_whole_table_and_its_head_rewritten_with_the_chains_key_are_found(admin_user, branch_a, checkpoints):
    """Someone with the database and the application's chain key too: every link verifies,
    but the checkpoint signed another hash for the record it names."""
    records = numbers_made(admin_user, branch_a, 3)
    sign()
    tamper(f"UPDATE {TABLE} SET history_change_reason = 'rewritten'")  # noqa: S608
    prev = GENESIS
    for row in History._base_manager.order_by("pk"):
        digest = record_hash(prev, row)
        tamper(
            f"UPDATE {TABLE} SET prev_hash = %s, record_hash = %s WHERE history_id = %s",  # noqa: S608
            [prev, digest, row.pk],
        )
        prev = digest
    tamper('UPDATE audit_chainhead SET last_hash = %s WHERE "table" = %s', [prev, TABLE])
    assert "Audit chain intact" in verify_output()
    error, stderr = checkpoints_refused()
    assert f"BROKEN  {TABLE}: record {records[-1].pk}: checkpoint #1" in stderr
    assert "signed another hash for it: the table was rewritten since" in stderr


def test_a_table_emptied_with_its_head_removed_is_found(admin_user, branch_a, checkpoints):
    records = numbers_made(admin_user, branch_a, 2)
    sign()
    tamper(f"DELETE FROM {TABLE}")  # noqa: S608
    ChainHead.objects.filter(table=TABLE).delete()
    assert "Audit chain intact" in verify_output()
    _, stderr = checkpoints_refused()
    assert f"BROKEN  {TABLE}: chain head: checkpoint #1" in stderr
    assert f"record {records[-1].pk} as its head" in stderr
    assert "it is empty" in stderr


# --- The checkpoints themselves --------------------------------------------------------------


def _rewrite_store(path, entries) -> None:
    path.write_text("".join(json.dumps(entry) + "\n" for entry in entries))


def test_a_checkpoint_altered_in_the_store_is_found_by_its_signature(admin_user, branch_a, checkpoints):
    numbers_made(admin_user, branch_a, 2)
    sign()
    entries = store().read()
    for head in entries[0]["checkpoint"]["tables"]:
        head["count"] += 1  # made to look as if the table had been cut back
    _rewrite_store(checkpoints, entries)
    error, stderr = checkpoints_refused()
    assert "CHECKPOINT  checkpoint #1 (line 1, signed " in stderr
    assert "its signature does not verify" in stderr
    assert "BROKEN" not in stderr  # an unverified checkpoint proves nothing about the tables


def test_a_checkpoint_signed_by_another_key_is_refused(admin_user, branch_a, checkpoints, settings, tmp_path):
    numbers_made(admin_user, branch_a, 1)
    generate_keypair(tmp_path / "other.pem", tmp_path / "other.pub")
    settings.AUDIT_CHECKPOINT_SIGNING_KEY = str(tmp_path / "other.pem")
    sign()
    _, stderr = checkpoints_refused()
    assert "its signature does not verify" in stderr


def test_a_forged_signature_is_refused(admin_user, branch_a, checkpoints):
    numbers_made(admin_user, branch_a, 1)
    sign()
    entries = store().read()
    entries[0]["signature"] = base64.b64encode(b"\0" * 64).decode()
    _rewrite_store(checkpoints, entries)
    _, stderr = checkpoints_refused()
    assert "checkpoint #1 (line 1" in stderr
    assert "its signature does not verify" in stderr


def test_a_checkpoint_removed_from_the_middle_of_the_store_is_found(admin_user, branch_a, checkpoints):
    for i in range(3):
        numbers_made(admin_user, branch_a, 1, start=i)
        sign()
    entries = store().read()
    _rewrite_store(checkpoints, [entries[0], entries[2]])
    _, stderr = checkpoints_refused()
    assert "CHECKPOINT  checkpoint #3 (line 2" in stderr
    assert "does not follow the checkpoint before it" in stderr


def test_keys_can_be_given_as_base64_instead_of_files(admin_user, branch_a, checkpoints, settings, tmp_path):
    from cryptography.hazmat.primitives import serialization

    from audit.checkpoints import signing_key

    private = signing_key()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    settings.AUDIT_CHECKPOINT_SIGNING_KEY = base64.b64encode(raw).decode()
    settings.AUDIT_CHECKPOINT_VERIFY_KEY = base64.b64encode(public).decode()
    numbers_made(admin_user, branch_a, 1)
    sign()
    assert "Audit chain intact" in verify_checkpoints_output()
    settings.AUDIT_CHECKPOINT_VERIFY_KEY = str(tmp_path / "missing.pub")
    with pytest.raises(CommandError, match="AUDIT_CHECKPOINT_VERIFY_KEY: no key file at"):
        call_command("verify_audit", "--checkpoints", verbosity=0)


# --- The demo -----------------------------------------------------------------------------


def test_the_demo_makes_a_development_key_pair_and_signs_with_debug_only(admin_user, branch_a, settings, tmp_path):
    from audit.checkpoints import ensure_dev_keypair
    from demo.audit_seed import seed_checkpoint

    var = tmp_path / "var"
    settings.AUDIT_CHECKPOINT_SIGNING_KEY = str(var / "audit-checkpoint-dev.key")
    settings.AUDIT_CHECKPOINT_VERIFY_KEY = str(var / "audit-checkpoint-dev.pub")
    settings.AUDIT_CHECKPOINT_STORE = var / "audit-checkpoints.jsonl"
    settings.DEBUG = False
    assert ensure_dev_keypair() is False
    assert not var.exists()
    assert seed_checkpoint() == [
        f"No audit checkpoint signed: AUDIT_CHECKPOINT_SIGNING_KEY: no key file at {var / 'audit-checkpoint-dev.key'}"
        " (nor is it base64 of a 32-byte key)."
    ]

    settings.DEBUG = True
    numbers_made(admin_user, branch_a, 1)
    lines = seed_checkpoint()
    assert lines[0].startswith("Signed audit checkpoint #1 (")
    assert "made a development signing key pair" in lines[1]
    assert "Audit chain intact" in verify_checkpoints_output()
    assert seed_checkpoint()[0].startswith("Signed audit checkpoint #2 (")  # the same pair, kept
