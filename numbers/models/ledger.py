"""The holding ledger (who held which number, when) and the inactivity warnings:
written only by the services, one open holding per number."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.signals import pre_save
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel

from ..choices import HoldingEndReason, HoldingStartReason
from .guards import ServiceWrittenQuerySet, guard_service_written
from .numbers import MobileNumber
from .subscribers import Subscriber


class HoldingQuerySet(ServiceWrittenQuerySet):
    def open(self):
        return self.filter(ended_at__isnull=True)


class Holding(UndeletableModel):
    """Who held which number, from when to when, and why. Rows are closed, never removed."""

    number = models.ForeignKey(MobileNumber, on_delete=models.PROTECT, related_name="holdings")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.PROTECT, related_name="holdings")
    started_at = models.DateTimeField(default=timezone.now)
    start_reason = models.CharField(max_length=20, choices=HoldingStartReason.choices)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    start_note = models.TextField(blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=HoldingEndReason.choices, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    end_note = models.TextField(blank=True)
    transfer_request = models.OneToOneField(
        "TransferRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="opened_holding",
        help_text="The approved transfer request that opened this holding.",
    )

    history = AuditedHistoricalRecords()
    objects = HoldingQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        # ``other.holdings.add(holding)`` would otherwise rewrite the ledger unguarded.
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["number"],
                condition=Q(ended_at__isnull=True),
                name="holding_one_open_per_number",
                violation_error_message="This number already has an open holding.",
            ),
            models.CheckConstraint(
                condition=(Q(ended_at__isnull=True, end_reason="") | Q(ended_at__isnull=False) & ~Q(end_reason="")),
                name="holding_end_reason_with_end",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="holding_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(start_reason__in=HoldingStartReason.values),
                name="holding_start_reason_valid",
            ),
            # A trigger (migration 0008) also requires that request to be executed.
            models.CheckConstraint(
                condition=(
                    Q(start_reason=HoldingStartReason.TRANSFER, transfer_request__isnull=False)
                    | (~Q(start_reason=HoldingStartReason.TRANSFER) & Q(transfer_request__isnull=True))
                ),
                name="holding_transfer_has_request",
                violation_error_message="A holding opened by a transfer must reference its transfer request.",
            ),
        ]
        indexes = [
            models.Index(fields=["subscriber", "started_at"], name="holding_subscriber_idx"),
            # The ledger list reads newest first; without this PostgreSQL sorts the whole table.
            models.Index(fields=["-started_at", "-id"], name="holding_recent_idx"),
        ]

    def __str__(self) -> str:
        # Ids only: a __str__ that follows foreign keys costs a query per row in lists.
        return f"Holding #{self.pk} ({self.get_start_reason_display()}, from {self.started_at:%Y-%m-%d})"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


pre_save.connect(guard_service_written, sender=Holding, dispatch_uid="guard_holding")


class InactivityWarning(UndeletableModel):
    """One SMS warning of the inactivity lifecycle: which day of which period, to whom.

    The period is named by its start (the last top-up or payment), so a top-up
    opens a new period with its own warnings, and the unique constraint makes each
    warning exist once per period, however many times (or workers) the job runs.
    """

    written_by = "the inactivity lifecycle job"

    number = models.ForeignKey(MobileNumber, on_delete=models.PROTECT, related_name="inactivity_warnings")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.PROTECT, related_name="+")
    period_start = models.DateTimeField(help_text="The last top-up or payment this period counts from.")
    warning_day = models.PositiveSmallIntegerField()
    withdrawal_on = models.DateField(help_text="The day the number is withdrawn without a top-up.")
    sent_at = models.DateTimeField(default=timezone.now)

    history = AuditedHistoricalRecords()
    objects = ServiceWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["-sent_at", "-id"]
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["number", "period_start", "warning_day"],
                name="inactivity_warning_once_per_period",
                violation_error_message="This warning was already sent for this inactivity period.",
            ),
            models.CheckConstraint(condition=Q(warning_day__gt=0), name="inactivity_warning_day_positive"),
        ]

    def __str__(self) -> str:
        return f"Day-{self.warning_day} warning #{self.pk} for number #{self.number_id}"


pre_save.connect(guard_service_written, sender=InactivityWarning, dispatch_uid="guard_inactivity_warning")
