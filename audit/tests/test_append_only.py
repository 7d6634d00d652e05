"""History is append-only: the ORM refuses to change or delete an audit record on every
database, and on PostgreSQL the tables themselves refuse UPDATE, DELETE and TRUNCATE,
raw SQL included. Adding records (the allowed side) keeps working and keeps the chain."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection
from simple_history.models import registered_models

from audit.chain import ChainedQuerySet, chained_models, verify_table
from audit.choices import AccessKind
from audit.models import AccessEvent
from numbers.models import MobileNumber
from numbers.services import number_create
from staff.choices import Role
from staff.services import employee_set_roles
from tests.helpers import refused

pytestmark = pytest.mark.django_db

History = MobileNumber.history.model
TABLE = History._meta.db_table
APPEND_ONLY = "append-only"


@pytest.fixture
def records(admin_user, branch_a):
    """Two numbers' history records, and the chain as it stands."""
    for msisdn in ("+85512998001", "+85512998002"):
        number_create(msisdn=msisdn, branch=branch_a, actor=admin_user, reason="New stock")
    return list(History.objects.order_by("-pk")[:2])


@pytest.fixture
def event(agent_a):
    return AccessEvent.objects.create(kind=AccessKind.LOGIN, user=agent_a, username="agent_a", ip_address="10.0.0.1")


def rows(model) -> list[tuple]:
    return list(model._base_manager.order_by("pk").values_list())


def assert_refused(action) -> None:
    error = refused(ValidationError, action)
    assert APPEND_ONLY in " ".join(error.messages)


# --- The ORM, on every database ----------------------------------------------------------


def test_the_history_queryset_refuses_update_delete_and_bulk_update(records):
    before = rows(History)
    record = records[0]
    assert_refused(lambda: History.objects.filter(pk=record.pk).update(history_change_reason="edited"))
    assert_refused(lambda: History.objects.filter(pk=record.pk).delete())
    record.history_change_reason = "edited"
    assert_refused(lambda: History.objects.bulk_update([record], ["history_change_reason"]))
    assert rows(History) == before
    assert verify_table(History)[1] is None


def test_the_model_history_manager_refuses_too(records):
    """``Model.history`` is simple-history's own manager: it must not be a way around."""
    before = rows(History)
    number = MobileNumber.objects.get(pk=records[0].id)
    assert_refused(lambda: MobileNumber.history.filter(pk=records[0].pk).update(history_change_reason="edited"))
    assert_refused(lambda: MobileNumber.history.all().delete())
    assert_refused(lambda: number.history.all().delete())
    assert_refused(lambda: number.history.update(history_change_reason="edited"))
    assert_refused(lambda: MobileNumber.history.bulk_update(list(number.history.all()), ["history_change_reason"]))
    assert rows(History) == before


def test_a_saved_record_cannot_be_saved_again_or_deleted(records):
    before = rows(History)
    record = History.objects.get(pk=records[0].pk)
    record.history_change_reason = "edited"
    error = refused(ValidationError, record.save)
    assert error.messages == ["Audit records are append-only: they are never updated."]
    error = refused(ValidationError, History.objects.get(pk=records[0].pk).delete)
    assert error.messages == ["Audit records are append-only: they are never deleted."]
    assert rows(History) == before


def test_a_new_record_given_an_old_key_does_not_overwrite_it(records):
    """Django saves an instance that has a key as an UPDATE first: audit records are always inserted."""
    before = rows(History)
    old = History.objects.get(pk=records[0].pk)
    forged = History(**{f.attname: getattr(old, f.attname) for f in History._meta.concrete_fields})
    forged.history_change_reason = "overwritten"
    refused(IntegrityError, forged.save)
    for kwargs in ({"force_update": True}, {"update_fields": ["history_change_reason"]}):
        fresh = History(**{f.attname: getattr(old, f.attname) for f in History._meta.concrete_fields})
        assert_refused(lambda kwargs=kwargs, fresh=fresh: fresh.save(**kwargs))
    assert rows(History) == before
    assert verify_table(History)[1] is None


def test_a_bulk_insert_that_could_skip_or_rewrite_rows_is_refused(records, agent_a):
    before = rows(AccessEvent)
    event = AccessEvent(kind=AccessKind.LOGIN, user=agent_a, username="agent_a")
    error = refused(ValidationError, lambda: AccessEvent.objects.bulk_create([event], ignore_conflicts=True))
    assert "inserted whole" in " ".join(error.messages)
    refused(
        ValidationError,
        lambda: AccessEvent.objects.bulk_create(
            [event], update_conflicts=True, unique_fields=["id"], update_fields=["username"]
        ),
    )
    assert rows(AccessEvent) == before
    # The allowed side: a plain bulk insert is sealed onto the chain.
    AccessEvent.objects.bulk_create([AccessEvent(kind=AccessKind.LOGOUT, user=agent_a, username="agent_a")])
    assert len(rows(AccessEvent)) == len(before) + 1
    assert verify_table(AccessEvent)[1] is None


def test_m2m_history_records_refuse_too(admin_user, agent_a):
    employee_set_roles(employee=agent_a.employee, roles=[Role.SUPERVISOR], actor=admin_user, reason="Promoted")
    GroupRows = apps.get_model("audit", "HistoricalUser_groups")
    row = GroupRows.objects.filter(history__id=agent_a.pk).latest("pk")
    before = rows(GroupRows)
    assert_refused(lambda: GroupRows.objects.filter(pk=row.pk).update(group=Group.objects.get(name=Role.AUDITOR)))
    assert_refused(lambda: GroupRows.objects.filter(pk=row.pk).delete())
    assert_refused(row.delete)
    assert_refused(row.save)
    assert rows(GroupRows) == before


def test_the_access_log_refuses_too(event):
    before = rows(AccessEvent)
    assert_refused(lambda: AccessEvent.objects.filter(pk=event.pk).update(username="someone"))
    assert_refused(lambda: AccessEvent.objects.all().delete())
    event.username = "someone"
    assert_refused(event.save)
    assert_refused(event.delete)
    assert_refused(lambda: AccessEvent.objects.bulk_update([event], ["username"]))
    assert rows(AccessEvent) == before


def test_every_audit_table_and_every_history_manager_is_append_only():
    """Not just the tables tried above: each chained model's managers refuse, by construction."""
    for model in chained_models():
        for manager in (model.objects, model._default_manager):
            assert isinstance(manager.all(), ChainedQuerySet), model._meta.label
    for tracked in registered_models.values():
        name = getattr(tracked._meta, "simple_history_manager_attribute", None)
        if name is not None:  # m2m through models are registered without a manager of their own
            assert isinstance(getattr(tracked, name).all(), ChainedQuerySet), tracked._meta.label


def test_adding_records_is_allowed_and_chained(records, event):
    """The allowed side: new records append, and both chains still verify."""
    AccessEvent.objects.create(kind=AccessKind.LOGOUT, username="agent_a")
    assert verify_table(AccessEvent)[1] is None
    assert verify_table(History)[1] is None


# --- PostgreSQL: the database refuses, whoever asks --------------------------------------


def raw(sql: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def truncate(table: str):
    # The test's own inserts leave deferred foreign-key checks pending, and PostgreSQL
    # will not truncate with those queued: run them first, so the trigger is what answers.
    raw("SET CONSTRAINTS ALL IMMEDIATE")
    raw(f"TRUNCATE {table} CASCADE")


@pytest.mark.postgresql
@pytest.mark.parametrize(
    ("table", "key"),
    [(TABLE, "history_id"), ("audit_accessevent", "id"), ("audit_historicaluser_groups", "m2m_history_id")],
)
def test_postgresql_refuses_raw_update_delete_and_truncate(records, event, admin_user, agent_a, table, key):
    employee_set_roles(employee=agent_a.employee, roles=[Role.SUPERVISOR], actor=admin_user, reason="Promoted")
    model = next(m for m in chained_models() if m._meta.db_table == table)
    before = rows(model)
    assert before
    last = model._base_manager.order_by("-pk").values_list("pk", flat=True).first()

    error = refused(DatabaseError, lambda: raw(f"UPDATE {table} SET prev_hash = 'x' WHERE {key} = %s", [last]))  # noqa: S608
    assert f"Cannot update or delete rows from {table} table" in str(error)
    error = refused(DatabaseError, lambda: raw(f"DELETE FROM {table} WHERE {key} = %s", [last]))  # noqa: S608
    assert f"Cannot update or delete rows from {table} table" in str(error)
    error = refused(DatabaseError, lambda: truncate(table))
    assert f"audit table {table} is append-only: it cannot be truncated" in str(error)
    # The ORM's base manager (what cascades use) is refused by the table as well.
    error = refused(DatabaseError, lambda: model._base_manager.filter(pk=last).update(prev_hash="x"))
    assert "Cannot update or delete" in str(error)
    error = refused(DatabaseError, lambda: model._base_manager.filter(pk=last)._raw_delete(connection.alias))
    assert "Cannot update or delete" in str(error)

    assert rows(model) == before
    assert verify_table(model)[1] is None


@pytest.mark.postgresql
def test_postgresql_refuses_a_truncate_that_cascades_into_history(records):
    """Emptying the users with CASCADE would take every history table naming them along."""
    users = rows(apps.get_model("auth", "User"))
    error = refused(DatabaseError, lambda: truncate("auth_user"))
    assert "is append-only: it cannot be truncated" in str(error)
    assert rows(apps.get_model("auth", "User")) == users
    assert verify_table(History)[1] is None


@pytest.mark.postgresql
def test_postgresql_still_lets_history_be_appended(records):
    """The triggers refuse changes, not inserts: the services keep writing."""
    assert History.objects.count() >= 2
    assert verify_table(History)[1] is None


@pytest.mark.postgresql
def test_every_audit_table_has_its_append_only_triggers_installed_and_enabled():
    tables = [model._meta.db_table for model in chained_models()]
    assert len(tables) > 30
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, t.tgname, t.tgenabled
            FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
            WHERE NOT t.tgisinternal AND c.relname = ANY(%s)
            """,
            [tables],
        )
        found = cursor.fetchall()
    for table in tables:
        names = {name for relname, name, enabled in found if relname == table and enabled == "O"}
        assert any(name.startswith("pgtrigger_append_only_") for name in names), f"{table}: no append_only trigger"
        assert any(name.startswith("pgtrigger_no_truncate_") for name in names), f"{table}: no no_truncate trigger"
