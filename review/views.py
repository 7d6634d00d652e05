"""The audit review at /review/: an employee's changes over a period, any object's
history, one request's changes, and the disciplinary cases.

Auditors and administrators only (``staff.selectors.can_review``); everyone else gets a
403, and the anonymous the sign-in page. Reads go through ``review.selectors``;
writes only through ``review.services``. A refusal (ValidationError or
PermissionDenied from a service) is a message and changes nothing. Every action
is a POST that redirects back (post/redirect/get) and works without JavaScript.
"""

from __future__ import annotations

import functools
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_GET, require_POST

from audit.choices import CaseState
from audit.models import DisciplinaryCase
from audit.signals import record_subscriber_view
from backoffice.adminkit import report_service_error
from backoffice.screens import RowPaginator, page_number, render_screen, report_form_errors
from staff.reauth import reauth_required
from staff.selectors import can_review

from . import exports, selectors, services
from .forms import (
    CaseCloseForm,
    CaseFilterForm,
    CaseNoteForm,
    CaseSuspendForm,
    ObjectLookupForm,
    OpenCaseForm,
    ReviewForm,
    SuspendForm,
)

CASES_PER_PAGE = 50
# Form prefixes: the pages show several forms, each with its own "reason".
OPEN_CASE, SUSPEND, NOTE, CLOSE, LOOKUP = "case", "suspend", "note", "close", "lookup"


def reviewer_required(view):
    """Signed in (else the sign-in page), working, and an auditor or administrator (else 403)."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not can_review(request.user):
            raise PermissionDenied("Only auditors and administrators use the audit review.")
        return view(request, *args, **kwargs)

    return wrapper


def employee_url(user) -> str:
    return f"{reverse('audit:review')}?{urlencode({'employee': user.pk})}"


def _employee_or_404(user_id: int):
    return get_object_or_404(get_user_model()._default_manager, pk=user_id)


def _form_problems(form) -> str:
    """A read-only form's errors as one line: what to fix, field by field."""
    parts = []
    for name, errors in form.errors.items():
        label = form[name].label if name in form.fields else ""
        parts.append(f"{label}: {' '.join(errors)}" if label else " ".join(errors))
    return " ".join(parts)


def _open_case(employee) -> DisciplinaryCase | None:
    return DisciplinaryCase.objects.filter(employee=employee).exclude(state=CaseState.CLOSED).first()


# --- The employee's timeline -------------------------------------------------------------


def _query(form: ReviewForm, **extra) -> str:
    data = form.cleaned_data
    params = {
        "employee": data["employee"].pk,
        "since": data["since"].isoformat(),
        "until": data["until"].isoformat(),
        "model": data.get("model") or "",
        "action": data.get("action") or "",
        **extra,
    }
    return urlencode({key: value for key, value in params.items() if value not in ("", None)})


@reviewer_required
@require_GET
def review(request):
    """Pick an employee and a period; see everything they changed, and act on it."""
    form = ReviewForm(request.GET if "employee" in request.GET else None)
    context = {"title": "Audit review", "form": form, "summary": None, "lookup_form": ObjectLookupForm(prefix=LOOKUP)}
    if form.is_bound and form.is_valid():
        employee = form.cleaned_data["employee"]
        since, until = form.period()
        page = page_number(request.GET.get("page"))
        timeline = selectors.employee_timeline(employee, since, until, form.models(), form.actions(), page=page)
        events, more_events = selectors.access_events(employee, since, until)
        refusals, more_refusals = selectors.refused_attempts(employee, since, until)
        summary = selectors.employee_summary(employee)
        has_case = summary.open_case is not None
        context.update(
            {
                "title": f"Audit review: {summary.name}",
                "employee": employee,
                "summary": summary,
                "timeline": timeline,
                "events": events,
                "more_events": more_events,
                "refusals": refusals,
                "more_refusals": more_refusals,
                "query": _query(form),
                "next_query": _query(form, page=page + 1) if timeline.has_more else "",
                "previous_query": _query(form, page=page - 1) if page > 1 else "",
                "open_case_form": None if has_case else OpenCaseForm(prefix=OPEN_CASE, employee=employee),
                "suspend_form": None
                if summary.suspension or (has_case and summary.open_case.state != CaseState.OPEN)
                else SuspendForm(prefix=SUSPEND, needs_summary=not has_case),
                "is_self": employee.pk == request.user.pk,
            }
        )
    return render_screen(request, "audit/review.html", context)


def _export_form(request):
    form = ReviewForm(request.GET)
    if form.is_valid():
        return form, None
    messages.error(request, f"Nothing exported. {_form_problems(form)}")
    target = reverse("audit:review")
    return None, redirect(f"{target}?{request.GET.urlencode()}" if request.GET else target)


@reviewer_required
@require_GET
@reauth_required
def export_csv(request):
    form, refusal = _export_form(request)
    if refusal:
        return refusal
    since, until = form.period()
    return exports.timeline_csv(
        form.cleaned_data["employee"],
        since,
        until,
        models=form.models(),
        actions=form.actions(),
        period=(form.cleaned_data["since"], form.cleaned_data["until"]),
    )


@reviewer_required
@require_GET
@reauth_required
def export_pdf(request):
    form, refusal = _export_form(request)
    if refusal:
        return refusal
    since, until = form.period()
    return exports.dossier_pdf(
        form.cleaned_data["employee"],
        since,
        until,
        generated_by=request.user,
        models=form.models(),
        actions=form.actions(),
        period=(form.cleaned_data["since"], form.cleaned_data["until"]),
    )


# --- Acting on an employee ---------------------------------------------------------------


@reviewer_required
@require_POST
def employee_open_case(request, user_id: int):
    employee = _employee_or_404(user_id)
    form = OpenCaseForm(request.POST, prefix=OPEN_CASE, employee=employee)
    if not form.is_valid():
        report_form_errors(request, form, "Case not opened")
        return redirect(employee_url(employee))
    data = form.cleaned_data
    try:
        case = services.case_open(
            employee=employee,
            summary=data["summary"],
            actor=request.user,
            reason=data["reason"],
            complaints=list(data["complaints"]),
            flags=list(data["flags"]),
        )
    except (ValidationError, PermissionDenied) as exc:
        report_service_error(request, exc, prefix="Case not opened, nothing changed: ")
        return redirect(employee_url(employee))
    messages.success(request, f"Case {case.reference} opened on {employee.get_username()}.")
    return redirect("audit:case-detail", pk=case.pk)


@reviewer_required
@require_POST
@reauth_required
def employee_suspend(request, user_id: int):
    """Suspend pending review: on the open case, or on a new one grounded on their standing flags."""
    employee = _employee_or_404(user_id)
    existing = _open_case(employee)
    form = SuspendForm(request.POST, prefix=SUSPEND, needs_summary=existing is None)
    if not form.is_valid():
        report_form_errors(request, form, "Suspension refused")
        return redirect(employee_url(employee))
    reason = form.cleaned_data["reason"]
    try:
        with transaction.atomic():
            case = existing
            if case is None:
                case = services.case_open(
                    employee=employee,
                    summary=form.cleaned_data["summary"],
                    actor=request.user,
                    reason=reason,
                    flags=list(selectors.flags_for_grounds(employee)),
                )
            suspension = services.case_suspend_employee(case=case, actor=request.user, reason=reason)
    except (ValidationError, PermissionDenied) as exc:
        report_service_error(request, exc, prefix="Suspension refused, nothing changed: ")
        return redirect(employee_url(employee))
    messages.success(request, _suspended_message(employee, case, suspension))
    return redirect(employee_url(employee))


def _suspended_message(employee, case, suspension) -> str:
    return (
        f"Suspended pending review: {employee.get_username()} (case {case.reference}). The account is disabled, "
        f"{suspension.sessions_ended} session(s) ended, roles and permissions removed."
    )


# --- Objects and requests ----------------------------------------------------------------


@reviewer_required
@require_GET
def object_lookup(request):
    """From the lookup form to the record's history page."""
    form = ObjectLookupForm(request.GET, prefix=LOOKUP)
    if not form.is_valid():
        messages.error(request, f"Nothing to show. {_form_problems(form)}")
        return redirect("audit:review")
    data = form.cleaned_data
    if data.get("msisdn"):
        number_id = selectors.number_id_by_msisdn(data["msisdn"])
        if number_id is None:
            messages.error(request, f"No number {data['msisdn']} has ever been recorded.")
            return redirect("audit:review")
        return redirect("audit:object", label="numbers.mobilenumber", pk=number_id)
    return redirect("audit:object", label=data["model"], pk=data["pk"].strip())


@reviewer_required
@require_GET
def object_detail(request, label: str, pk: str):
    history = selectors.object_history(label, pk)
    if history is None:
        raise Http404("No history of such a record.")
    opts = history.table.tracked._meta
    if opts.label_lower == "numbers.subscriber" and history.obj is not None:
        record_subscriber_view(request=request, subscriber=history.obj)
    try:
        admin_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[history.object_id])
    except NoReverseMatch:
        admin_url = ""
    return render_screen(
        request,
        "audit/object.html",
        {
            "title": f"History of {history.title}",
            "history": history,
            "table": history.table,
            "admin_url": admin_url if history.obj is not None else "",
        },
    )


@reviewer_required
@require_GET
def request_detail(request, request_id: str):
    entries, more, events = selectors.request_changes(request_id)
    refusals = selectors.request_refusals(request_id)
    if not entries and not events and not refusals:
        raise Http404("Nothing was recorded under this request id.")
    return render_screen(
        request,
        "audit/request.html",
        {
            "title": f"Request {request_id}",
            "request_id": request_id,
            "entries": entries,
            "more": more,
            "events": events,
            "refusals": refusals,
            "limit": selectors.REQUEST_LIMIT,
        },
    )


# --- Disciplinary cases ------------------------------------------------------------------


@reviewer_required
@require_GET
def case_list(request):
    filters = CaseFilterForm(request.GET or None)
    state = filters.cleaned_data["state"] if filters.is_bound and filters.is_valid() else ""
    paginator = RowPaginator(selectors.case_list(state=state), CASES_PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    return render_screen(
        request,
        "audit/case_list.html",
        {"title": "Disciplinary cases", "filters": filters, "page": page, "paginator": paginator, "state": state},
    )


def _case_or_404(pk: int) -> DisciplinaryCase:
    case = selectors.case_detail(pk)
    if case is None:
        raise Http404("No such case.")
    return case


@reviewer_required
@require_GET
def case_detail(request, pk: int):
    case = _case_or_404(pk)
    state = case.state
    return render_screen(
        request,
        "audit/case_detail.html",
        {
            "title": f"Case {case.reference}",
            "case": case,
            "employee_name": selectors.user_label(case.employee),
            "note_form": CaseNoteForm(prefix=NOTE),
            "suspend_form": CaseSuspendForm(prefix=SUSPEND) if state == CaseState.OPEN else None,
            "close_form": CaseCloseForm(prefix=CLOSE) if state != CaseState.CLOSED else None,
            "review_url": employee_url(case.employee),
        },
    )


def _case_action(request, pk: int, form, perform, *, what: str):
    case = get_object_or_404(DisciplinaryCase, pk=pk)
    if form.is_valid():
        try:
            success = perform(case, form.cleaned_data)
        except (ValidationError, PermissionDenied) as exc:
            report_service_error(request, exc, prefix=f"{what} refused, nothing changed: ")
        else:
            messages.success(request, success)
    else:
        report_form_errors(request, form, what)
    return redirect("audit:case-detail", pk=case.pk)


@reviewer_required
@require_POST
def case_note(request, pk: int):
    def perform(case, data):
        services.case_add_note(case=case, text=data["text"], actor=request.user, reason="Case note.")
        return f"Note added to case {case.reference}."

    return _case_action(request, pk, CaseNoteForm(request.POST, prefix=NOTE), perform, what="Note")


@reviewer_required
@require_POST
@reauth_required
def case_suspend(request, pk: int):
    def perform(case, data):
        suspension = services.case_suspend_employee(case=case, actor=request.user, reason=data["reason"])
        return _suspended_message(case.employee, case, suspension)

    return _case_action(request, pk, CaseSuspendForm(request.POST, prefix=SUSPEND), perform, what="Suspension")


@reviewer_required
@require_POST
def case_close(request, pk: int):
    def perform(case, data):
        case = services.case_close(
            case=case,
            outcome=data["outcome"],
            actor=request.user,
            reason=data["reason"],
            reinstate=data["reinstate"],
        )
        back = f"; {case.employee.get_username()} is reinstated" if data["reinstate"] else ""
        return f"Case {case.reference} closed: {case.get_outcome_display().lower()}{back}."

    return _case_action(request, pk, CaseCloseForm(request.POST, prefix=CLOSE), perform, what="Closing")
