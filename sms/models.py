"""The SMS outbox: what the portal told subscribers, and when.

The outbox backend stores every message here so staff (and the demo) can read
them in the admin; a production gateway backend may deliver instead.
"""

from django.db import models
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from numbers.fields import MsisdnField
from numbers.models import UndeletableModel, UndeletableQuerySet

from .choices import SmsPurpose


class SmsMessage(UndeletableModel):
    to_msisdn = MsisdnField("to")
    purpose = models.CharField(max_length=30, choices=SmsPurpose.choices)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = UndeletableQuerySet.as_manager()
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "SMS message"
        verbose_name_plural = "SMS outbox"
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="sms_recent_idx"),
            models.Index(fields=["to_msisdn", "-created_at"], name="sms_to_idx"),
        ]

    def __str__(self) -> str:
        return f"SMS #{self.pk} to {self.to_msisdn}"
