"""SLA configuration that needs more than a form: which table is active."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError

from audit.context import audited
from backoffice.history import require_reason, stamp_change

from ..models import SlaTable
from ._common import require_working


@audited
def sla_table_activate(*, table: SlaTable, actor, reason: str) -> SlaTable:
    """Make ``table`` the one active SLA table: the table active until now is
    deactivated in the same transaction (constraint ``sla_one_active_table``).
    New complaints take their clocks from it; complaints already received keep theirs."""
    reason = require_reason(reason)
    require_working(actor)
    if not actor.has_perm("complaints.change_slatable"):
        raise PermissionDenied("You may not change the SLA tables.")
    # Every table, locked in one order: two administrators activating at once queue.
    tables = {row.pk: row for row in SlaTable.objects.select_for_update().order_by("pk")}
    table = tables[table.pk]
    if table.is_active:
        raise ValidationError("%(table)s is already the active SLA table.", params={"table": table.name})
    if not table.rules.filter(category="", severity="").exists():
        raise ValidationError(
            "%(table)s has no default rule (any category, any severity): a complaint it has no rule for "
            "could not be taken in. Add one before activating it.",
            params={"table": table.name},
            code="no_default_rule",
        )
    for other in tables.values():
        if other.is_active:
            other.is_active = False
            stamp_change(other, actor=actor, reason=f"{table.name} activated instead: {reason}")
            other.save(update_fields=["is_active"])
    table.is_active = True
    stamp_change(table, actor=actor, reason=reason)
    table.save(update_fields=["is_active"])
    return table
