"""Choices and the number lifecycle table, written once and used everywhere."""

from django.db import models


class NumberStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    RESERVED = "reserved", "Reserved"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    BLOCKED = "blocked", "Blocked (complaint)"
    WITHDRAWN = "withdrawn", "Withdrawn"
    AGING = "aging", "Aging (quarantine)"


# States in which a number belongs to a subscriber: exactly these have a holder.
HELD_STATUSES: frozenset[str] = frozenset({NumberStatus.ACTIVE, NumberStatus.SUSPENDED, NumberStatus.BLOCKED})

# The lifecycle: every allowed move, and nothing else. A move into a held state
# from an unheld one is a sale (it needs a subscriber); a move out of the held
# states is a withdrawal (it closes the holding). A blocked number is frozen by a
# complaint: the only way out is unblocking, back to active or suspended.
TRANSITIONS: dict[str, frozenset[str]] = {
    NumberStatus.AVAILABLE: frozenset({NumberStatus.RESERVED, NumberStatus.ACTIVE}),
    NumberStatus.RESERVED: frozenset({NumberStatus.AVAILABLE, NumberStatus.ACTIVE}),
    NumberStatus.ACTIVE: frozenset({NumberStatus.SUSPENDED, NumberStatus.BLOCKED, NumberStatus.WITHDRAWN}),
    NumberStatus.SUSPENDED: frozenset({NumberStatus.ACTIVE, NumberStatus.BLOCKED, NumberStatus.WITHDRAWN}),
    NumberStatus.BLOCKED: frozenset({NumberStatus.ACTIVE, NumberStatus.SUSPENDED}),
    NumberStatus.WITHDRAWN: frozenset({NumberStatus.AGING}),
    NumberStatus.AGING: frozenset({NumberStatus.AVAILABLE}),
}


def is_allowed_move(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def is_withdrawal(from_status: str, to_status: str) -> bool:
    """A held number leaving its holder. Only the lifecycle job (inactivity) and an
    approved withdrawal request (numbers.services.withdrawals) make this move; no
    employee makes it by hand, whatever their role."""
    return from_status in HELD_STATUSES and to_status not in HELD_STATUSES


class HoldingStartReason(models.TextChoices):
    SALE = "sale", "New sale"
    TRANSFER = "transfer", "Transfer (dual consent)"
    RESTORATION = "restoration", "Restoration to rightful holder"
    REINSTATEMENT = "reinstatement", "Returned to its last holder during quarantine"


class HoldingEndReason(models.TextChoices):
    TRANSFER = "transfer", "Transferred away"
    RESTORATION = "restoration", "Restored to rightful holder"
    WITHDRAWAL = "withdrawal", "Withdrawn"


class IdentityDocumentType(models.TextChoices):
    NATIONAL_ID = "national_id", "National ID card"
    PASSPORT = "passport", "Passport"
    RESIDENCE_PERMIT = "residence_permit", "Residence permit"
    DRIVING_LICENCE = "driving_licence", "Driving licence"


# Which branch permission a move needs (any one of them). Sales, reservations and
# suspensions are counter work; a block freezes a number for a complaint;
# withdrawal and recycling are the inactivity policy's, run by supervisors or jobs.
def move_permissions(from_status: str, to_status: str) -> tuple[str, ...]:
    if NumberStatus.BLOCKED in (from_status, to_status):
        return ("handle_branch_complaints", "supervise_branch")
    if to_status in (NumberStatus.WITHDRAWN, NumberStatus.AGING) or from_status == NumberStatus.AGING:
        return ("supervise_branch",)
    return ("operate_branch",)


# --- Transfers ------------------------------------------------------------------


class TransferState(models.TextChoices):
    AWAITING_CONSENT = "awaiting_consent", "Awaiting consent"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    EXECUTED = "executed", "Approved and executed"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


# A request is open (and blocks another for the same number) in these states.
OPEN_TRANSFER_STATES: tuple[str, ...] = (TransferState.AWAITING_CONSENT, TransferState.AWAITING_APPROVAL)
CLOSED_TRANSFER_STATES: tuple[str, ...] = (
    TransferState.EXECUTED,
    TransferState.REJECTED,
    TransferState.CANCELLED,
    TransferState.EXPIRED,
)


class ConsentParty(models.TextChoices):
    CURRENT_HOLDER = "current_holder", "Current holder"
    NEW_SUBSCRIBER = "new_subscriber", "New subscriber"


class ConsentMethod(models.TextChoices):
    IN_PERSON = "in_person", "In person, identity document checked"
    SMS_CODE = "sms_code", "One-time code sent to the number"
    SIGNED_FORM = "signed_form", "Signed consent form (uploaded)"


# --- Withdrawals by hand ------------------------------------------------------------


class WithdrawalGround(models.TextChoices):
    """The closed list of grounds for withdrawing a held number by hand. Inactivity is
    not one: it is the lifecycle job's business alone."""

    HOLDER_REQUEST = "holder_request", "The holder's own request (consent by code to the number)"
    LEGAL_ORDER = "legal_order", "A legal or fraud order (document attached)"
    DEATH = "death", "The subscriber's death (evidence attached)"


# Grounds whose evidence is a document attached to the request.
DOCUMENT_GROUNDS: tuple[str, ...] = (WithdrawalGround.LEGAL_ORDER, WithdrawalGround.DEATH)


class WithdrawalState(models.TextChoices):
    AWAITING_CONSENT = "awaiting_consent", "Awaiting the holder's code"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    EXECUTED = "executed", "Approved and withdrawn"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


OPEN_WITHDRAWAL_STATES: tuple[str, ...] = (WithdrawalState.AWAITING_CONSENT, WithdrawalState.AWAITING_APPROVAL)


class SubscriberChangeState(models.TextChoices):
    AWAITING_CONSENT = "awaiting_consent", "Awaiting the holder's code"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting a supervisor"
    APPROVED = "approved", "Approved and applied"
    REJECTED = "rejected", "Rejected or withdrawn"


OPEN_SUBSCRIBER_CHANGE_STATES: tuple[str, ...] = (
    SubscriberChangeState.AWAITING_CONSENT,
    SubscriberChangeState.AWAITING_APPROVAL,
)


class IdentityExportState(models.TextChoices):
    REQUESTED = "requested", "Awaiting a second employee"
    DELIVERED = "delivered", "Approved and delivered once"
