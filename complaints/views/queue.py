"""The complaint queue and intake."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.shortcuts import redirect
from django.utils import timezone

from backoffice.screens import RowPaginator, render_screen
from numbers import services as number_services
from staff.selectors import branch_scope

from .. import selectors, services
from ..choices import ComplaintCategory, SlaStatus
from ..filtersets import OPEN, QUEUE_BRANCH, QUEUE_MINE, QUEUES, ComplaintFilterForm
from ..forms import ComplaintCreateForm, can_take_complaints_in
from ..models import Complaint
from .common import DETAIL

PER_PAGE = 50


@login_required
def complaint_list(request):
    """My queue (assigned to me) or the branch queue (every complaint I may see)."""
    user = request.user
    if not selectors.complaint_scope(user).anywhere:
        raise PermissionDenied
    handles = branch_scope(user, "handle_branch_complaints").anywhere
    data = request.GET.copy()
    data.setdefault("state", OPEN)
    if data.get("queue") not in (QUEUE_MINE, QUEUE_BRANCH):
        data["queue"] = QUEUE_MINE if handles else QUEUE_BRANCH
    filters = ComplaintFilterForm(data)
    chosen = {"queue": data["queue"], "state": OPEN, "sla": "", "category": "", "q": ""}
    if filters.is_valid():
        chosen.update(filters.cleaned_data)
    now = timezone.now()
    queryset = selectors.complaint_list(
        user=user,
        mine=chosen["queue"] == QUEUE_MINE,
        state=chosen["state"],
        sla=chosen["sla"],
        category=chosen["category"],
        q=chosen["q"],
        now=now,
    )
    paginator = RowPaginator(queryset, PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    rows = list(page.object_list)
    for row in rows:
        row.sla = SlaStatus(row.sla_status(now))
        row.deadline = row.next_deadline()
    filtered = any(chosen[name] for name in ("sla", "category", "q")) or chosen["state"] != OPEN
    return render_screen(
        request,
        "complaints/list.html",
        {
            "title": "Complaints",
            "filters": filters,
            "queue": chosen["queue"],
            "queues": QUEUES,
            "page": page,
            "paginator": paginator,
            "rows": rows,
            "filtered": filtered,
            "can_create": can_take_complaints_in(user),
        },
    )


# --- Intake -------------------------------------------------------------------------


@login_required
def complaint_create(request):
    """Take a complaint in, registering the complainant in the same step if needed."""
    if not can_take_complaints_in(request.user):
        raise PermissionDenied
    form = ComplaintCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            complaint = _create_with_subscriber(form, actor=request.user)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        except PermissionDenied as exc:
            form.add_error(None, str(exc) or "You have no authority to take this complaint in.")
        else:
            critical = ""
            if complaint.block_due_at:
                critical = f" It is critical: block the number by {timezone.localtime(complaint.block_due_at):%H:%M}."
            messages.success(
                request, f"Complaint {complaint.reference} taken in for {complaint.complainant.full_name}.{critical}"
            )
            return redirect(DETAIL, pk=complaint.pk)
    return render_screen(
        request,
        "complaints/create.html",
        {
            "title": "New complaint",
            "form": form,
            "block_hours": settings.COMPLAINTS_BLOCK_WITHIN_HOURS,
            "unauthorised": ComplaintCategory.UNAUTHORISED_TRANSFER.label,
        },
    )


def _create_with_subscriber(form: ComplaintCreateForm, *, actor) -> Complaint:
    """One transaction: a refused complaint leaves no stray subscriber behind."""
    data = form.cleaned_data
    with transaction.atomic():
        complainant = form.subscriber
        if form.registers_subscriber:
            complainant = number_services.subscriber_create(
                full_name=data["full_name"],
                id_document_type=data["document_type"],
                id_document_number=data["document_number"],
                contact_msisdn=data.get("contact_msisdn") or "",
                registered_branch=form.chosen_branch,
                actor=actor,
                reason=f"Registered as a complainant: {data['reason']}",
            )
        return services.complaint_create(
            complainant=complainant,
            category=data["category"],
            severity=data["severity"],
            channel=data["channel"],
            description=data["description"],
            actor=actor,
            reason=data["reason"],
            branch=data.get("branch"),
            numbers=form.numbers,
            received_at=data.get("received_at"),
        )
