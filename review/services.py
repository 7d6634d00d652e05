"""Disciplinary cases: opened on the grounds of complaints and flagged changes,
suspend the employee pending review, closed with an outcome."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audit.choices import CaseOutcome, CaseState
from audit.context import audited
from audit.models import CaseNote, DisciplinaryCase
from backoffice.history import require_reason, stamp_change
from staff import services as staff_services
from staff.selectors import is_working


def _require_reviewer(actor) -> None:
    if not is_working(actor) or not (actor.is_superuser or actor.has_perm("audit.review_audit")):
        raise PermissionDenied("Only auditors and administrators keep disciplinary cases.")


def _require_not_own(case: DisciplinaryCase, actor) -> None:
    if case.employee_id == actor.pk:
        raise PermissionDenied("Nobody keeps their own case: another reviewer does.")


def _locked(case: DisciplinaryCase) -> DisciplinaryCase:
    return DisciplinaryCase.objects.select_for_update().get(pk=case.pk)


def _standing_flags(flags: Iterable, employee) -> list:
    """The flags read fresh: each about ``employee`` and not withdrawn."""
    from complaints.models import EmployeeFlag

    wanted = {flag.pk for flag in flags}
    found = list(EmployeeFlag.objects.select_related("complaint").filter(pk__in=wanted).order_by("pk"))
    for flag in found:
        if flag.employee_id != employee.pk:
            raise ValidationError(
                "Flag #%(pk)s is about another employee.", params={"pk": flag.pk}, code="flag_other_employee"
            )
        if flag.withdrawn_at is not None:
            raise ValidationError(
                "Flag #%(pk)s was withdrawn: it grounds no case.", params={"pk": flag.pk}, code="flag_withdrawn"
            )
    return found


@audited
def case_open(*, employee, summary: str, actor, reason: str, complaints: Iterable = (), flags: Iterable = ()):
    """Open a case on an employee; its grounds are complaints and the flagged changes."""
    reason = require_reason(reason)
    _require_reviewer(actor)
    if employee.pk == actor.pk:
        raise PermissionDenied("Nobody opens a case on themselves.")
    if not (summary or "").strip():
        raise ValidationError("Say what the employee is accused of.", code="summary_required")
    flags = _standing_flags(flags, employee)
    if DisciplinaryCase.objects.filter(employee=employee).exclude(state=CaseState.CLOSED).exists():
        raise ValidationError(
            "%(name)s already has an open case; add to it instead.", params={"name": employee.get_username()}
        )
    case = DisciplinaryCase(employee=employee, summary=summary.strip(), opened_by=actor)
    stamp_change(case, actor=actor, reason=reason)
    case.save()
    complaints = list(complaints) + [flag.complaint for flag in flags]
    if complaints:
        case.complaints.set({c.pk: c for c in complaints}.values())
    if flags:
        case.flags.set(flags)
    return case


@audited
def case_add_note(*, case: DisciplinaryCase, text: str, actor, reason: str = "Case note.") -> CaseNote:
    _require_reviewer(actor)
    _require_not_own(case, actor)
    text = (text or "").strip()
    if not text:
        raise ValidationError("A note needs some text.", code="note_required")
    note = CaseNote(case=_locked(case), author=actor, text=text)
    stamp_change(note, actor=actor, reason=require_reason(reason))
    note.save()
    return note


@audited
def case_suspend_employee(*, case: DisciplinaryCase, actor, reason: str):
    """Suspend the employee pending review: one call, everything recorded on the case."""
    reason = require_reason(reason)
    _require_reviewer(actor)
    case = _locked(case)
    _require_not_own(case, actor)
    if case.state != CaseState.OPEN:
        raise ValidationError(
            "Only an open case suspends its employee (this one is %(state)s).",
            params={"state": case.get_state_display().lower()},
        )
    suspension = staff_services.employee_suspend(user=case.employee, actor=actor, reason=reason, case=case)
    case.state = CaseState.SUSPENDED
    stamp_change(case, actor=actor, reason=reason)
    case.save()
    return suspension


@audited
def case_close(*, case: DisciplinaryCase, outcome: str, actor, reason: str, reinstate: bool = False):
    """Close with an outcome; ``reinstate`` gives a suspended employee back what was taken."""
    reason = require_reason(reason)
    _require_reviewer(actor)
    case = _locked(case)
    _require_not_own(case, actor)
    if case.state == CaseState.CLOSED:
        raise ValidationError("This case is already closed.", code="closed")
    if outcome not in CaseOutcome.values:
        raise ValidationError("Choose an outcome.", code="outcome_required")
    if reinstate:
        if case.state != CaseState.SUSPENDED:
            raise ValidationError("The employee was not suspended on this case.", code="not_suspended")
        if outcome == CaseOutcome.DISMISSED:
            raise ValidationError("A dismissed employee is not reinstated.", code="dismissed")
        staff_services.employee_reinstate(user=case.employee, actor=actor, reason=reason)
    case.state = CaseState.CLOSED
    case.outcome = outcome
    case.closed_by = actor
    case.closed_at = timezone.now()
    stamp_change(case, actor=actor, reason=reason)
    case.save()
    return case
