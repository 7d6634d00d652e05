"""Evidence triggers that no session can switch off with ``SET pgtrigger.ignore``.

django-pgtrigger wraps every trigger function in a check of the session setting
``pgtrigger.ignore``: any role that may run ``SET`` (every role) could name the
append-only trigger there and then rewrite or delete history. The triggers here
are compiled from the same parts with a template that leaves that check out, so
switching one off takes what only a database administrator holds: ownership of
the table (``ALTER TABLE ... DISABLE TRIGGER``) or a superuser's
``session_replication_role = replica`` (see docs/database-roles.md).

Migrations name ``EvidenceTriggerSql`` by its path: keep this module and the
template as they are, or add a new versioned class beside them.
"""

from __future__ import annotations

import pgtrigger
from pgtrigger import compiler


class EvidenceTriggerSql(compiler.UpsertTriggerSql):
    """pgtrigger's install template (v1) without the ``pgtrigger.ignore`` escape hatch."""

    def get_template(self) -> str:
        return """
            CREATE OR REPLACE FUNCTION {pgid}()
            RETURNS TRIGGER AS $$
                {declare}
                BEGIN
                    {func}
                END;
            $$ LANGUAGE plpgsql;

            DROP TRIGGER IF EXISTS {pgid} ON {table};
            CREATE {constraint} TRIGGER {pgid}
                {when} {operation} ON {table}
                {timing}
                {referencing}
                FOR EACH {level} {condition}
                EXECUTE PROCEDURE {execute};

            COMMENT ON TRIGGER {pgid} ON {table} IS '{hash}';
        """


class NotIgnorable:
    """Mixin for a ``pgtrigger.Trigger``: compile to ``EvidenceTriggerSql``."""

    def compile(self, model) -> compiler.Trigger:
        compiled = super().compile(model)
        parts = {key: value for key, value in compiled.sql.kwargs.items() if key != "ignore_func_name"}
        return compiler.Trigger(name=compiled.name, sql=EvidenceTriggerSql(**parts))


class EvidenceProtect(NotIgnorable, pgtrigger.Protect):
    """``pgtrigger.Protect`` (same message) that ``pgtrigger.ignore`` cannot lift."""


class EvidenceTrigger(NotIgnorable, pgtrigger.Trigger):
    """``pgtrigger.Trigger`` that ``pgtrigger.ignore`` cannot lift."""
