"""Disputes: the holder said no to a transfer request by replying to its SMS notice."""

from __future__ import annotations

from django.db import models
from django.db.models.signals import pre_save
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel
from backoffice.fields import MsisdnField

from .guards import ServiceWrittenQuerySet, guard_service_written
from .transfers import TransferRequest


class TransferDispute(UndeletableModel):
    """The holder said no to a transfer request by replying to its SMS notice.

    Kept beside the request (not as columns on it) so the request's chained history
    rows keep their hashes; the request shows "Disputed by the holder" through it.
    """

    request = models.OneToOneField(TransferRequest, on_delete=models.PROTECT, related_name="dispute")
    disputed_at = models.DateTimeField(default=timezone.now)
    sender = MsisdnField(help_text="The number the holder replied from: the number itself or their contact number.")
    reason = models.TextField(help_text="What the holder sent, and how it reached the portal.")

    history = AuditedHistoricalRecords()
    objects = ServiceWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["-disputed_at", "-id"]
        base_manager_name = "objects"
        verbose_name = "transfer dispute"

    def __str__(self) -> str:
        return f"Dispute of {self.request.reference}"


pre_save.connect(guard_service_written, sender=TransferDispute, dispatch_uid="guard_TransferDispute")
