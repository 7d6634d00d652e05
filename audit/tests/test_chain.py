"""The audit chain: written on every history record, verified, and tampering found.

Tampering is done the way someone with database access would do it: raw SQL,
and on PostgreSQL after ``SET LOCAL session_replication_role = replica`` (what a
DBA runs to get past the append-only triggers). Each kind of tampering is found
and named by table and record; an untouched chain passes.
"""

from __future__ import annotations

from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.chain import GENESIS, chained_models, record_hash, verify_table
from audit.choices import AccessKind
from audit.models import AccessEvent, CaseNote, ChainHead
from audit.signals import record_access
from audit.tests.chain_helpers import (
    TABLE,
    History,
    copy_row,
    manage_verify_audit,
    numbers_made,
    tamper,
    verify_output,
    verify_refused,
)
from numbers import services as ns
from numbers.choices import ConsentParty
from numbers.services import number_create
from tests.factories import consent_by_code, consent_in_person

# --- A clean chain ----------------------------------------------------------------------

pytestmark = pytest.mark.django_db


def test_a_service_change_is_chained_with_who_why_and_request(admin_user, branch_a):
    number = number_create(msisdn="+85512999001", branch=branch_a, actor=admin_user, reason="New stock")
    record = number.history.latest()
    assert record.history_user == admin_user
    assert record.history_change_reason == "New stock"
    assert record.actor_label == admin_user.get_username()
    assert len(record.history_request_id) == 32
    assert len(record.record_hash) == 64
    head = ChainHead.objects.get(table=TABLE)
    assert (head.last_pk, head.last_hash) == (str(record.pk), record.record_hash)
    assert verify_table(History) == (History.objects.count(), None)


def test_each_record_links_to_the_one_before_it(admin_user, branch_a):
    records = numbers_made(admin_user, branch_a, 3)
    for before, record in zip(records, records[1:], strict=False):
        assert record.prev_hash == before.record_hash
        assert record.record_hash == record_hash(before.record_hash, record)
    first = History.objects.order_by("pk").first()
    assert first.prev_hash == GENESIS


def test_a_clean_chain_passes_after_a_day_of_work(admin_user, agent_a, supervisor_b, supervisor_a, open_request):
    """Transfers, consents, codes, SMS, users, grants and the access log: every table verifies."""
    consent_by_code(open_request, actor=agent_a)
    consent_in_person(open_request, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    open_request.refresh_from_db()
    ns.transfer_approve(request=open_request, actor=supervisor_a, reason="Both consents on file")
    request = SimpleNamespace(META={"REMOTE_ADDR": "2001:db8::1", "HTTP_USER_AGENT": "Test agent"}, request_id="")
    record_access(kind=AccessKind.LOGIN, request=request, user=agent_a)
    output = verify_output()
    assert "Audit chain intact" in output
    assert f"ok      {TABLE}:" in output
    assert "ok      audit_accessevent: " in output
    for model in chained_models():
        count, problem = verify_table(model)
        assert problem is None, str(problem)


def test_an_empty_table_with_no_head_passes():
    assert ChainHead.objects.filter(table="audit_historicalcasenote").count() == 0
    assert verify_table(CaseNote.history.model) == (0, None)


def test_every_audit_table_is_chained():
    tables = {m._meta.db_table for m in chained_models()}
    assert "numbers_historicalmobilenumber" in tables
    assert "audit_historicaluser" in tables
    assert "audit_historicaluser_groups" in tables
    assert "audit_accessevent" in tables


def test_verify_audit_can_check_one_table_and_refuses_an_unknown_one(admin_user, branch_a):
    numbers_made(admin_user, branch_a, 1)
    out = StringIO()
    call_command("verify_audit", "--table", TABLE, stdout=out, verbosity=2)
    assert "1 tables" in out.getvalue()
    with pytest.raises(CommandError, match="No audit table named nope"):
        call_command("verify_audit", "--table", "nope")


# --- Each kind of tampering is found and named ---------------------------------------------


def test_an_edited_field_is_found_at_that_record(admin_user, branch_a):
    records = numbers_made(admin_user, branch_a)
    middle = records[1]
    assert verify_table(History)[1] is None
    tamper(f"UPDATE {TABLE} SET history_change_reason = 'edited' WHERE history_id = %s", [middle.pk])  # noqa: S608
    _, problem = verify_table(History)
    assert (problem.table, problem.pk) == (TABLE, str(middle.pk))
    assert "altered" in problem.problem
    error, stderr = verify_refused()
    assert f"BROKEN  {TABLE}: record {middle.pk}: its content was altered" in stderr
    assert f"{TABLE}: record {middle.pk}" in error


def test_an_edit_that_also_rewrites_its_hash_breaks_the_next_link(admin_user, branch_a):
    records = numbers_made(admin_user, branch_a)
    middle, following = records[1], records[2]
    middle.history_change_reason = "edited"
    forged = record_hash(middle.prev_hash, middle)
    tamper(
        f"UPDATE {TABLE} SET history_change_reason = 'edited', record_hash = %s WHERE history_id = %s",  # noqa: S608
        [forged, middle.pk],
    )
    _, problem = verify_table(History)
    assert (problem.table, problem.pk) == (TABLE, str(following.pk))
    assert f"does not match record {middle.pk}" in problem.problem
    _, stderr = verify_refused()
    assert f"{TABLE}: record {following.pk}" in stderr


def test_a_deleted_middle_record_is_found_at_the_next_one(admin_user, branch_a):
    records = numbers_made(admin_user, branch_a)
    tamper(f"DELETE FROM {TABLE} WHERE history_id = %s", [records[1].pk])  # noqa: S608
    _, problem = verify_table(History)
    assert (problem.table, problem.pk) == (TABLE, str(records[2].pk))
    assert f"does not match record {records[0].pk}" in problem.problem
    assert "removed" in problem.problem
    _, stderr = verify_refused()
    assert f"{TABLE}: record {records[2].pk}" in stderr


def test_the_oldest_records_deleted_are_found(admin_user, branch_a):
    numbers_made(admin_user, branch_a)
    first, second = History.objects.order_by("pk")[:2]
    tamper(f"DELETE FROM {TABLE} WHERE history_id = %s", [first.pk])  # noqa: S608
    _, problem = verify_table(History)
    assert (problem.table, problem.pk) == (TABLE, str(second.pk))
    assert "records before it were removed" in problem.problem


@pytest.mark.parametrize("removed", [1, 2])
def test_the_newest_records_deleted_leave_the_head_pointing_at_nothing(admin_user, branch_a, removed):
    records = numbers_made(admin_user, branch_a)
    for record in records[-removed:]:
        tamper(f"DELETE FROM {TABLE} WHERE history_id = %s", [record.pk])  # noqa: S608
    _, problem = verify_table(History)
    assert (problem.table, problem.pk) == (TABLE, None)
    assert f"the head names record {records[-1].pk}" in problem.problem
    assert f"the table ends at {records[-removed - 1].pk}" in problem.problem
    _, stderr = verify_refused()
    assert f"{TABLE}: chain head: the newest records were removed" in stderr


def test_a_table_emptied_is_found(admin_user, branch_a):
    records = numbers_made(admin_user, branch_a)
    tamper(f"DELETE FROM {TABLE}")  # noqa: S608
    assert History.objects.count() == 0
    _, problem = verify_table(History)
    assert (problem.table, problem.pk) == (TABLE, None)
    assert f"the head names record {records[-1].pk}, but the table is empty" in problem.problem
    verify_refused()


def test_a_removed_chain_head_is_found(admin_user, branch_a):
    numbers_made(admin_user, branch_a, 2)
    ChainHead.objects.filter(table=TABLE).delete()
    _, problem = verify_table(History)
    assert (problem.table, problem.pk, problem.problem) == (TABLE, None, "the table has records but no chain head")


def test_a_forged_row_with_a_made_up_hash_is_found(admin_user, branch_a):
    records = numbers_made(admin_user, branch_a, 2)
    forged = copy_row(History, records[0].pk)
    tamper(
        f"UPDATE {TABLE} SET prev_hash = %s, record_hash = %s, history_change_reason = 'forged' "  # noqa: S608
        "WHERE history_id = %s",
        [records[-1].record_hash, "f" * 64, forged],
    )
    _, problem = verify_table(History)
    assert (problem.table, problem.pk) == (TABLE, str(forged))
    assert "altered" in problem.problem
    _, stderr = verify_refused()
    assert f"{TABLE}: record {forged}" in stderr


def test_a_forged_row_with_a_well_formed_link_is_found_past_the_head(admin_user, branch_a):
    """Someone who knows the recipe links a new row correctly, but the head names the real last record."""
    records = numbers_made(admin_user, branch_a, 2)
    forged = copy_row(History, records[0].pk)
    tamper(f"UPDATE {TABLE} SET history_change_reason = 'forged' WHERE history_id = %s", [forged])  # noqa: S608
    row = History._base_manager.get(pk=forged)
    digest = record_hash(records[-1].record_hash, row)
    tamper(
        f"UPDATE {TABLE} SET prev_hash = %s, record_hash = %s WHERE history_id = %s",  # noqa: S608
        [records[-1].record_hash, digest, forged],
    )
    _, problem = verify_table(History)
    assert (problem.table, problem.pk) == (TABLE, str(forged))
    assert f"follows the chain head (record {records[-1].pk})" in problem.problem
    _, stderr = verify_refused()
    assert f"{TABLE}: record {forged}: it follows the chain head" in stderr


@pytest.mark.parametrize("which", ["middle", "newest"])
def test_a_copied_row_is_found(admin_user, branch_a, which):
    records = numbers_made(admin_user, branch_a, 3)
    source = records[1] if which == "middle" else records[-1]
    copy = copy_row(History, source.pk)
    _, problem = verify_table(History)
    assert (problem.table, problem.pk) == (TABLE, str(copy))
    _, stderr = verify_refused()
    assert f"{TABLE}: record {copy}" in stderr


def test_an_edited_access_event_is_found(agent_a):
    request = SimpleNamespace(META={"REMOTE_ADDR": "10.0.0.7", "HTTP_USER_AGENT": "Test agent"}, request_id="")
    record_access(kind=AccessKind.LOGIN, request=request, user=agent_a)
    record_access(kind=AccessKind.LOGOUT, request=request, user=agent_a)
    login = AccessEvent.objects.filter(user=agent_a, kind=AccessKind.LOGIN).get()
    assert verify_table(AccessEvent)[1] is None
    tamper("UPDATE audit_accessevent SET ip_address = %s WHERE id = %s", ["10.0.0.8", login.pk])
    _, problem = verify_table(AccessEvent)
    assert (problem.table, problem.pk) == ("audit_accessevent", str(login.pk))
    _, stderr = verify_refused()
    assert f"audit_accessevent: record {login.pk}" in stderr


def test_the_command_reports_every_broken_table_but_passes_the_others(admin_user, branch_a, agent_a):
    records = numbers_made(admin_user, branch_a, 2)
    request = SimpleNamespace(META={"REMOTE_ADDR": "10.0.0.7"}, request_id="")
    record_access(kind=AccessKind.LOGIN, request=request, user=agent_a)
    event = AccessEvent.objects.latest("pk")
    tamper(f"UPDATE {TABLE} SET history_change_reason = 'x' WHERE history_id = %s", [records[0].pk])  # noqa: S608
    tamper("UPDATE audit_accessevent SET username = 'someone' WHERE id = %s", [event.pk])
    error, stderr = verify_refused()
    assert "2 of" in error
    assert f"{TABLE}: record {records[0].pk}" in stderr
    assert f"audit_accessevent: record {event.pk}" in stderr
    # The rest of the chains are fine: checked table by table.
    call_command("verify_audit", "--table", "audit_historicaluser", verbosity=0)


# --- manage.py verify_audit as an operator runs it: the exit code --------------------------


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_manage_py_verify_audit_exits_zero_when_intact_and_non_zero_when_tampered(admin_user, branch_a):
    records = numbers_made(admin_user, branch_a, 3)
    clean = manage_verify_audit()
    assert clean.returncode == 0, clean.stderr
    assert "Audit chain intact" in clean.stdout

    tamper(f"UPDATE {TABLE} SET history_change_reason = 'edited' WHERE history_id = %s", [records[1].pk])  # noqa: S608
    edited = manage_verify_audit()
    assert edited.returncode != 0
    assert f"BROKEN  {TABLE}: record {records[1].pk}: its content was altered" in edited.stderr
    assert "tampered with" in edited.stderr


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_manage_py_verify_audit_exits_non_zero_when_the_newest_record_is_deleted(admin_user, branch_a):
    records = numbers_made(admin_user, branch_a, 2)
    tamper(f"DELETE FROM {TABLE} WHERE history_id = %s", [records[-1].pk])  # noqa: S608
    result = manage_verify_audit()
    assert result.returncode != 0
    assert f"BROKEN  {TABLE}: chain head: the newest records were removed" in result.stderr
