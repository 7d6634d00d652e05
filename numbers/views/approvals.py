"""The supervisors' approval queue (transfers, and the complaints' restorations and offers
waiting for a second person) and the four-eyes decision on a transfer."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_POST

from backoffice.screens import RowPaginator, render_screen
from staff.reauth import reauth_required

from .. import registry, selectors, services
from ..choices import OPEN_TRANSFER_STATES, TransferState
from ..forms import TransferReasonForm
from .common import (
    APPROVE,
    COMPLAINT_APPROVALS_SHOWN,
    PER_PAGE,
    REJECT,
    act_on_transfer,
    record_subscribers_shown,
    require_somewhere,
    transfer_detail_context,
    transfer_or_403,
)


@login_required
def approval_queue(request):
    """Open requests of the branches the user supervises, with risk flags."""
    require_somewhere(request.user, "supervise_branch")
    state = request.GET.get("state", "")
    state = state if state in OPEN_TRANSFER_STATES else ""
    paginator = RowPaginator(selectors.approval_queue(user=request.user, state=state), PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    rows = selectors.attach_risk_flags(page.object_list)
    tabs = [("", "All open"), *((s.value, s.label) for s in TransferState if s in OPEN_TRANSFER_STATES)]
    # The complaints' four-eyes decisions wait here too, each linking to its complaint.
    shown = COMPLAINT_APPROVALS_SHOWN
    restorations = list(registry.restorations_awaiting(user=request.user)[: shown + 1])
    offers = list(registry.offers_awaiting(user=request.user)[: shown + 1])
    return render_screen(
        request,
        "numbers/approvals/queue.html",
        {
            "title": "Transfer approvals",
            "page": page,
            "paginator": paginator,
            "rows": rows,
            "state": state,
            "tabs": tabs,
            "disputes": selectors.disputes_recent(user=request.user)[:shown],
            "restorations": restorations[:shown],
            "more_restorations": len(restorations) > shown,
            "offers": offers[:shown],
            "more_offers": len(offers) > shown,
        },
    )


@login_required
def approval_detail(request, pk: int):
    transfer = transfer_or_403(request, pk, "supervise_branch")
    context = transfer_detail_context(request, transfer)
    blockers = services.transfer_approval_blockers(request=transfer, actor=request.user, now=context["now"])
    context.update(
        title=f"Decide transfer request {transfer.reference}",
        blockers=blockers,
        approve_form=TransferReasonForm(prefix=APPROVE),
        reject_form=TransferReasonForm(prefix=REJECT),
    )
    record_subscribers_shown(request, context)
    return render_screen(request, "numbers/approvals/detail.html", context)


@login_required
@require_POST
@reauth_required
def transfer_approve(request, pk: int):
    transfer = transfer_or_403(request, pk, "supervise_branch")
    form = TransferReasonForm(request.POST, prefix=APPROVE)

    def perform(data):
        done = services.transfer_approve(request=transfer, actor=request.user, reason=data["reason"])
        if done.state != TransferState.EXECUTED:
            return (
                f"First approval of {done.reference} recorded. A high risk flag: a second supervisor must approve "
                "before the number passes."
            )
        return (
            f"Transfer request {done.reference} approved: {done.number.msisdn} is now held by "
            f"{done.to_subscriber.full_name}."
        )

    return act_on_transfer(
        request, transfer, form, perform, what="Approval", back="numbers:approval_detail", done="numbers:approval_queue"
    )


@login_required
@require_POST
def transfer_reject(request, pk: int):
    transfer = transfer_or_403(request, pk, "supervise_branch")
    form = TransferReasonForm(request.POST, prefix=REJECT)

    def perform(data):
        services.transfer_reject(request=transfer, actor=request.user, reason=data["reason"])
        return f"Transfer request {transfer.reference} rejected; the holder has been told."

    return act_on_transfer(
        request,
        transfer,
        form,
        perform,
        what="Rejection",
        back="numbers:approval_detail",
        done="numbers:approval_queue",
    )
