"""Evidence a database session cannot rewrite: the append-only triggers do not honour
``SET pgtrigger.ignore``, and the portal's own role (``manage.py db_roles``) may only
read and append history, owns nothing, and can neither disable triggers nor set
``session_replication_role``. The roles are made inside the test's transaction (a
PostgreSQL CREATE ROLE rolls back with it), the session switched with SET ROLE."""

from __future__ import annotations

import io
import uuid
from contextlib import contextmanager

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from audit import db_roles
from audit.chain import chained_models, verify_table
from audit.choices import AccessKind
from audit.models import AccessEvent
from numbers.choices import NumberStatus
from numbers.models import Holding, MobileNumber
from numbers.services import number_create, number_transition
from tests.helpers import refused

pytestmark = pytest.mark.django_db

History = MobileNumber.history.model
TABLE = History._meta.db_table


def raw(sql: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else None


def quoted(name: str) -> str:
    return connection.ops.quote_name(name)


def trigger_name(table: str, prefix: str) -> str:
    (row,) = raw(
        "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE c.relname = %s AND t.tgname LIKE %s",
        [table, prefix + "%"],
    )
    return row[0]


def ignoring(trigger: str, statement: str):
    """Run ``statement`` with ``trigger`` named in pgtrigger.ignore (what pgtrigger.ignore() does)."""
    raw(f"SET LOCAL pgtrigger.ignore = '{{{trigger}}}'")
    return raw(statement)


@contextmanager
def as_role(role: str):
    """This connection acts as ``role`` for the block (the test itself runs as a superuser)."""
    with transaction.atomic():
        raw(f"SET LOCAL ROLE {quoted(role)}")
        yield
        raw("RESET ROLE")


@pytest.fixture
def roles(db):
    """A fresh owner and application role with the portal's grants, applied by the command."""
    suffix = uuid.uuid4().hex[:8]
    app, owner = f"test_app_{suffix}", f"test_owner_{suffix}"
    call_command("db_roles", "--app-role", app, "--owner-role", owner, "--apply", stdout=io.StringIO())
    return app, owner


@pytest.fixture
def record(admin_user, branch_a):
    number_create(msisdn="+85512998101", branch=branch_a, actor=admin_user, reason="New stock")
    return History.objects.order_by("-pk").first()


def history_rows() -> list[tuple]:
    return list(History._base_manager.order_by("pk").values_list())


# --- The trigger itself, whoever asks -----------------------------------------------------


@pytest.mark.postgresql
def test_set_pgtrigger_ignore_does_not_lift_the_append_only_guard_even_for_a_superuser(record):
    """On the old pgtrigger.Protect, naming the trigger in pgtrigger.ignore let this UPDATE through."""
    before = history_rows()
    guard = trigger_name(TABLE, "pgtrigger_append_only_")
    update = f"UPDATE {TABLE} SET history_change_reason = 'rewritten' WHERE history_id = %s"  # noqa: S608
    delete = f"DELETE FROM {TABLE} WHERE history_id = %s"  # noqa: S608
    for sql in (update, delete):
        with pytest.raises(DatabaseError, match="Cannot update or delete"), transaction.atomic():
            raw(f"SET LOCAL pgtrigger.ignore = '{{{guard}}}'")
            raw(sql, [record.pk])
    assert history_rows() == before
    assert verify_table(History)[1] is None


@pytest.mark.postgresql
def test_no_evidence_trigger_function_consults_pgtrigger_ignore():
    """Every trigger on every append-only table (history, access log, refused attempts)."""
    tables = [model._meta.db_table for model in chained_models()]
    assert set(db_roles.append_only_tables()) == set(tables)
    functions = raw(
        """
        SELECT c.relname, t.tgname, p.prosrc
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
        WHERE NOT t.tgisinternal AND c.relname = ANY(%s)
        """,
        [tables],
    )
    assert len(functions) >= 2 * len(tables)
    honouring = [f"{table}.{name}" for table, name, source in functions if "pgtrigger_should_ignore" in source]
    assert honouring == []


@pytest.mark.postgresql
def test_set_pgtrigger_ignore_does_not_lift_the_holding_ledger_guard(active):
    holding = Holding.objects.get(number=active)
    with pytest.raises(DatabaseError), transaction.atomic():
        raw("SET LOCAL pgtrigger.ignore = '{numbers_holding_fixed}'")
        raw("UPDATE numbers_holding SET started_at = started_at - interval '1 day' WHERE id = %s", [holding.pk])
    assert Holding.objects.get(pk=holding.pk).started_at == holding.started_at


# --- The application role -----------------------------------------------------------------


@pytest.mark.postgresql
def test_the_app_role_cannot_rewrite_history_whatever_it_sets(roles, record):
    app, _owner = roles
    before = history_rows()
    guard = trigger_name(TABLE, "pgtrigger_append_only_")
    with as_role(app):
        for statement in (
            f"UPDATE {TABLE} SET history_change_reason = 'rewritten' WHERE history_id = {record.pk}",  # noqa: S608
            f"DELETE FROM {TABLE} WHERE history_id = {record.pk}",  # noqa: S608
            f"TRUNCATE {TABLE}",
            "UPDATE audit_accessevent SET username = 'someone else'",
        ):
            error = refused(DatabaseError, lambda s=statement: ignoring(guard, s))
            assert "permission denied" in str(error)
    assert history_rows() == before
    assert verify_table(History)[1] is None


@pytest.mark.postgresql
def test_the_app_role_cannot_switch_the_triggers_off(roles, record):
    app, _owner = roles
    guard = trigger_name(TABLE, "pgtrigger_append_only_")
    raw("SET CONSTRAINTS ALL IMMEDIATE")  # so ownership, not queued checks, is what answers
    with as_role(app):
        for statement, message in (
            (f"ALTER TABLE {TABLE} DISABLE TRIGGER {guard}", "must be owner"),
            (f"ALTER TABLE {TABLE} DISABLE TRIGGER ALL", "must be owner"),
            ("ALTER TABLE numbers_holding DISABLE TRIGGER numbers_holding_fixed", "must be owner"),
            (f"DROP TRIGGER {guard} ON {TABLE}", "must be owner"),
            (f"CREATE OR REPLACE FUNCTION {guard}() RETURNS trigger AS 'BEGIN RETURN NEW; END' LANGUAGE plpgsql", ""),
            ("SET session_replication_role = replica", "permission denied"),
            ("CREATE TABLE evidence_copy (id int)", "permission denied"),
        ):
            error = refused(DatabaseError, lambda s=statement: raw(s))
            assert message in str(error), statement
    (enabled,) = raw("SELECT tgenabled FROM pg_trigger WHERE tgname = %s", [guard])
    assert enabled == ("O",)


@pytest.mark.postgresql
def test_the_app_role_has_no_bypass_and_no_write_privilege_on_any_append_only_table(roles):
    app, owner = roles
    ((superuser, bypassrls, createrole, member),) = raw(
        "SELECT rolsuper, rolbypassrls, rolcreaterole, pg_has_role(%s, %s, 'MEMBER') FROM pg_roles WHERE rolname = %s",
        [app, owner, app],
    )
    assert (superuser, bypassrls, createrole, member) == (False, False, False, False)
    for table in db_roles.append_only_tables():
        for privilege, held in (("SELECT", True), ("INSERT", True), ("UPDATE", False), ("DELETE", False)):
            assert raw("SELECT has_table_privilege(%s, %s, %s)", [app, table, privilege]) == [(held,)], (
                table,
                privilege,
            )
        assert raw("SELECT has_table_privilege(%s, %s, 'TRUNCATE')", [app, table]) == [(False,)]
    for table, privilege in (("numbers_mobilenumber", "UPDATE"), ("audit_chainhead", "UPDATE")):
        assert raw("SELECT has_table_privilege(%s, %s, %s)", [app, table, privilege]) == [(True,)]
    assert raw("SELECT has_table_privilege(%s, 'django_migrations', 'INSERT')", [app]) == [(False,)]
    assert raw(
        "SELECT count(*) FROM pg_class WHERE relowner = (SELECT oid FROM pg_roles WHERE rolname = %s)", [app]
    ) == [(0,)]


@pytest.mark.postgresql
def test_the_portal_still_works_as_the_app_role(roles, admin_user, branch_a, agent_a):
    """Services write their rows, their history and the chain's head as the app role."""
    app, _owner = roles
    before = History.objects.count()
    with as_role(app):
        assert raw("SELECT current_user") == [(app,)]
        number = number_create(msisdn="+85512998102", branch=branch_a, actor=admin_user, reason="New stock")
        number_transition(
            number=number, to_status=NumberStatus.RESERVED, actor=admin_user, reason="Held for a customer"
        )
        AccessEvent.objects.create(kind=AccessKind.LOGIN, user=agent_a, username="agent_a", ip_address="10.0.0.1")
    assert History.objects.count() == before + 2
    assert verify_table(History)[1] is None
    assert verify_table(AccessEvent)[1] is None


@pytest.mark.postgresql
def test_the_owner_holds_the_dba_path_the_app_role_lacks(roles, record):
    """The table's owner may disable a trigger for a repair; the same statement is refused to the portal."""
    app, owner = roles
    guard = trigger_name(TABLE, "pgtrigger_append_only_")
    raw("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE waits for no queued foreign-key check
    raw(f"ALTER TABLE {TABLE} OWNER TO {quoted(owner)}")
    with as_role(app):
        refused(DatabaseError, lambda: raw(f"ALTER TABLE {TABLE} DISABLE TRIGGER {guard}"))
    with as_role(owner):
        raw(f"ALTER TABLE {TABLE} DISABLE TRIGGER {guard}")
        raw(f"ALTER TABLE {TABLE} ENABLE TRIGGER {guard}")
        error = refused(DatabaseError, lambda: raw("SET session_replication_role = replica"))
        assert "permission denied" in str(error)


@pytest.mark.postgresql
def test_migrate_as_owner_takes_update_back_on_a_new_history_table(roles, settings, record):
    """A table a migration adds starts with the default privileges (UPDATE included);
    the post_migrate hook run as the owner revokes it on append-only tables."""
    app, _owner = roles
    raw(f"GRANT UPDATE, DELETE ON {TABLE} TO {quoted(app)}")  # as a fresh table would have them
    settings.DATABASE_APP_ROLE = ""
    db_roles.regrant_after_migrate(using="default")
    assert raw("SELECT has_table_privilege(%s, %s, 'UPDATE')", [app, TABLE]) == [(True,)]
    settings.DATABASE_APP_ROLE = app
    db_roles.regrant_after_migrate(using="default")
    assert raw("SELECT has_table_privilege(%s, %s, 'UPDATE')", [app, TABLE]) == [(False,)]
    assert raw("SELECT has_table_privilege(%s, 'numbers_mobilenumber', 'UPDATE')", [app]) == [(True,)]


@pytest.mark.postgresql
def test_the_command_prints_the_layout(capsys):
    call_command("db_roles", "--app-role", "backoffice_app", "--owner-role", "backoffice_owner")
    out = capsys.readouterr().out
    assert 'CREATE ROLE "backoffice_app" LOGIN' in out
    revoked = " ".join(line for line in out.splitlines() if line.startswith("REVOKE UPDATE, DELETE, TRUNCATE ON"))
    for table in db_roles.append_only_tables():
        assert f'"{table}"' in revoked
    assert 'ALTER DEFAULT PRIVILEGES FOR ROLE "backoffice_owner"' in out
    assert raw("SELECT count(*) FROM pg_roles WHERE rolname = 'backoffice_app'") == [(0,)]


def test_the_command_refuses_the_same_role_twice_and_other_databases():
    with pytest.raises(CommandError) as error:
        call_command("db_roles", "--app-role", "portal", "--owner-role", "portal")
    expected = "must not be the owner role" if connection.vendor == "postgresql" else "a PostgreSQL layout"
    assert expected in str(error.value)


@pytest.fixture
def committed_roles(transactional_db):
    """The roles, committed, so a second connection can log in as them; dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    app, owner = f"test_app_{suffix}", f"test_owner_{suffix}"
    call_command("db_roles", "--app-role", app, "--owner-role", owner, "--apply", stdout=io.StringIO())
    yield app, owner
    for role in (app, owner):
        raw(f"DROP OWNED BY {quoted(role)}")
        raw(f"DROP ROLE {quoted(role)}")


@pytest.mark.postgresql
def test_a_session_logged_in_as_the_app_role_cannot_rewrite_or_bypass(committed_roles, admin_user, branch_a):
    """Not SET ROLE from a superuser session: a login of its own, as the portal has."""
    app, owner = committed_roles
    number_create(msisdn="+85512998103", branch=branch_a, actor=admin_user, reason="New stock")
    record = History.objects.order_by("-pk").first()
    before = history_rows()
    guard = trigger_name(TABLE, "pgtrigger_append_only_")
    settings_dict = connection.settings_dict
    with psycopg.connect(
        host=settings_dict["HOST"], port=settings_dict["PORT"] or 5432, dbname=settings_dict["NAME"], user=app
    ) as session:
        assert session.execute("SELECT session_user, current_user").fetchone() == (app, app)
        assert session.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == len(before)  # noqa: S608
        session.commit()
        for statement in (
            f"UPDATE {TABLE} SET history_change_reason = 'rewritten' WHERE history_id = {record.pk}",  # noqa: S608
            f"DELETE FROM {TABLE} WHERE history_id = {record.pk}",  # noqa: S608
            f"TRUNCATE {TABLE}",
            f"ALTER TABLE {TABLE} DISABLE TRIGGER {guard}",
            "SET session_replication_role = replica",
            f"SET ROLE {quoted(owner)}",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                session.execute(f"SET pgtrigger.ignore = '{{{guard}}}'")
                session.execute(statement)
            session.rollback()
    assert history_rows() == before
    assert verify_table(History)[1] is None


@pytest.mark.postgresql
def test_an_existing_schema_handed_to_the_owner_migrates_as_the_owner(settings, record):
    """The deployment path: --take-ownership, then migrations (DDL and the re-grant) as the owner."""
    suffix = uuid.uuid4().hex[:8]
    app, owner = f"test_app_{suffix}", f"test_owner_{suffix}"
    raw("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE waits for no queued foreign-key check
    call_command(
        "db_roles", "--app-role", app, "--owner-role", owner, "--take-ownership", "--apply", stdout=io.StringIO()
    )
    assert db_roles.tables_owned_by_others(connection=connection, owner_role=owner) == []
    settings.DATABASE_APP_ROLE = app
    with as_role(owner):
        raw("CREATE TABLE audit_newhistory (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY)")
        raw(f"GRANT UPDATE ON {TABLE} TO {quoted(app)}")  # a slip the re-grant undoes
        db_roles.regrant_after_migrate(using="default")
    assert raw("SELECT has_table_privilege(%s, 'audit_newhistory', 'INSERT')", [app]) == [(True,)]
    assert raw("SELECT has_table_privilege(%s, %s, 'UPDATE')", [app, TABLE]) == [(False,)]
    with as_role(app):
        refused(DatabaseError, lambda: raw("ALTER TABLE audit_newhistory ADD COLUMN note text"))
        raw("INSERT INTO audit_newhistory DEFAULT VALUES")
