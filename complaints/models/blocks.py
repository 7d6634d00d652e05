"""Emergency blocks of a number under a complaint and the restorations that lift them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel
from numbers.choices import NumberStatus
from numbers.models import Holding, MobileNumber, Subscriber

from ..choices import RestorationState
from .base import WRITTEN_BY, ComplaintWrittenQuerySet
from .complaints import Complaint


class EmergencyBlock(UndeletableModel):
    """A number frozen for a complaint. While it stands the number stays blocked:
    no transfer, sale, lifecycle move or withdrawal touches it."""

    written_by = WRITTEN_BY

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="blocks")
    number = models.ForeignKey(MobileNumber, on_delete=models.PROTECT, related_name="emergency_blocks")
    blocked_at = models.DateTimeField(default=timezone.now)
    blocked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    status_before = models.CharField(
        max_length=12,
        choices=NumberStatus.choices,
        default=NumberStatus.ACTIVE,
        help_text="The number's status when it was blocked: lifting the block returns it there.",
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    lift_reason = models.TextField(blank=True)

    history = AuditedHistoricalRecords()
    objects = ComplaintWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["-blocked_at", "-id"]
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["number"],
                condition=Q(lifted_at__isnull=True),
                name="emergency_block_one_per_number",
                violation_error_message="This number is already blocked for a complaint.",
            ),
            models.CheckConstraint(
                condition=Q(lifted_at__isnull=True) | (Q(lifted_by__isnull=False) & ~Q(lift_reason="")),
                name="emergency_block_lift_recorded",
            ),
        ]

    def __str__(self) -> str:
        return f"Emergency block #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None


class Restoration(UndeletableModel):
    """Giving a number back to its rightful holder, on the grounds of a complaint.

    No consent is asked of the subscriber who got it wrongly; a supervisor who did
    not ask approves it (four eyes); both holdings stay in the ledger. A database
    trigger refuses a restoration holding without an executed restoration.
    """

    written_by = WRITTEN_BY

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="restorations")
    number = models.ForeignKey(MobileNumber, on_delete=models.PROTECT, related_name="restorations")
    from_holder = models.ForeignKey(
        Subscriber, on_delete=models.PROTECT, related_name="restorations_away", verbose_name="wrongful holder"
    )
    to_subscriber = models.ForeignKey(
        Subscriber, on_delete=models.PROTECT, related_name="restorations_in", verbose_name="rightful holder"
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField()
    state = models.CharField(
        max_length=20, choices=RestorationState.choices, default=RestorationState.AWAITING_APPROVAL
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    opened_holding = models.OneToOneField(
        Holding, on_delete=models.PROTECT, null=True, blank=True, related_name="restoration"
    )

    history = AuditedHistoricalRecords()
    objects = ComplaintWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["number"],
                condition=Q(state=RestorationState.AWAITING_APPROVAL),
                name="restoration_one_open_per_number",
                violation_error_message="This number already has a restoration awaiting approval.",
            ),
            models.CheckConstraint(condition=Q(state__in=RestorationState.values), name="restoration_state_valid"),
            models.CheckConstraint(
                condition=~Q(from_holder=F("to_subscriber")),
                name="restoration_to_someone_else",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="restoration_four_eyes",
                violation_error_message="The requester of a restoration cannot decide it.",
            ),
            models.CheckConstraint(
                condition=Q(state=RestorationState.AWAITING_APPROVAL)
                | (
                    Q(state__in=[RestorationState.EXECUTED, RestorationState.REJECTED], decided_by__isnull=False)
                    | Q(state=RestorationState.CANCELLED, cancelled_by__isnull=False, decided_by__isnull=True)
                )
                & Q(decided_at__isnull=False)
                & ~Q(decision_reason=""),
                name="restoration_decision_recorded",
            ),
            models.CheckConstraint(
                condition=Q(opened_holding__isnull=True) | Q(state=RestorationState.EXECUTED),
                name="restoration_holding_only_when_executed",
            ),
        ]

    def __str__(self) -> str:
        return f"Restoration #{self.pk}"

    @property
    def reference(self) -> str:
        return f"R-{self.pk}"
