"""What every complaint screen shares: the form prefixes, the complaint (or a 403), and
the action view, back to the complaint's page."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse

from backoffice.screens import post_action

from .. import selectors
from ..choices import ComplaintState
from ..models import Complaint

DETAIL = "complaints:complaint_detail"

# Form prefixes: the page shows many forms, each with its own "reason".
ACKNOWLEDGE, INVESTIGATE, NOTE, ASSIGN, TAKE = "ack", "investigate", "note", "assign", "take"
ADD_NUMBER, BLOCK, RESTORE, PROPOSE, REGULATOR, FLAG = "addnumber", "block", "restore", "propose", "regcase", "flag"
RESOLVE, CLOSE, REOPEN = "resolve", "close", "reopen"
# One form per row: the prefix carries the row's id.
LIFT, R_APPROVE, R_REJECT, R_CANCEL = "lift", "rapprove", "rreject", "rcancel"
O_APPROVE, O_REFUSE, O_MAKE, O_RESPOND, O_WITHDRAW = "oapprove", "orefuse", "omake", "orespond", "owithdraw"
REG_RESPONSE, UNFLAG = "regresp", "unflag"

ACKNOWLEDGEABLE = (ComplaintState.NEW,)
INVESTIGABLE = (ComplaintState.ACKNOWLEDGED, ComplaintState.REOPENED)
RESOLVABLE = (ComplaintState.ACKNOWLEDGED, ComplaintState.INVESTIGATING, ComplaintState.REOPENED)
REOPENABLE = (ComplaintState.RESOLVED, ComplaintState.CLOSED)


def row_prefix(kind: str, pk: int) -> str:
    return f"{kind}{pk}"


# --- Helpers --------------------------------------------------------------------


def complaint_or_403(request, pk: int) -> Complaint:
    """404 for an unknown id, 403 for a complaint of a branch the user does not work in."""
    complaint = selectors.complaint_detail(pk=pk)
    if complaint is None:
        raise Http404("No such complaint.")
    if not selectors.complaint_can_view(request.user, complaint):
        raise PermissionDenied
    return complaint


def part_or_404(part):
    if part is None:
        raise Http404("No such record on this complaint.")
    return part


def act_on_complaint(
    request, complaint: Complaint, form: forms.Form, perform: Callable[[dict], str], *, what: str
) -> HttpResponseRedirect:
    """The portal's action view (backoffice.screens.post_action), back to the complaint.
    A service's refusal (invalid, or not allowed) is a message: nothing changed."""
    back = reverse(DETAIL, kwargs={"pk": complaint.pk})
    return post_action(request, form, perform, what=what, back=back, denied="message")
