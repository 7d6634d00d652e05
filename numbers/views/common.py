"""What the transfer and approval screens share: the form prefixes, the request (or a 403),
the action view back to the request, and what the request's page and the approval page
both show."""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

from audit.signals import record_subscriber_views
from backoffice.screens import post_action
from staff.selectors import branch_scope, can_review, has_branch_perm

from .. import selectors
from ..choices import OPEN_TRANSFER_STATES, ConsentParty
from ..forms import ConsentCodeVerifyForm, ConsentInPersonForm, ConsentSignedFormForm, TransferReasonForm
from ..models import TransferRequest

PER_PAGE = 50
COMPLAINT_APPROVALS_SHOWN = 50  # restorations and offers awaiting approval, oldest first


# Form prefixes: the detail page shows several forms, each with its own "reason".
IN_PERSON, SIGNED, SEND_CODE, VERIFY_CODE, CANCEL = "inperson", "signed", "sendcode", "verify", "cancel"
APPROVE, REJECT = "approve", "reject"


def revoke_prefix(consent_id: int) -> str:
    return f"revoke{consent_id}"


def confirm_prefix(consent_id: int) -> str:
    return f"confirm{consent_id}"


# --- Helpers --------------------------------------------------------------------


def require_somewhere(user, perm: str) -> None:
    scope = branch_scope(user, perm)
    if not scope.anywhere:
        raise PermissionDenied


def transfer_or_403(request, pk: int, perm: str = "view_branch_numbers") -> TransferRequest:
    """404 for an unknown id, 403 without ``perm`` on the request's branch."""
    transfer = selectors.transfer_detail(pk=pk)
    if transfer is None:
        raise Http404("No such transfer request.")
    if not has_branch_perm(request.user, perm, transfer.branch_id):
        raise PermissionDenied
    return transfer


def act_on_transfer(
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


def transfer_detail_context(request, transfer: TransferRequest) -> dict:
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
        consent.revoke_form = TransferReasonForm(prefix=revoke_prefix(consent.pk))
        # Offered to a second employee only; the service says why to anyone else who tries.
        consent.confirm_form = (
            TransferReasonForm(prefix=confirm_prefix(consent.pk))
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


def record_subscribers_shown(request, context: dict) -> None:
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
