"""Refused attempts are evidence: what counts as a refusal, and how one is recorded.

A service refuses on **authority** when it raises ``PermissionDenied`` (always a
refusal), and on a **rule** when it raises a ``ValidationError`` whose code names
a rule: ``four_eyes``, ``holder_change_refused``, ``illegal_move``,
``guarded_field_change``, ``wrong_code``, ``transfer_locked``, ``document_mismatch``...
Every coded error is a rule unless its code is in ``BAD_INPUT_CODES`` or ends in
``_required``: those say the form was incomplete or malformed (a missing reason, a
malformed msisdn, an unknown choice), which is a typing mistake, not an attempt.
A ``ValidationError`` without a code is plain bad input too. The rule list is
therefore open: a new rule code is recorded without touching this module, and
only a new bad-input code has to be named here.

``audit.context.audited`` calls ``record`` for the outermost service only, after
the service's own transaction rolled back, in a transaction of its own (the
request is not one transaction: ATOMIC_REQUESTS is off). A service that returns
its refusal instead of raising it, so that a counted try commits (the wrong
one-time code), has it recorded in its own transaction.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, models, transaction

from . import context
from .choices import RefusalKind
from .models import RefusedAttempt

logger = logging.getLogger(__name__)

# Codes of malformed or incomplete input: not an attempt to break a rule.
BAD_INPUT_CODES = frozenset(
    {
        # Django's own form and field codes.
        "required",
        "invalid",
        "invalid_choice",
        "max_length",
        "min_length",
        "max_value",
        "min_value",
        "null",
        "blank",
        "unique",
        # Malformed values.
        "empty",
        "invalid_characters",
        "not_mobile",
        "form_too_large",
        "form_kind",
        "received_future",
        "notified_future",
        "notified_before",
        "responded_on",
        "responded_at",
        "valid_days",
        "expiry",
        "old",
        # A choice not made or unknown.
        "unknown_status",
        "document_type",
        "party",
        "kind",
        "category",
        "channel",
        "severity",
        "regulator",
        "branch",
        "case_number",
        "change_unknown",
        # A text left out.
        "summary",
        "description",
        "number_needed",
        # The same thing entered twice (an inventory number, a flag already raised).
        "duplicate",
        # Configuration, not anybody's attempt.
        "sla_misconfigured",
        "no_sla_table",
        "no_sla_rule",
        "no_default_rule",
    }
)


def _codes(error: ValidationError) -> list[str]:
    if hasattr(error, "error_dict"):
        return [code for errors in error.error_dict.values() for e in errors for code in _codes(e)]
    if hasattr(error, "error_list") and (len(error.error_list) != 1 or error.error_list[0] is not error):
        return [code for e in error.error_list for code in _codes(e)]
    return [error.code] if getattr(error, "code", None) else []


def _message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error) or type(error).__name__


def classify(error: BaseException) -> tuple[str, str] | None:
    """(kind, rule) when ``error`` is a refusal worth recording; None for bad input and failures."""
    if isinstance(error, PermissionDenied):
        return RefusalKind.AUTHORITY, "permission_denied"
    if isinstance(error, ValidationError):
        for code in _codes(error):
            if code not in BAD_INPUT_CODES and not code.endswith("_required"):
                return RefusalKind.RULE, code
    return None


def _label(obj: models.Model) -> str:
    try:
        return str(obj)[:200]
    except Exception:  # noqa: BLE001 - a __str__ that needs a row the rollback removed
        return ""


def record(
    *, service: str, actor: Any, target: models.Model | None, error: BaseException, request_id: str | None
) -> None:
    """Write the refusal, if ``error`` is one. Never hides the error it records."""
    verdict = classify(error)
    if verdict is None:
        return
    kind, rule = verdict
    actor_pk = getattr(actor, "pk", None) if getattr(actor, "is_authenticated", False) else None
    job = context.current_job()
    attempt = RefusedAttempt(
        actor_id=actor_pk,
        actor_label=(actor.get_username() if actor_pk else (f"job:{job}" if job else ""))[:150],
        kind=kind,
        service=service[:100],
        rule=rule[:100],
        message=_message(error),
        target_model=target._meta.label_lower if target is not None else "",
        target_pk=str(target.pk)[:40] if target is not None else "",
        target_label=_label(target) if target is not None else "",
        history_request_id=request_id or "",
    )
    try:
        with context.request_scope(request_id), transaction.atomic():
            context.chain_lock()
            attempt.save()
    except DatabaseError:
        # The refusal itself stands; losing its record must not turn it into a server error.
        logger.exception("Could not record the refusal of %s (%s)", service, rule)
