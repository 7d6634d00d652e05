"""The least-privilege PostgreSQL layout: an owner role runs migrations, the portal runs
as an application role that cannot rewrite evidence (docs/database-roles.md).

The application role may read and write the working tables, but on the append-only
tables (every history table, the access log, the refused attempts) it may only
SELECT and INSERT: no UPDATE, DELETE or TRUNCATE privilege, so even a trigger that
is somehow off would not let it rewrite a row. It owns nothing, so it cannot
``ALTER TABLE ... DISABLE TRIGGER``, and it is no superuser, so it cannot set
``session_replication_role``. The append-only triggers no longer honour
``SET pgtrigger.ignore`` (``audit.triggers``).

Two halves: ``role_sql`` creates the roles and needs a superuser (or CREATEROLE);
``grant_sql`` sets privileges and may be run by the owner itself, which is what the
``post_migrate`` hook does after every migration when ``DATABASE_APP_ROLE`` is set.
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from .triggers import EvidenceProtect

APP_PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE"


def append_only_tables() -> list[str]:
    """Every table the append-only guard stands on, from the trigger registry."""
    return sorted(
        {model._meta.db_table for model, trigger in pgtrigger.registered() if isinstance(trigger, EvidenceProtect)}
    )


def _quote(connection: BaseDatabaseWrapper, name: str) -> str:
    return connection.ops.quote_name(name)


def role_sql(*, connection: BaseDatabaseWrapper, app_role: str, owner_role: str) -> list[str]:
    """Create the two roles when missing and strip the application role of every bypass."""
    app, owner = _quote(connection, app_role), _quote(connection, owner_role)
    database = _quote(connection, connection.settings_dict["NAME"])
    statements = []
    for name, quoted in ((owner_role, owner), (app_role, app)):
        literal = name.replace("'", "''")
        statements.append(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{literal}') THEN "
            f"CREATE ROLE {quoted} LOGIN; END IF; END $$"
        )
    statements += [
        # Neither role may bypass the triggers, row security or the privileges below.
        f"ALTER ROLE {owner} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS",
        f"ALTER ROLE {app} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT",
        # Membership in the owner would hand the application its ownership (ALTER, DISABLE TRIGGER).
        f"REVOKE {owner} FROM {app}",
        f"GRANT CONNECT ON DATABASE {database} TO {owner}, {app}",
        # Only the owner creates tables (PostgreSQL 15 already refuses CREATE to PUBLIC).
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
        f"GRANT USAGE, CREATE ON SCHEMA public TO {owner}",
    ]
    return statements


def tables_owned_by_others(*, connection: BaseDatabaseWrapper, owner_role: str) -> list[tuple[str, str]]:
    """(kind, name) of the tables and sequences in ``public`` the owner role does not own yet."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.relname
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S')
              AND pg_get_userbyid(c.relowner) <> %s
              AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i'))
            ORDER BY 1 DESC, 2
            """,
            [owner_role],
        )
        return cursor.fetchall()


def ownership_sql(*, connection: BaseDatabaseWrapper, owner_role: str) -> list[str]:
    """Hand an existing schema's tables to the owner role (needs a superuser)."""
    owner = _quote(connection, owner_role)
    return [
        f"ALTER {kind} {_quote(connection, name)} OWNER TO {owner}"
        for kind, name in tables_owned_by_others(connection=connection, owner_role=owner_role)
    ]


def grant_sql(*, connection: BaseDatabaseWrapper, app_role: str, owner_role: str) -> list[str]:
    """Privileges of the application role: idempotent, safe to run after every migration."""
    app, owner = _quote(connection, app_role), _quote(connection, owner_role)
    statements = [
        f"GRANT USAGE ON SCHEMA public TO {app}",
        f"REVOKE CREATE ON SCHEMA public FROM {app}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {app}",
        f"GRANT {APP_PRIVILEGES} ON ALL TABLES IN SCHEMA public TO {app}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}",
        # Tables of future migrations start with the working privileges; the hook (or
        # this command run again) takes UPDATE and DELETE back on new history tables.
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT {APP_PRIVILEGES} ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {app}",
    ]
    existing = set(connection.introspection.table_names())
    if "django_migrations" in existing:
        # Only the owner migrates.
        statements.append(f"REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {app}")
    tables = [table for table in append_only_tables() if table in existing]
    for chunk in range(0, len(tables), 50):
        names = ", ".join(_quote(connection, table) for table in tables[chunk : chunk + 50])
        statements.append(f"REVOKE UPDATE, DELETE, TRUNCATE ON {names} FROM {app}")
    return statements


def apply(statements: list[str], *, using: str = "default") -> None:
    connection = connections[using]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def regrant_after_migrate(*, using: str = "default", **kwargs) -> None:
    """After ``migrate`` run by the owner: the application role's privileges again, new tables included."""
    connection = connections[using]
    if not settings.DATABASE_APP_ROLE or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (owner_role,) = cursor.fetchone()
    with transaction.atomic(using=using):
        apply(grant_sql(connection=connection, app_role=settings.DATABASE_APP_ROLE, owner_role=owner_role), using=using)
