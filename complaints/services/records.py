"""The regulator's case references, and flags on the employee whose change caused
a complaint (the start of a disciplinary review)."""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.context import audited
from backoffice.history import require_reason

from ..choices import EventKind, Regulator
from ..models import Complaint, EmployeeFlag, RegulatorCase, RegulatorResponse
from ..selectors import change_summary, flaggable_change
from ._common import locked_complaint, record_event, require_handler_or_supervisor, save


@audited
def regulator_case_record(
    *, complaint: Complaint, regulator: str, case_number: str, notified_on: date, actor, reason: str, note: str = ""
) -> RegulatorCase:
    """The regulator's case number and the day it told us; it may come after closure."""
    reason = require_reason(reason)
    complaint = locked_complaint(complaint)
    require_handler_or_supervisor(actor, complaint, "record regulator cases")
    if regulator not in Regulator.values:
        raise ValidationError("Choose the regulator.", code="regulator")
    case_number = (case_number or "").strip()
    if not case_number:
        raise ValidationError("Enter the regulator's case number.", code="case_number")
    if notified_on > timezone.localdate():
        raise ValidationError("The regulator cannot have notified us in the future.", code="notified_future")
    if notified_on < timezone.localtime(complaint.received_at).date():
        raise ValidationError("The regulator's notice cannot predate the complaint.", code="notified_before")
    if RegulatorCase.objects.filter(regulator=regulator, case_number=case_number).exists():
        raise ValidationError(
            "%(regulator)s case %(case)s is already recorded.", params={"regulator": regulator, "case": case_number}
        )
    case = RegulatorCase(
        complaint=complaint,
        regulator=regulator,
        case_number=case_number,
        notified_on=notified_on,
        recorded_by=actor,
        note=(note or "").strip(),
    )
    save(case, actor=actor, reason=reason)
    record_event(
        complaint,
        kind=EventKind.REGULATOR,
        actor=actor,
        text=f"{regulator} case {case_number}, notified {notified_on:%d %b %Y}. {reason}",
    )
    return case


@audited
def regulator_response_record(
    *, case: RegulatorCase, responded_on: date, summary: str, actor, reason: str
) -> RegulatorResponse:
    reason = require_reason(reason)
    complaint = locked_complaint(case.complaint)
    require_handler_or_supervisor(actor, complaint, "record answers to the regulator")
    summary = (summary or "").strip()
    if not summary:
        raise ValidationError("Summarise what was sent to the regulator.", code="summary")
    if responded_on > timezone.localdate() or responded_on < case.notified_on:
        raise ValidationError(
            "The response date must be between the notice (%(notified)s) and today.",
            params={"notified": f"{case.notified_on:%d %b %Y}"},
            code="responded_on",
        )
    response = RegulatorResponse(case=case, responded_on=responded_on, summary=summary, recorded_by=actor)
    save(response, actor=actor, reason=reason)
    record_event(
        complaint,
        kind=EventKind.REGULATOR,
        actor=actor,
        text=f"Response to {case.regulator} case {case.case_number} on {responded_on:%d %b %Y}: {summary}",
    )
    return response


@audited
def employee_flag(*, complaint: Complaint, change: str, actor, reason: str) -> EmployeeFlag:
    """Flag the employee who made ``change`` ("numbers.holding:<history id>", a history
    record of one of the complaint's numbers). The flag keeps both: who, and which change."""
    reason = require_reason(reason)
    complaint = locked_complaint(complaint)
    require_handler_or_supervisor(actor, complaint, "flag employees")
    record = flaggable_change(complaint=complaint, change=change)
    if record is None:
        raise ValidationError(
            "Choose a change to one of this complaint's numbers, made by an employee.", code="change_unknown"
        )
    model_label = change.partition(":")[0]
    employee = record.history_user
    if employee.pk == actor.pk:
        raise ValidationError("You cannot flag your own change; ask a supervisor.", code="own_change")
    if EmployeeFlag.objects.filter(
        complaint=complaint, change_model=model_label, change_history_id=record.history_id, withdrawn_at__isnull=True
    ).exists():
        raise ValidationError("This change is already flagged on this complaint.", code="already_flagged")
    summary = change_summary(model_label, record)
    flag = EmployeeFlag(
        complaint=complaint,
        employee=employee,
        change_model=model_label,
        change_history_id=record.history_id,
        change_object_id=record.id,
        change_at=record.history_date,
        change_summary=summary,
        flagged_by=actor,
        reason=reason,
    )
    save(flag, actor=actor, reason=reason)
    record_event(
        complaint,
        kind=EventKind.EMPLOYEE_FLAGGED,
        actor=actor,
        text=f"{employee.get_username()} flagged for: {summary}. {reason}",
    )
    return flag


@audited
def employee_flag_withdraw(*, flag: EmployeeFlag, actor, reason: str) -> EmployeeFlag:
    """A flag raised in error is withdrawn, never deleted."""
    reason = require_reason(reason)
    complaint = locked_complaint(flag.complaint)
    flag = EmployeeFlag.objects.select_for_update().get(pk=flag.pk)
    require_handler_or_supervisor(actor, complaint, "withdraw flags")
    if flag.withdrawn_at is not None:
        raise ValidationError("This flag was already withdrawn.", code="already_withdrawn")
    flag.withdrawn_at = timezone.now()
    flag.withdrawn_by = actor
    flag.withdrawal_reason = reason
    save(flag, actor=actor, reason=reason)
    record_event(
        complaint,
        kind=EventKind.FLAG_WITHDRAWN,
        actor=actor,
        text=f"Flag on {flag.employee.get_username()} withdrawn: {reason}",
    )
    return flag
