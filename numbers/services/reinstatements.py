"""Giving a withdrawn number back to its last holder while it ages in quarantine: the
holder, and nobody else, can have it back (withdrawals.py takes it away)."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.utils import timezone

from audit.context import audited
from backoffice.history import require_reason, stamp_change
from backoffice.msisdn import format_msisdn
from sms.choices import SmsPurpose

from ..choices import DOCUMENT_GROUNDS, HoldingStartReason, NumberStatus, WithdrawalState
from ..models import Holding, MobileNumber, Subscriber, WithdrawalRequest, service_write_scope
from ._shared import assert_ledger_matches, require_branch_perm, start_holding, tell_subscriber

# A held number may be withdrawn by hand from these states; a blocked one is frozen
# by its complaint and leaves that state only through the complaint.
WITHDRAWABLE_STATUSES: tuple[str, ...] = (NumberStatus.ACTIVE, NumberStatus.SUSPENDED)


def _last_holding(number: MobileNumber) -> Holding | None:
    """The ledger's most recent holding of ``number`` (closed, while it is out of service)."""
    return Holding.objects.filter(number=number).order_by("-started_at", "-id").select_related("subscriber").first()


def _withdrawn_on_document(number: MobileNumber, since: datetime) -> WithdrawalRequest | None:
    """The approved order or death that ended the last holding, if that is how it ended."""
    return (
        WithdrawalRequest.objects.filter(
            number=number, state=WithdrawalState.EXECUTED, ground__in=DOCUMENT_GROUNDS, decided_at__gte=since
        )
        .order_by("-decided_at")
        .first()
    )


@audited
def number_reinstate(*, number: MobileNumber, subscriber: Subscriber, actor, reason: str) -> Holding:
    """Give a withdrawn or aging number back to its last holder: a new holding opens
    for them, the number is active again. Nobody else can have it during quarantine."""
    reason = require_reason(reason)
    now = timezone.now()
    current = MobileNumber.objects.select_for_update().get(pk=number.pk)
    require_branch_perm(actor, ("supervise_branch",), current.branch_id, "give numbers back to their last holder")
    if current.status not in (NumberStatus.WITHDRAWN, NumberStatus.AGING):
        raise ValidationError(
            "%(msisdn)s is %(status)s: only a withdrawn number in quarantine goes back to its last holder.",
            params={"msisdn": current.msisdn, "status": current.get_status_display().lower()},
            code="not_in_quarantine",
        )
    last = _last_holding(current)
    if last is None or last.subscriber_id != subscriber.pk:
        raise ValidationError(
            "%(name)s is not the last holder of %(msisdn)s: during its quarantine the number goes back only to "
            "the subscriber who held it last.",
            params={"name": subscriber.full_name, "msisdn": current.msisdn},
            code="not_last_holder",
        )
    order = _withdrawn_on_document(current, last.started_at)
    if order is not None:
        raise ValidationError(
            "%(msisdn)s was withdrawn on %(ground)s (%(ref)s): it does not go back to that holder by hand.",
            params={"msisdn": current.msisdn, "ground": order.get_ground_display().lower(), "ref": order.reference},
            code="withdrawn_on_order",
        )
    with service_write_scope():
        holding = start_holding(
            current,
            subscriber,
            start_reason=HoldingStartReason.REINSTATEMENT,
            actor=actor,
            note=reason,
            reason=reason,
            now=now,
        )
        current.status = NumberStatus.ACTIVE
        current.status_changed_at = now
        stamp_change(current, actor=actor, reason=f"Returned to its last holder during quarantine: {reason}")
        current.save()
    assert_ledger_matches(current)
    tell_subscriber(
        subscriber,
        via_number=current.msisdn,
        purpose=SmsPurpose.WITHDRAWAL,
        body=f"{format_msisdn(current.msisdn)} is yours again. Keep it active with a top-up at least every 90 days.",
    )
    return holding
