"""Employee flags: a handler's finding that an employee's change caused the complaint."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel

from .base import WRITTEN_BY, ComplaintWrittenQuerySet
from .complaints import Complaint


class EmployeeFlag(UndeletableModel):
    """A handler's finding that an employee's change caused the complaint: which
    employee, which history record. The disciplinary review starts from here."""

    written_by = WRITTEN_BY

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="employee_flags")
    employee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="flags_against")
    change_model = models.CharField(max_length=60, help_text="The history table of the change, e.g. numbers.holding.")
    change_history_id = models.PositiveBigIntegerField()
    change_object_id = models.PositiveBigIntegerField()
    change_at = models.DateTimeField()
    change_summary = models.TextField()
    flagged_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    flagged_at = models.DateTimeField(default=timezone.now)
    reason = models.TextField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    withdrawal_reason = models.TextField(blank=True)

    history = AuditedHistoricalRecords()
    objects = ComplaintWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["-flagged_at", "-id"]
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["complaint", "change_model", "change_history_id"],
                condition=Q(withdrawn_at__isnull=True),
                name="employee_flag_once_per_change",
                violation_error_message="This change is already flagged on this complaint.",
            ),
            models.CheckConstraint(
                condition=Q(withdrawn_at__isnull=True) | (Q(withdrawn_by__isnull=False) & ~Q(withdrawal_reason="")),
                name="employee_flag_withdrawal_recorded",
            ),
        ]
        indexes = [models.Index(fields=["employee", "flagged_at"], name="employee_flag_idx")]

    def __str__(self) -> str:
        return f"Flag #{self.pk}"
