"""The regulator's cases about a complaint and our responses to them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel

from ..choices import Regulator
from .base import WRITTEN_BY, ComplaintWrittenQuerySet
from .complaints import Complaint


class RegulatorCase(UndeletableModel):
    """The regulator's reference for a complaint it is looking at."""

    written_by = WRITTEN_BY

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="regulator_cases")
    regulator = models.CharField(max_length=10, choices=Regulator.choices)
    case_number = models.CharField(max_length=60)
    notified_on = models.DateField("date notified")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)

    history = AuditedHistoricalRecords()
    objects = ComplaintWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["notified_on", "id"]
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(fields=["regulator", "case_number"], name="regulator_case_unique"),
            models.CheckConstraint(condition=Q(regulator__in=Regulator.values), name="regulator_valid"),
            models.CheckConstraint(condition=~Q(case_number=""), name="regulator_case_number_present"),
        ]

    def __str__(self) -> str:
        return f"{self.regulator} {self.case_number}"


class RegulatorResponse(UndeletableModel):
    """One answer sent to the regulator about a case."""

    written_by = WRITTEN_BY

    case = models.ForeignKey(RegulatorCase, on_delete=models.PROTECT, related_name="responses")
    responded_on = models.DateField()
    summary = models.TextField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(default=timezone.now)

    history = AuditedHistoricalRecords()
    objects = ComplaintWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["responded_on", "id"]
        base_manager_name = "objects"

    def __str__(self) -> str:
        return f"Response of {self.responded_on:%Y-%m-%d} to case #{self.case_id}"
