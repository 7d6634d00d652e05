"""The regulator's cases and our responses, and employee flags."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_POST

from staff.selectors import display_name

from .. import selectors, services
from ..forms import ComplaintReasonForm, EmployeeFlagForm, RegulatorCaseForm, RegulatorResponseForm
from .common import FLAG, REG_RESPONSE, REGULATOR, UNFLAG, act_on_complaint, complaint_or_403, part_or_404, row_prefix


@login_required
@require_POST
def regulator_case_record(request, pk: int):
    complaint = complaint_or_403(request, pk)
    form = RegulatorCaseForm(request.POST, prefix=REGULATOR)

    def perform(data):
        case = services.regulator_case_record(
            complaint=complaint,
            regulator=data["regulator"],
            case_number=data["case_number"],
            notified_on=data["notified_on"],
            note=data["note"],
            actor=request.user,
            reason=data["reason"],
        )
        return f"{case.regulator} case {case.case_number} recorded."

    return act_on_complaint(request, complaint, form, perform, what="Regulator case")


@login_required
@require_POST
def regulator_response_record(request, pk: int, case_id: int):
    complaint = complaint_or_403(request, pk)
    case = part_or_404(selectors.complaint_regulator_case(complaint=complaint, pk=case_id))
    form = RegulatorResponseForm(request.POST, prefix=row_prefix(REG_RESPONSE, case.pk))

    def perform(data):
        services.regulator_response_record(
            case=case,
            responded_on=data["responded_on"],
            summary=data["summary"],
            actor=request.user,
            reason=data["reason"],
        )
        return f"Response to {case.regulator} case {case.case_number} recorded."

    return act_on_complaint(request, complaint, form, perform, what="Regulator response")


@login_required
@require_POST
def employee_flag(request, pk: int):
    complaint = complaint_or_403(request, pk)
    form = EmployeeFlagForm(request.POST, prefix=FLAG, changes=selectors.flaggable_changes(complaint))

    def perform(data):
        flag = services.employee_flag(
            complaint=complaint, change=data["change"], actor=request.user, reason=data["reason"]
        )
        return f"{display_name(flag.employee)} ({flag.employee.get_username()}) flagged for review."

    return act_on_complaint(request, complaint, form, perform, what="Employee flag")


@login_required
@require_POST
def employee_flag_withdraw(request, pk: int, flag_id: int):
    complaint = complaint_or_403(request, pk)
    flag = part_or_404(selectors.complaint_flag(complaint=complaint, pk=flag_id))
    form = ComplaintReasonForm(request.POST, prefix=row_prefix(UNFLAG, flag.pk))

    def perform(data):
        services.employee_flag_withdraw(flag=flag, actor=request.user, reason=data["reason"])
        return f"Flag on {display_name(flag.employee)} ({flag.employee.get_username()}) withdrawn."

    return act_on_complaint(request, complaint, form, perform, what="Withdrawing the flag")
