"""Staff screens for withdrawing a held number by hand: the request, the holder's
code, and the supervisors' list of withdrawals awaiting approval with its decision page.

Views read through ``numbers.selectors`` and write only by calling services: a
service's ValidationError becomes a message, its PermissionDenied a 403. Every
action is a POST to its own URL that redirects back (post/redirect/get).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.signals import record_subscriber_view
from backoffice.screens import RowPaginator, post_action, render_screen
from staff.reauth import reauth_required
from staff.selectors import branch_scope, can_review, has_branch_perm

from .. import selectors, services
from ..choices import NumberStatus, WithdrawalGround, WithdrawalState
from ..forms_withdrawals import (
    WithdrawalCodeForm,
    WithdrawalCreateForm,
    WithdrawalInPersonForm,
    WithdrawalReasonForm,
    WithdrawalReinstateForm,
)
from ..models import Subscriber, WithdrawalRequest

PER_PAGE = 50
SEND_CODE, CONFIRM_CODE, CANCEL, APPROVE, REJECT = "sendcode", "confirm", "cancel", "approve", "reject"
IN_PERSON, CONFIRM_CHECK, REINSTATE = "inperson", "confirmcheck", "reinstate"
COUNTER_PERMS = ("operate_branch", "supervise_branch")


def _withdrawal_or_403(request, pk: int, perms: tuple[str, ...] = ("view_branch_numbers",)) -> WithdrawalRequest:
    """404 for an unknown id, 403 without one of ``perms`` on the request's branch."""
    withdrawal = selectors.withdrawal_detail(pk=pk)
    if withdrawal is None:
        raise Http404("No such withdrawal request.")
    if not any(has_branch_perm(request.user, perm, withdrawal.branch_id) for perm in perms):
        raise PermissionDenied
    return withdrawal


def _post_action(
    request,
    withdrawal: WithdrawalRequest,
    form: forms.Form,
    perform: Callable[[dict], str],
    *,
    what: str,
    refused: str = "refused, nothing changed",
) -> HttpResponseRedirect:
    """The portal's action view (backoffice.screens.post_action), back to the request's
    page. PermissionDenied from the service is left to become a 403."""
    back = reverse("numbers:withdrawal_detail", kwargs={"pk": withdrawal.pk})
    return post_action(request, form, perform, what=what, back=back, refused=refused, denied="403")


@login_required
def withdrawal_create(request):
    """Ask for a held number to be withdrawn; reached from the number's page."""
    if not branch_scope(request.user, "operate_branch").anywhere:
        raise PermissionDenied
    initial = {"msisdn": request.GET.get("msisdn", "")}
    form = WithdrawalCreateForm(request.POST or None, request.FILES or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            withdrawal = services.withdrawal_request(
                number=form.number,
                ground=data["ground"],
                document=data.get("document"),
                actor=request.user,
                reason=data["reason"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            nxt = (
                "Send the holder a code to the number next; a second supervisor approves once they confirm."
                if withdrawal.ground == WithdrawalGround.HOLDER_REQUEST
                else "A second supervisor of the branch approves or rejects it."
            )
            messages.success(
                request,
                f"Withdrawal request {withdrawal.reference} opened for {withdrawal.number.msisdn}; the holder has "
                f"been told by SMS. {nxt}",
            )
            return redirect("numbers:withdrawal_detail", pk=withdrawal.pk)
    return render_screen(
        request, "numbers/withdrawals/create.html", {"title": "Request the withdrawal of a held number", "form": form}
    )


@login_required
def withdrawal_queue(request):
    """Withdrawals awaiting approval in the branches the user supervises."""
    if not branch_scope(request.user, "supervise_branch").anywhere:
        raise PermissionDenied
    paginator = RowPaginator(selectors.withdrawal_queue(user=request.user), PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    return render_screen(
        request,
        "numbers/withdrawals/queue.html",
        {"title": "Withdrawals awaiting approval", "page": page, "paginator": paginator},
    )


@login_required
def withdrawal_detail(request, pk: int):
    """The request, the holder's code, and (for a supervisor) the decision."""
    withdrawal = _withdrawal_or_403(request, pk)
    user = request.user
    is_open = withdrawal.is_open
    counter = any(has_branch_perm(user, perm, withdrawal.branch_id) for perm in COUNTER_PERMS)
    supervises = has_branch_perm(user, "supervise_branch", withdrawal.branch_id)
    needs_code = is_open and withdrawal.state == WithdrawalState.AWAITING_CONSENT
    context = {
        "title": f"Withdrawal request {withdrawal.reference}",
        "withdrawal": withdrawal,
        "is_open": is_open,
        "can_code": counter and needs_code,
        "can_check": counter and needs_code and withdrawal.holder_checked_at is None,
        "can_confirm_check": counter
        and needs_code
        and withdrawal.holder_checked_at is not None
        and user.pk not in (withdrawal.holder_checked_by_id, withdrawal.requested_by_id),
        "can_open_photo": bool(withdrawal.holder_check_photo) and can_review(user),
        "can_reinstate": supervises
        and withdrawal.state == WithdrawalState.EXECUTED
        and withdrawal.number.status in (NumberStatus.WITHDRAWN, NumberStatus.AGING),
        "in_person_form": WithdrawalInPersonForm(prefix=IN_PERSON),
        "confirm_check_form": WithdrawalReasonForm(prefix=CONFIRM_CHECK),
        "reinstate_form": WithdrawalReinstateForm(prefix=REINSTATE, initial={"subscriber": withdrawal.holder_id}),
        "can_cancel": counter and is_open,
        "can_decide": supervises and is_open,
        "blockers": services.withdrawal_approval_blockers(request=withdrawal, actor=user) if supervises else [],
        "send_code_form": WithdrawalReasonForm(prefix=SEND_CODE),
        "confirm_form": WithdrawalCodeForm(prefix=CONFIRM_CODE),
        "cancel_form": WithdrawalReasonForm(prefix=CANCEL),
        "approve_form": WithdrawalReasonForm(prefix=APPROVE),
        "reject_form": WithdrawalReasonForm(prefix=REJECT),
    }
    # The holder's name and masked document are on the page: the access log names who looked.
    if withdrawal.holder is not None:
        record_subscriber_view(request=request, subscriber=withdrawal.holder)
    return render_screen(request, "numbers/withdrawals/detail.html", context)


@login_required
def withdrawal_document(request, pk: int):
    """The order or evidence, streamed only to staff of the request's branch."""
    withdrawal = _withdrawal_or_403(request, pk, COUNTER_PERMS)
    if not withdrawal.document:
        raise Http404("No document on this request.")
    try:
        handle = withdrawal.document.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The document is missing from storage.") from exc
    response = FileResponse(handle, as_attachment=True, filename=os.path.basename(withdrawal.document.name))
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def withdrawal_send_code(request, pk: int):
    withdrawal = _withdrawal_or_403(request, pk, COUNTER_PERMS)
    form = WithdrawalReasonForm(request.POST, prefix=SEND_CODE)

    def perform(data):
        services.withdrawal_send_code(request=withdrawal, actor=request.user, reason=data["reason"])
        return f"A one-time code was sent to {withdrawal.number.msisdn}. Ask the holder to read it back."

    return _post_action(request, withdrawal, form, perform, what="One-time code")


@login_required
@require_POST
def withdrawal_confirm_code(request, pk: int):
    """Deliberately not in a transaction: a wrong try is counted by the service."""
    withdrawal = _withdrawal_or_403(request, pk, COUNTER_PERMS)
    form = WithdrawalCodeForm(request.POST, prefix=CONFIRM_CODE)

    def perform(data):
        services.withdrawal_confirm_code(
            request=withdrawal, code=data["code"], actor=request.user, reason=data["reason"]
        )
        return "Code accepted: the holder confirmed the request. A second supervisor decides next."

    return _post_action(request, withdrawal, form, perform, what="Code check", refused="refused")


@login_required
@require_POST
def withdrawal_cancel(request, pk: int):
    withdrawal = _withdrawal_or_403(request, pk, COUNTER_PERMS)
    form = WithdrawalReasonForm(request.POST, prefix=CANCEL)

    def perform(data):
        services.withdrawal_cancel(request=withdrawal, actor=request.user, reason=data["reason"])
        return f"Withdrawal request {withdrawal.reference} cancelled; the holder has been told."

    return _post_action(request, withdrawal, form, perform, what="Cancellation")


@login_required
@require_POST
@reauth_required
def withdrawal_approve(request, pk: int):
    withdrawal = _withdrawal_or_403(request, pk, ("supervise_branch",))
    form = WithdrawalReasonForm(request.POST, prefix=APPROVE)

    def perform(data):
        done = services.withdrawal_approve(request=withdrawal, actor=request.user, reason=data["reason"])
        return (
            f"Withdrawal request {done.reference} approved: {done.number.msisdn} is withdrawn and in quarantine; "
            "the holder has been told."
        )

    return _post_action(request, withdrawal, form, perform, what="Approval")


@login_required
@require_POST
def withdrawal_reject(request, pk: int):
    withdrawal = _withdrawal_or_403(request, pk, ("supervise_branch",))
    form = WithdrawalReasonForm(request.POST, prefix=REJECT)

    def perform(data):
        services.withdrawal_reject(request=withdrawal, actor=request.user, reason=data["reason"])
        return f"Withdrawal request {withdrawal.reference} rejected; the number stays with its holder."

    return _post_action(request, withdrawal, form, perform, what="Rejection")


@login_required
@require_POST
def withdrawal_in_person(request, pk: int):
    """The holder at the counter without the SIM: the document shown and its photo."""
    withdrawal = _withdrawal_or_403(request, pk, COUNTER_PERMS)
    form = WithdrawalInPersonForm(request.POST, request.FILES, prefix=IN_PERSON)

    def perform(data):
        services.withdrawal_record_holder_in_person(
            request=withdrawal,
            document_type=data["document_type"],
            document_number=data["document_number"],
            document_photo=data.get("document_photo"),
            actor=request.user,
            reason=data["reason"],
        )
        return "The holder's document check is recorded. Another employee of the branch confirms it next."

    return _post_action(request, withdrawal, form, perform, what="In-person check")


@login_required
@require_POST
def withdrawal_confirm_check(request, pk: int):
    """A second employee confirms the in-person check; a superuser gets a 403."""
    withdrawal = _withdrawal_or_403(request, pk, COUNTER_PERMS)
    form = WithdrawalReasonForm(request.POST, prefix=CONFIRM_CHECK)

    def perform(data):
        done = services.withdrawal_confirm_holder_check(request=withdrawal, actor=request.user, reason=data["reason"])
        return (
            "Check confirmed: the holder's consent counts and the holder has been told. It cannot be approved "
            f"before {timezone.localtime(services.holder_cooling_off_ends(done)):%d %b %Y %H:%M}."
        )

    return _post_action(request, withdrawal, form, perform, what="Confirmation")


@login_required
def withdrawal_holder_photo(request, pk: int):
    """The photo of the holder's document is opened only by reviewers, streamed here."""
    if not can_review(request.user):
        raise PermissionDenied("Only reviewers open the photo of a document shown.")
    withdrawal = selectors.withdrawal_detail(pk=pk)
    if withdrawal is None or not withdrawal.holder_check_photo:
        raise Http404("No document photo on this request.")
    try:
        handle = withdrawal.holder_check_photo.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The document photo is missing from storage.") from exc
    response = FileResponse(handle, as_attachment=True, filename=os.path.basename(withdrawal.holder_check_photo.name))
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def withdrawal_reinstate(request, pk: int):
    """Give the withdrawn number back to its last holder during quarantine (supervisors)."""
    withdrawal = _withdrawal_or_403(request, pk, ("supervise_branch",))
    form = WithdrawalReinstateForm(request.POST, prefix=REINSTATE)

    def perform(data):
        subscriber = Subscriber.objects.filter(pk=data["subscriber"]).first()
        if subscriber is None:
            raise ValidationError("No such subscriber.")
        services.number_reinstate(
            number=withdrawal.number, subscriber=subscriber, actor=request.user, reason=data["reason"]
        )
        return f"{withdrawal.number.msisdn} is back with {subscriber.full_name} and active again; they have been told."

    return _post_action(request, withdrawal, form, perform, what="Return to the last holder")
