"""Staff screens for dual-consent transfers and the supervisors' approval queue.

Views read through ``numbers.selectors`` and write only by calling services: a
service's ValidationError becomes a form error or a message, its PermissionDenied
a 403. Every action is a POST to its own URL that redirects back (post/redirect/get).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.selectors import can_review
from audit.signals import record_subscriber_views
from backoffice.screens import RowPaginator, post_action, render_screen
from complaints import selectors as complaint_selectors
from staff.reauth import reauth_required
from staff.selectors import branch_scope, has_branch_perm

from .. import selectors, services
from ..choices import OPEN_TRANSFER_STATES, ConsentParty, TransferState
from ..forms import (
    ConsentCodeVerifyForm,
    ConsentInPersonForm,
    ConsentSignedFormForm,
    DisconnectionCheckForm,
    TransferCreateForm,
    TransferFilterForm,
    TransferReasonForm,
)
from ..models import TransferRequest

PER_PAGE = 50
COMPLAINT_APPROVALS_SHOWN = 50  # restorations and offers awaiting approval, oldest first


# Form prefixes: the detail page shows several forms, each with its own "reason".
IN_PERSON, SIGNED, SEND_CODE, VERIFY_CODE, CANCEL = "inperson", "signed", "sendcode", "verify", "cancel"
APPROVE, REJECT = "approve", "reject"


def _revoke_prefix(consent_id: int) -> str:
    return f"revoke{consent_id}"


def _confirm_prefix(consent_id: int) -> str:
    return f"confirm{consent_id}"


# --- Helpers --------------------------------------------------------------------


def _require_somewhere(user, perm: str) -> None:
    scope = branch_scope(user, perm)
    if not scope.anywhere:
        raise PermissionDenied


def _transfer_or_403(request, pk: int, perm: str = "view_branch_numbers") -> TransferRequest:
    """404 for an unknown id, 403 without ``perm`` on the request's branch."""
    transfer = selectors.transfer_detail(pk=pk)
    if transfer is None:
        raise Http404("No such transfer request.")
    if not has_branch_perm(request.user, perm, transfer.branch_id):
        raise PermissionDenied
    return transfer


def _post_action(
    request,
    transfer: TransferRequest,
    form: forms.Form,
    perform: Callable[[dict], str],
    *,
    what: str,
    back: str,
    done: str | None = None,
    refused: str = "refused, nothing changed",
) -> HttpResponseRedirect:
    """The portal's action view (backoffice.screens.post_action), back to ``back`` for
    this transfer. PermissionDenied from the service is left to become a 403."""
    return post_action(
        request,
        form,
        perform,
        what=what,
        back=reverse(back, kwargs={"pk": transfer.pk}),
        done=reverse(done) if done else None,
        refused=refused,
        denied="403",
    )


# --- Transfer requests ------------------------------------------------------------


@login_required
def transfer_list(request):
    """The requests of the user's branches, newest first."""
    _require_somewhere(request.user, "view_branch_numbers")
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
    _require_somewhere(request.user, "operate_branch")
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


def _detail_context(request, transfer: TransferRequest) -> dict:
    """What the request's page and the approval page both show."""
    user = request.user
    now = timezone.now()
    related = selectors.transfer_detail_related(transfer=transfer)
    standing = {
        ConsentParty.CURRENT_HOLDER: transfer.holder_consents,
        ConsentParty.NEW_SUBSCRIBER: transfer.new_subscriber_consents,
    }
    missing = [party for party, stands in standing.items() if not stands]
    open_ = transfer.state in OPEN_TRANSFER_STATES
    actionable = open_ and transfer.expires_at > now
    can_operate = actionable and has_branch_perm(user, "operate_branch", transfer.branch_id)
    can_cancel = open_ and (
        has_branch_perm(user, "operate_branch", transfer.branch_id)
        or has_branch_perm(user, "supervise_branch", transfer.branch_id)
    )
    can_confirm = actionable and (
        has_branch_perm(user, "operate_branch", transfer.branch_id)
        or has_branch_perm(user, "supervise_branch", transfer.branch_id)
    )
    for consent in related["consents"]:
        consent.stands = consent.is_standing(now)
        consent.given = consent.is_given(now)  # standing, or awaiting its confirmation
        consent.revoke_form = TransferReasonForm(prefix=_revoke_prefix(consent.pk))
        # Offered to a second employee only; the service says why to anyone else who tries.
        consent.confirm_form = (
            TransferReasonForm(prefix=_confirm_prefix(consent.pk))
            if can_confirm
            and consent.needs_confirmation
            and consent.confirmed_at is None
            and consent.is_given(now)
            and user.pk not in (consent.captured_by_id, transfer.requested_by_id)
            else None
        )
    # A consent awaiting its confirmation is not missing from the counter: it is not taken again.
    given = {consent.party for consent in related["consents"] if consent.given}
    capturable = [party for party in missing if party not in given]
    live_code = related["live_code"]
    risk_flags = selectors.transfer_risk_flags(transfer, now=now)
    return {
        "transfer": transfer,
        **related,
        "now": now,
        "risk_flags": risk_flags,
        "needs_two_approvals": transfer.second_approval_required or any(flag.is_high for flag in risk_flags),
        "can_open_evidence": can_review(user),
        "cooling_off_hours": settings.TRANSFER_COOLING_OFF_HOURS,
        "is_open": open_,
        "is_expired": open_ and not actionable,
        "can_operate": can_operate,
        "can_cancel": can_cancel,
        "can_revoke": can_cancel,  # revoking a consent takes the same authority as cancelling
        "missing_parties": [ConsentParty(party).label for party in missing],
        "capturable_parties": capturable,
        "holder_missing": ConsentParty.CURRENT_HOLDER in capturable,
        "live_code_usable": live_code is not None and live_code.expires_at > now,
        "in_person_form": ConsentInPersonForm(prefix=IN_PERSON, parties=capturable),
        "signed_form_form": ConsentSignedFormForm(prefix=SIGNED, parties=capturable),
        "send_code_form": TransferReasonForm(prefix=SEND_CODE),
        "verify_form": ConsentCodeVerifyForm(prefix=VERIFY_CODE),
        "cancel_form": TransferReasonForm(prefix=CANCEL),
    }


def _record_subscribers_shown(request, context: dict) -> None:
    """The request's page shows the holder's and the new subscriber's names and masked
    documents, and the number's holders in its recent history: each goes on the access log."""
    transfer = context["transfer"]
    record_subscriber_views(
        request=request,
        subscribers=[
            transfer.from_holder_id,
            transfer.to_subscriber_id,
            transfer.number.holder_id,
            *(consent.subscriber_id for consent in context["consents"]),
            *(record.holder_id for record in context["number_history"]),
        ],
    )


@login_required
def transfer_detail(request, pk: int):
    transfer = _transfer_or_403(request, pk)
    context = {**_detail_context(request, transfer), "title": f"Transfer request {transfer.reference}"}
    _record_subscribers_shown(request, context)
    return render_screen(request, "numbers/transfers/detail.html", context)


@login_required
def consent_signed_form_download(request, pk: int, consent_id: int):
    """Evidence is streamed only to staff of the request's branch, never from a public URL."""
    transfer = _transfer_or_403(request, pk)
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
    transfer = _transfer_or_403(request, pk)
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

    return _post_action(request, transfer, form, perform, what="Consent in person", back="numbers:transfer_detail")


@login_required
@require_POST
def consent_signed_form(request, pk: int):
    transfer = _transfer_or_403(request, pk)
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

    return _post_action(request, transfer, form, perform, what="Signed consent form", back="numbers:transfer_detail")


@login_required
@require_POST
def consent_code_send(request, pk: int):
    transfer = _transfer_or_403(request, pk)
    form = TransferReasonForm(request.POST, prefix=SEND_CODE)

    def perform(data):
        code = services.consent_code_send(request=transfer, actor=request.user, reason=data["reason"])
        return f"A one-time code was sent to {code.sent_to}. Ask the holder to read it back."

    return _post_action(request, transfer, form, perform, what="One-time code", back="numbers:transfer_detail")


@login_required
@require_POST
def consent_code_verify(request, pk: int):
    """Deliberately not in a transaction: a wrong try is counted and committed by the
    service even though the call raises."""
    transfer = _transfer_or_403(request, pk)
    form = ConsentCodeVerifyForm(request.POST, prefix=VERIFY_CODE)

    def perform(data):
        services.consent_code_verify(request=transfer, code=data["code"], actor=request.user, reason=data["reason"])
        return "Code accepted: the current holder's consent is recorded."

    # A wrong try is not "nothing changed": the service counted it.
    return _post_action(
        request, transfer, form, perform, what="Code check", back="numbers:transfer_detail", refused="refused"
    )


@login_required
@require_POST
def consent_revoke(request, pk: int, consent_id: int):
    transfer = _transfer_or_403(request, pk)
    consent = selectors.transfer_consent(transfer=transfer, pk=consent_id)
    if consent is None:
        raise Http404("No such consent on this request.")
    form = TransferReasonForm(request.POST, prefix=_revoke_prefix(consent.pk))

    def perform(data):
        services.consent_revoke(consent=consent, actor=request.user, reason=data["reason"])
        return f"Consent of the {consent.get_party_display().lower()} revoked."

    return _post_action(request, transfer, form, perform, what="Revocation", back="numbers:transfer_detail")


@login_required
@require_POST
def consent_confirm(request, pk: int, consent_id: int):
    transfer = _transfer_or_403(request, pk)
    consent = selectors.transfer_consent(transfer=transfer, pk=consent_id)
    if consent is None:
        raise Http404("No such consent on this request.")
    form = TransferReasonForm(request.POST, prefix=_confirm_prefix(consent.pk))

    def perform(data):
        services.transfer_confirm_consent(consent=consent, actor=request.user, reason=data["reason"])
        return f"You confirmed the check of the {consent.get_party_display().lower()}'s consent; the holder is told."

    return _post_action(request, transfer, form, perform, what="Confirmation", back="numbers:transfer_detail")


@login_required
@require_POST
def transfer_cancel(request, pk: int):
    transfer = _transfer_or_403(request, pk)
    form = TransferReasonForm(request.POST, prefix=CANCEL)

    def perform(data):
        services.transfer_cancel(request=transfer, actor=request.user, reason=data["reason"])
        return f"Transfer request {transfer.reference} cancelled; the holder has been told."

    return _post_action(request, transfer, form, perform, what="Cancellation", back="numbers:transfer_detail")


# --- Approvals --------------------------------------------------------------------


@login_required
def approval_queue(request):
    """Open requests of the branches the user supervises, with risk flags."""
    _require_somewhere(request.user, "supervise_branch")
    state = request.GET.get("state", "")
    state = state if state in OPEN_TRANSFER_STATES else ""
    paginator = RowPaginator(selectors.approval_queue(user=request.user, state=state), PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    rows = selectors.attach_risk_flags(page.object_list)
    tabs = [("", "All open"), *((s.value, s.label) for s in TransferState if s in OPEN_TRANSFER_STATES)]
    # The complaints' four-eyes decisions wait here too, each linking to its complaint.
    shown = COMPLAINT_APPROVALS_SHOWN
    restorations = list(complaint_selectors.restorations_awaiting(user=request.user)[: shown + 1])
    offers = list(complaint_selectors.offers_awaiting(user=request.user)[: shown + 1])
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
    transfer = _transfer_or_403(request, pk, "supervise_branch")
    context = _detail_context(request, transfer)
    blockers = services.transfer_approval_blockers(request=transfer, actor=request.user, now=context["now"])
    context.update(
        title=f"Decide transfer request {transfer.reference}",
        blockers=blockers,
        approve_form=TransferReasonForm(prefix=APPROVE),
        reject_form=TransferReasonForm(prefix=REJECT),
    )
    _record_subscribers_shown(request, context)
    return render_screen(request, "numbers/approvals/detail.html", context)


@login_required
@require_POST
@reauth_required
def transfer_approve(request, pk: int):
    transfer = _transfer_or_403(request, pk, "supervise_branch")
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

    return _post_action(
        request, transfer, form, perform, what="Approval", back="numbers:approval_detail", done="numbers:approval_queue"
    )


@login_required
@require_POST
def transfer_reject(request, pk: int):
    transfer = _transfer_or_403(request, pk, "supervise_branch")
    form = TransferReasonForm(request.POST, prefix=REJECT)

    def perform(data):
        services.transfer_reject(request=transfer, actor=request.user, reason=data["reason"])
        return f"Transfer request {transfer.reference} rejected; the holder has been told."

    return _post_action(
        request,
        transfer,
        form,
        perform,
        what="Rejection",
        back="numbers:approval_detail",
        done="numbers:approval_queue",
    )


# --- The disconnection register --------------------------------------------------


@login_required
def disconnection_check(request):
    """The register of permanent disconnections, as banks and others ask it before texting."""
    _require_somewhere(request.user, "view_branch_numbers")
    form = DisconnectionCheckForm(request.GET or None)
    answer = selectors.disconnection_check(**form.cleaned_data) if form.is_valid() else None
    return render_screen(
        request,
        "numbers/disconnections/check.html",
        {"title": "Disconnection register", "form": form, "answer": answer},
    )
