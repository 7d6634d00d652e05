from django.db import models


class SmsPurpose(models.TextChoices):
    CONSENT_CODE = "consent_code", "One-time consent code"
    TRANSFER_REQUESTED = "transfer_requested", "Transfer requested (holder notice)"
    TRANSFER_EXECUTED = "transfer_executed", "Transfer executed"
    TRANSFER_REJECTED = "transfer_rejected", "Transfer rejected"
    TRANSFER_CANCELLED = "transfer_cancelled", "Transfer cancelled or expired"
    TRANSFER_LOCK = "transfer_lock", "Transfer lock placed or lifted"
    COMPLAINT = "complaint", "Complaint update"
    NUMBER_BLOCKED = "number_blocked", "Number blocked or restored"
    WITHDRAWAL = "withdrawal", "Withdrawal of a held number (requested or decided)"
    INACTIVITY_WARNING = "inactivity_warning", "Inactivity warning (no top-up)"
    NOTICE = "notice", "Other notice"


class InboundStatus(models.TextChoices):
    HANDLED = "handled", "Handled"
    REFUSED = "refused", "Not acted on (the answer says why)"
    UNKNOWN_KEYWORD = "unknown_keyword", "Keyword not understood"
