from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction

from audit import db_roles


class Command(BaseCommand):
    help = (
        "Print (or, with --apply, run) the SQL of the least-privilege PostgreSQL layout: an owner role "
        "that runs migrations and an application role for the portal that may only SELECT and INSERT on "
        "the append-only tables, owns nothing and cannot disable triggers. See docs/database-roles.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("--app-role", required=True, help="The role the portal connects as.")
        parser.add_argument("--owner-role", required=True, help="The role migrations run as; owns the tables.")
        parser.add_argument(
            "--grants-only",
            action="store_true",
            help="Only the privileges (what the owner itself may run); no CREATE/ALTER ROLE.",
        )
        parser.add_argument(
            "--take-ownership",
            action="store_true",
            help="Also hand existing tables and sequences to the owner role (needs a superuser).",
        )
        parser.add_argument(
            "--apply", action="store_true", help="Run the SQL in one transaction instead of printing it."
        )
        parser.add_argument("--database", default="default")

    def handle(self, *args, app_role, owner_role, grants_only, take_ownership, apply, database, **options):
        connection = connections[database]
        if connection.vendor != "postgresql":
            raise CommandError("Database roles are a PostgreSQL layout; this database is " + connection.vendor + ".")
        if app_role == owner_role:
            raise CommandError("The application role must not be the owner role.")
        roles = {"connection": connection, "app_role": app_role, "owner_role": owner_role}
        statements = [] if grants_only else db_roles.role_sql(**roles)
        if take_ownership:
            statements += db_roles.ownership_sql(connection=connection, owner_role=owner_role)
        statements += db_roles.grant_sql(**roles)
        if not apply:
            for statement in statements:
                self.stdout.write(statement + ";")
            return
        with transaction.atomic(using=database):
            db_roles.apply(statements, using=database)
        self.stdout.write(f"Applied {len(statements)} statements: {app_role} runs the portal, {owner_role} migrates.")
