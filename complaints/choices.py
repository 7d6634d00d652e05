"""Choices for complaints, blocks, restorations and offers, written once."""

from django.db import models


class ComplaintCategory(models.TextChoices):
    UNAUTHORISED_TRANSFER = "unauthorised_transfer", "Unauthorised transfer or reallocation"
    BILLING = "billing", "Billing"
    SERVICE_QUALITY = "service_quality", "Service quality"
    OTHER = "other", "Other"


class Severity(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class Channel(models.TextChoices):
    BRANCH = "branch", "In a branch"
    PHONE = "phone", "Phone (call centre)"
    EMAIL = "email", "Email"
    WEB = "web", "Web form"
    SOCIAL = "social", "Social media"
    REGULATOR = "regulator", "Referred by the regulator"
    SMS = "sms", "SMS reply from the holder"


class ComplaintState(models.TextChoices):
    NEW = "new", "New"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    INVESTIGATING = "investigating", "Investigating"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    REOPENED = "reopened", "Reopened"


# A complaint is open (its numbers are "under complaint") in these states.
OPEN_COMPLAINT_STATES: tuple[str, ...] = (
    ComplaintState.NEW,
    ComplaintState.ACKNOWLEDGED,
    ComplaintState.INVESTIGATING,
    ComplaintState.REOPENED,
)
# The clock that runs in each open state: acknowledgement first, then resolution.
AWAITING_ACKNOWLEDGEMENT: tuple[str, ...] = (ComplaintState.NEW,)

# Every allowed move of a complaint and the action that makes it.
COMPLAINT_MOVES: dict[str, frozenset[str]] = {
    ComplaintState.NEW: frozenset({ComplaintState.ACKNOWLEDGED}),
    ComplaintState.ACKNOWLEDGED: frozenset({ComplaintState.INVESTIGATING, ComplaintState.RESOLVED}),
    ComplaintState.INVESTIGATING: frozenset({ComplaintState.RESOLVED}),
    ComplaintState.REOPENED: frozenset({ComplaintState.INVESTIGATING, ComplaintState.RESOLVED}),
    ComplaintState.RESOLVED: frozenset({ComplaintState.CLOSED, ComplaintState.REOPENED}),
    ComplaintState.CLOSED: frozenset({ComplaintState.REOPENED}),
}


class SlaUnit(models.TextChoices):
    WORKING_DAYS = "working_days", "Working days"
    WORKING_HOURS = "working_hours", "Working hours"
    HOURS = "hours", "Hours (round the clock)"


class SlaStatus(models.TextChoices):
    """What the queue shows for the clock that matters now."""

    ON_TIME = "on_time", "On time"
    DUE_SOON = "due_soon", "Due soon"
    BREACHED = "breached", "Breached"
    MET = "met", "Met"


class EventKind(models.TextChoices):
    RECEIVED = "received", "Received"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    INVESTIGATING = "investigating", "Investigation started"
    NOTE = "note", "Note"
    ASSIGNED = "assigned", "Assigned"
    NUMBER_ADDED = "number_added", "Number added"
    BLOCKED = "blocked", "Number blocked"
    BLOCK_LIFTED = "block_lifted", "Block lifted"
    RESTORATION_REQUESTED = "restoration_requested", "Restoration requested"
    RESTORATION_APPROVED = "restoration_approved", "Restoration approved"
    RESTORATION_REJECTED = "restoration_rejected", "Restoration rejected"
    RESTORATION_CANCELLED = "restoration_cancelled", "Restoration cancelled"
    OFFER = "offer", "Compensation offer"
    REGULATOR = "regulator", "Regulator"
    EMPLOYEE_FLAGGED = "employee_flagged", "Employee flagged"
    FLAG_WITHDRAWN = "flag_withdrawn", "Employee flag withdrawn"
    SLA_BREACHED = "sla_breached", "SLA breached"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"
    REOPENED = "reopened", "Reopened"


class RestorationState(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    EXECUTED = "executed", "Approved and executed"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class OfferKind(models.TextChoices):
    AIRTIME_CREDIT = "airtime_credit", "Airtime credit"
    BILL_CREDIT = "bill_credit", "Bill credit"
    REFUND = "refund", "Refund"
    FREE_SERVICE = "free_service", "Free service period"


class Currency(models.TextChoices):
    KHR = "KHR", "KHR (Cambodian riel)"
    USD = "USD", "USD (US dollar)"


# Minor units per currency: the riel is counted in whole riels, the dollar in cents.
CURRENCY_DECIMALS: dict[str, int] = {Currency.KHR: 0, Currency.USD: 2}


class OfferState(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    OFFERED = "offered", "Offered to the customer"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


# At most one offer per complaint is live (on the table or on its way to it).
LIVE_OFFER_STATES: tuple[str, ...] = (OfferState.PROPOSED, OfferState.AWAITING_APPROVAL, OfferState.OFFERED)


class ResponseChannel(models.TextChoices):
    IN_PERSON = "in_person", "In person"
    PHONE = "phone", "Phone"
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"
    LETTER = "letter", "Letter"


class Regulator(models.TextChoices):
    TRC = "TRC", "Telecommunication Regulator of Cambodia (TRC)"
    ACMA = "ACMA", "Australian Communications and Media Authority (ACMA)"
    TIO = "TIO", "Telecommunications Industry Ombudsman (TIO)"
    OFCOM = "OFCOM", "Ofcom"
    FCC = "FCC", "Federal Communications Commission (FCC)"
    OTHER = "OTHER", "Other"
