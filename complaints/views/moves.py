"""The complaint's own moves: acknowledge, investigate, note, resolve, close, reopen, assign, take."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from staff.selectors import display_name

from .. import selectors, services
from ..forms import AssignForm, ComplaintReasonForm, NoteForm, ResolveForm
from .common import (
    ACKNOWLEDGE,
    ASSIGN,
    CLOSE,
    INVESTIGATE,
    NOTE,
    REOPEN,
    RESOLVE,
    TAKE,
    act_on_complaint,
    complaint_or_403,
)


def _simple_action(request, pk: int, *, prefix: str, form_class, what: str, perform) -> HttpResponseRedirect:
    complaint = complaint_or_403(request, pk)
    form = form_class(request.POST, prefix=prefix)
    return act_on_complaint(request, complaint, form, lambda data: perform(complaint, data), what=what)


@login_required
@require_POST
def complaint_acknowledge(request, pk: int):
    def perform(complaint, data):
        services.complaint_acknowledge(complaint=complaint, actor=request.user, reason=data["reason"])
        return f"Complaint {complaint.reference} acknowledged; the customer has been told by SMS."

    return _simple_action(
        request, pk, prefix=ACKNOWLEDGE, form_class=ComplaintReasonForm, what="Acknowledgement", perform=perform
    )


@login_required
@require_POST
def complaint_investigate(request, pk: int):
    def perform(complaint, data):
        services.complaint_investigate(complaint=complaint, actor=request.user, reason=data["reason"])
        return f"Investigation of {complaint.reference} started."

    return _simple_action(
        request, pk, prefix=INVESTIGATE, form_class=ComplaintReasonForm, what="Investigation", perform=perform
    )


@login_required
@require_POST
def complaint_note(request, pk: int):
    def perform(complaint, data):
        services.complaint_note(complaint=complaint, actor=request.user, reason=data["reason"])
        return "Note added to the timeline."

    return _simple_action(request, pk, prefix=NOTE, form_class=NoteForm, what="Note", perform=perform)


@login_required
@require_POST
def complaint_resolve(request, pk: int):
    def perform(complaint, data):
        services.complaint_resolve(complaint=complaint, actor=request.user, reason=data["reason"])
        return f"Complaint {complaint.reference} resolved; the customer has been told by SMS."

    return _simple_action(request, pk, prefix=RESOLVE, form_class=ResolveForm, what="Resolution", perform=perform)


@login_required
@require_POST
def complaint_close(request, pk: int):
    def perform(complaint, data):
        services.complaint_close(complaint=complaint, actor=request.user, reason=data["reason"])
        return f"Complaint {complaint.reference} closed."

    return _simple_action(request, pk, prefix=CLOSE, form_class=ComplaintReasonForm, what="Closure", perform=perform)


@login_required
@require_POST
def complaint_reopen(request, pk: int):
    def perform(complaint, data):
        done = services.complaint_reopen(complaint=complaint, actor=request.user, reason=data["reason"])
        return (
            f"Complaint {done.reference} reopened; to resolve by "
            f"{timezone.localtime(done.resolve_due_at):%d %b %Y %H:%M}."
        )

    return _simple_action(request, pk, prefix=REOPEN, form_class=ComplaintReasonForm, what="Reopening", perform=perform)


@login_required
@require_POST
def complaint_assign(request, pk: int):
    complaint = complaint_or_403(request, pk)
    form = AssignForm(request.POST, prefix=ASSIGN, handlers=selectors.complaint_handlers(complaint))

    def perform(data):
        services.complaint_assign(
            complaint=complaint, assignee=data["assignee"], actor=request.user, reason=data["reason"]
        )
        return f"Complaint {complaint.reference} assigned to {display_name(data['assignee'])}."

    return act_on_complaint(request, complaint, form, perform, what="Assignment")


@login_required
@require_POST
def complaint_take(request, pk: int):
    def perform(complaint, data):
        services.complaint_assign(complaint=complaint, assignee=request.user, actor=request.user, reason=data["reason"])
        return f"You now handle complaint {complaint.reference}."

    return _simple_action(request, pk, prefix=TAKE, form_class=ComplaintReasonForm, what="Taking", perform=perform)
