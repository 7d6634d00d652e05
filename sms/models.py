"""The SMS outbox: what the portal told subscribers, when, and whether it went out.

One-time codes are stored masked: only the gateway call carries them (sms.sealing).

A message is stored in the transaction that decided it and delivered after
commit through the gateway backend (``SMS_BACKEND``); see backoffice.delivery.
"""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from backoffice.delivery import DELIVERY_FIELDS, Deliverable, delivery_constraints
from backoffice.evidence import UndeletableModel, UndeletableQuerySet
from backoffice.fields import MsisdnField

from .choices import InboundStatus, SmsPurpose


class SmsMessage(Deliverable, UndeletableModel):
    to_msisdn = MsisdnField("to")
    purpose = models.CharField(max_length=30, choices=SmsPurpose.choices)
    # What every screen, export and history shows: a one-time code in it is masked.
    body = models.TextField()
    # The code itself, sealed (sms.sealing) until delivery and wiped once the message
    # went or the portal gave up; never in the history, the admin or any screen.
    sealed_secret = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = UndeletableQuerySet.as_manager()
    # The delivery state is left out of the history table: its rows were chained
    # before delivery was tracked, and a new column would change what they hash to.
    # Every attempt still leaves a history record, its reason saying what happened.
    # The sealed code is left out too: history is kept for ever, the code for minutes.
    history = AuditedHistoricalRecords(excluded_fields=[*DELIVERY_FIELDS, "sealed_secret"])

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "SMS message"
        verbose_name_plural = "SMS outbox"
        constraints = delivery_constraints("sms")
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="sms_recent_idx"),
            models.Index(fields=["to_msisdn", "-created_at"], name="sms_to_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="sms_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"SMS #{self.pk} to {self.to_msisdn}"


class InboundSms(UndeletableModel):
    """A message a subscriber sent to the portal, as the gateway posted it.

    One row per gateway message id, never deleted: a replayed post finds the row and
    answers as the first time, changing nothing (sms.inbound routes the keyword).
    """

    gateway_message_id = models.CharField(max_length=100, unique=True)
    sender = models.CharField(max_length=32, help_text="The sending number as the gateway gave it.")
    text = models.TextField()
    keyword = models.CharField(max_length=20, blank=True)
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    status = models.CharField(max_length=20, choices=InboundStatus.choices, blank=True)
    answer = models.TextField(blank=True, help_text="What the portal did with it, as told to the gateway.")

    objects = UndeletableQuerySet.as_manager()
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name = "inbound SMS"
        verbose_name_plural = "inbound SMS"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=[*InboundStatus.values, ""]), name="inbound_sms_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"SMS from {self.sender} ({self.gateway_message_id})"
