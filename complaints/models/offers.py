"""Compensation offers: several per complaint; a declined one stays on record."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel

from ..choices import LIVE_OFFER_STATES, Currency, OfferKind, OfferState, ResponseChannel
from ..money import OFFER_AMOUNT_CEILING, format_money
from .base import WRITTEN_BY, ComplaintWrittenQuerySet
from .complaints import Complaint


class CompensationOffer(UndeletableModel):
    """An offer of compensation. Several per complaint; a declined one stays on record."""

    written_by = WRITTEN_BY

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="offers")
    kind = models.CharField(max_length=20, choices=OfferKind.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, choices=Currency.choices)
    description = models.TextField(blank=True, help_text="What exactly is offered, e.g. the free period's terms.")
    state = models.CharField(max_length=20, choices=OfferState.choices)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(default=timezone.now)
    proposal_reason = models.TextField()
    valid_until = models.DateTimeField()
    needs_approval = models.BooleanField(default=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approval_reason = models.TextField(blank=True)
    offered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    offered_at = models.DateTimeField(null=True, blank=True)
    offered_channel = models.CharField(max_length=20, choices=ResponseChannel.choices, blank=True)
    responded_at = models.DateTimeField("customer responded", null=True, blank=True)
    response_channel = models.CharField(max_length=20, choices=ResponseChannel.choices, blank=True)
    response_note = models.TextField(blank=True)
    response_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Withdrawn (by staff, or refused by the approver) or expired.
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    close_reason = models.TextField(blank=True)

    history = AuditedHistoricalRecords()
    objects = ComplaintWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["proposed_at", "id"]
        base_manager_name = "objects"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="offer_amount_positive"),
            models.CheckConstraint(condition=Q(amount__lte=OFFER_AMOUNT_CEILING), name="offer_amount_within_ceiling"),
            models.CheckConstraint(condition=Q(currency__in=Currency.values), name="offer_currency_valid"),
            models.CheckConstraint(condition=Q(kind__in=OfferKind.values), name="offer_kind_valid"),
            models.CheckConstraint(condition=Q(state__in=OfferState.values), name="offer_state_valid"),
            models.UniqueConstraint(
                fields=["complaint"],
                condition=Q(state__in=LIVE_OFFER_STATES),
                name="offer_one_live_per_complaint",
                violation_error_message="This complaint already has an offer on the table; withdraw it or record "
                "the customer's answer first.",
            ),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("proposed_by")),
                name="offer_four_eyes",
                violation_error_message="The proposer of an offer cannot approve it.",
            ),
            models.CheckConstraint(
                condition=~Q(needs_approval=True, state__in=[OfferState.PROPOSED, OfferState.OFFERED])
                | Q(approved_by__isnull=False, approved_at__isnull=False),
                name="offer_approved_before_offered",
                violation_error_message="An offer above the handler's limit is approved before it is made.",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=[OfferState.ACCEPTED, OfferState.DECLINED])
                | Q(responded_at__isnull=False, offered_at__isnull=False) & ~Q(response_channel=""),
                name="offer_response_recorded",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=[OfferState.WITHDRAWN, OfferState.EXPIRED])
                | Q(closed_at__isnull=False) & ~Q(close_reason=""),
                name="offer_closure_recorded",
            ),
            models.CheckConstraint(condition=Q(valid_until__gt=F("proposed_at")), name="offer_valid_after_proposal"),
        ]
        indexes = [models.Index(fields=["state", "valid_until"], name="offer_expiry_idx")]

    def __str__(self) -> str:
        return f"Offer #{self.pk}: {self.amount_display}"

    @property
    def amount_display(self) -> str:
        return format_money(self.amount, self.currency)

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_OFFER_STATES
