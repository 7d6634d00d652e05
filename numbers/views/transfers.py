"""Staff screens for dual-consent transfers: the list, a new request, a request's page and
the consent actions (the approval queue is in approvals.py).

Views read through ``numbers.selectors`` and write only by calling services: a
service's ValidationError becomes a form error or a message, its PermissionDenied
a 403. Every action is a POST to its own URL that redirects back (post/redirect/get).
"""

from __future__ import annotations

import os

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from backoffice.screens import RowPaginator, render_screen
from staff.selectors import branch_scope, can_review

from .. import selectors, services
from ..forms import (
    ConsentCodeVerifyForm,
    ConsentInPersonForm,
    ConsentSignedFormForm,
    TransferCreateForm,
    TransferFilterForm,
    TransferReasonForm,
)
from ..models import TransferRequest
from .common import (
    CANCEL,
    IN_PERSON,
    PER_PAGE,
    SEND_CODE,
    SIGNED,
    VERIFY_CODE,
    act_on_transfer,
    confirm_prefix,
    record_subscribers_shown,
    require_somewhere,
    revoke_prefix,
    transfer_detail_context,
    transfer_or_403,
)

# --- Transfer requests ------------------------------------------------------------


@login_required
def transfer_list(request):
    """The requests of the user's branches, newest first."""
    require_somewhere(request.user, "view_branch_numbers")
    filters = TransferFilterForm(request.GET)
    state, mine = "", False
    if filters.is_valid():
        state, mine = filters.cleaned_data["state"], filters.cleaned_data["mine"]
    queryset = selectors.transfer_list(user=request.user, state=state, mine=mine)
    paginator = RowPaginator(queryset, PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    operate = branch_scope(request.user, "operate_branch")
    return render_screen(
        request,
        "numbers/transfers/list.html",
        {
            "title": "Transfer requests",
            "filters": filters,
            "page": page,
            "paginator": paginator,
            "can_create": operate.anywhere,
        },
    )


@login_required
def transfer_create(request):
    """Request a transfer, registering the new subscriber in the same step if needed."""
    require_somewhere(request.user, "operate_branch")
    form = TransferCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            transfer = _create_with_subscriber(form, actor=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request,
                f"Transfer request {transfer.reference} opened for {transfer.number.msisdn}; the current holder "
                "has been told by SMS. Record both parties' consent next.",
            )
            return redirect("numbers:transfer_detail", pk=transfer.pk)
    return render_screen(request, "numbers/transfers/create.html", {"title": "New transfer request", "form": form})


def _create_with_subscriber(form: TransferCreateForm, *, actor) -> TransferRequest:
    """One transaction: a refused request leaves no stray subscriber behind."""
    data = form.cleaned_data
    with transaction.atomic():
        subscriber = form.subscriber
        if form.registers_subscriber:
            subscriber = services.subscriber_create(
                full_name=data["full_name"],
                id_document_type=data["document_type"],
                id_document_number=data["document_number"],
                contact_msisdn=data.get("contact_msisdn") or "",
                registered_branch=form.number.branch,
                actor=actor,
                reason=f"Registered as the new subscriber of a transfer request: {data['reason']}",
            )
        return services.transfer_create(
            number=form.number, new_subscriber=subscriber, actor=actor, reason=data["reason"]
        )


@login_required
def transfer_detail(request, pk: int):
    transfer = transfer_or_403(request, pk)
    context = {**transfer_detail_context(request, transfer), "title": f"Transfer request {transfer.reference}"}
    record_subscribers_shown(request, context)
    return render_screen(request, "numbers/transfers/detail.html", context)


@login_required
def consent_signed_form_download(request, pk: int, consent_id: int):
    """Evidence is streamed only to staff of the request's branch, never from a public URL."""
    transfer = transfer_or_403(request, pk)
    consent = selectors.transfer_consent(transfer=transfer, pk=consent_id)
    if consent is None or not consent.signed_form:
        raise Http404("No signed form for this consent.")
    try:
        handle = consent.signed_form.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The signed form file is missing from storage.") from exc
    response = FileResponse(handle, as_attachment=True, filename=os.path.basename(consent.signed_form.name))
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def consent_document_photo(request, pk: int, consent_id: int):
    """The photo of a holder's document is opened only by reviewers (auditors and
    administrators), streamed here, never from a public media URL: the branch staff
    who could misuse it have no need to see it again."""
    if not can_review(request.user):
        raise PermissionDenied("Only reviewers open the photo of a document shown.")
    transfer = selectors.transfer_detail(pk=pk)
    consent = selectors.transfer_consent(transfer=transfer, pk=consent_id) if transfer else None
    if consent is None or not consent.document_photo:
        raise Http404("No document photo for this consent.")
    try:
        handle = consent.document_photo.open("rb")
    except FileNotFoundError as exc:
        raise Http404("The document photo is missing from storage.") from exc
    response = FileResponse(handle, as_attachment=True, filename=os.path.basename(consent.document_photo.name))
    response["Cache-Control"] = "private, no-store"
    return response


# --- Consent and request actions (POST, redirect back) -----------------------------


@login_required
@require_POST
def consent_in_person(request, pk: int):
    transfer = transfer_or_403(request, pk)
    form = ConsentInPersonForm(request.POST, request.FILES, prefix=IN_PERSON)

    def perform(data):
        consent = services.consent_record_in_person(
            request=transfer,
            party=data["party"],
            document_type=data["document_type"],
            document_number=data["document_number"],
            document_photo=data.get("document_photo"),
            actor=request.user,
            reason=data["reason"],
        )
        done = f"Consent of the {consent.get_party_display().lower()} recorded (identity document checked)."
        if consent.needs_confirmation:
            done += " It counts once a second employee of the branch confirms the check."
        return done

    return act_on_transfer(request, transfer, form, perform, what="Consent in person", back="numbers:transfer_detail")


@login_required
@require_POST
def consent_signed_form(request, pk: int):
    transfer = transfer_or_403(request, pk)
    form = ConsentSignedFormForm(request.POST, request.FILES, prefix=SIGNED)

    def perform(data):
        consent = services.consent_record_signed_form(
            request=transfer,
            party=data["party"],
            signed_form=data["signed_form"],
            actor=request.user,
            reason=data["reason"],
        )
        return f"Signed consent form of the {consent.get_party_display().lower()} recorded."

    return act_on_transfer(request, transfer, form, perform, what="Signed consent form", back="numbers:transfer_detail")


@login_required
@require_POST
def consent_code_send(request, pk: int):
    transfer = transfer_or_403(request, pk)
    form = TransferReasonForm(request.POST, prefix=SEND_CODE)

    def perform(data):
        code = services.consent_code_send(request=transfer, actor=request.user, reason=data["reason"])
        return f"A one-time code was sent to {code.sent_to}. Ask the holder to read it back."

    return act_on_transfer(request, transfer, form, perform, what="One-time code", back="numbers:transfer_detail")


@login_required
@require_POST
def consent_code_verify(request, pk: int):
    """Deliberately not in a transaction: a wrong try is counted and committed by the
    service even though the call raises."""
    transfer = transfer_or_403(request, pk)
    form = ConsentCodeVerifyForm(request.POST, prefix=VERIFY_CODE)

    def perform(data):
        services.consent_code_verify(request=transfer, code=data["code"], actor=request.user, reason=data["reason"])
        return "Code accepted: the current holder's consent is recorded."

    # A wrong try is not "nothing changed": the service counted it.
    return act_on_transfer(
        request, transfer, form, perform, what="Code check", back="numbers:transfer_detail", refused="refused"
    )


@login_required
@require_POST
def consent_revoke(request, pk: int, consent_id: int):
    transfer = transfer_or_403(request, pk)
    consent = selectors.transfer_consent(transfer=transfer, pk=consent_id)
    if consent is None:
        raise Http404("No such consent on this request.")
    form = TransferReasonForm(request.POST, prefix=revoke_prefix(consent.pk))

    def perform(data):
        services.consent_revoke(consent=consent, actor=request.user, reason=data["reason"])
        return f"Consent of the {consent.get_party_display().lower()} revoked."

    return act_on_transfer(request, transfer, form, perform, what="Revocation", back="numbers:transfer_detail")


@login_required
@require_POST
def consent_confirm(request, pk: int, consent_id: int):
    transfer = transfer_or_403(request, pk)
    consent = selectors.transfer_consent(transfer=transfer, pk=consent_id)
    if consent is None:
        raise Http404("No such consent on this request.")
    form = TransferReasonForm(request.POST, prefix=confirm_prefix(consent.pk))

    def perform(data):
        services.transfer_confirm_consent(consent=consent, actor=request.user, reason=data["reason"])
        return f"You confirmed the check of the {consent.get_party_display().lower()}'s consent; the holder is told."

    return act_on_transfer(request, transfer, form, perform, what="Confirmation", back="numbers:transfer_detail")


@login_required
@require_POST
def transfer_cancel(request, pk: int):
    transfer = transfer_or_403(request, pk)
    form = TransferReasonForm(request.POST, prefix=CANCEL)

    def perform(data):
        services.transfer_cancel(request=transfer, actor=request.user, reason=data["reason"])
        return f"Transfer request {transfer.reference} cancelled; the holder has been told."

    return act_on_transfer(request, transfer, form, perform, what="Cancellation", back="numbers:transfer_detail")
