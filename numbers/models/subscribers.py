"""Subscribers: the customers. The identity document is stored as a keyed hash, its last
characters and a seal (numbers/identity.py), never readable."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel, UndeletableQuerySet
from backoffice.fields import MsisdnField

from ..choices import IdentityDocumentType
from ..identity import mask_last4
from .branches import Branch


def mask_document_number(number: str) -> str:
    """Show only the last four characters: enough to match a card, not to copy it."""
    if not number:
        return ""
    visible = number[-4:] if len(number) > 4 else number[-1:]
    return "•" * max(len(number) - len(visible), 3) + visible


class Subscriber(UndeletableModel):
    """A customer. The identity document number is never stored readable (numbers/identity.py):
    a keyed hash finds and matches it, its last characters are shown, and the number
    itself is sealed for SIM-registration compliance; history keeps no sealed copy."""

    full_name = models.CharField(max_length=200)
    id_document_type = models.CharField("identity document type", max_length=20, choices=IdentityDocumentType.choices)
    id_document_hash = models.CharField("identity document (keyed hash)", max_length=64, editable=False)
    id_document_last4 = models.CharField("identity document (last characters)", max_length=4, editable=False)
    id_document_sealed = models.TextField("identity document (sealed)", editable=False)
    contact_msisdn = MsisdnField("contact number", blank=True)
    alternate_msisdn = MsisdnField("alternate contact number", blank=True)
    registered_branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="registered_subscribers"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    # The sealed number stays out of history: the chain is for reading, the seal is not.
    history = AuditedHistoricalRecords(excluded_fields=["id_document_sealed"])
    objects = UndeletableQuerySet.as_manager()

    class Meta:
        ordering = ["full_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["id_document_type", "id_document_hash"],
                name="subscriber_identity_document_unique",
                violation_error_message="A subscriber with this identity document already exists.",
            ),
            models.CheckConstraint(
                condition=~Q(id_document_hash="") & ~Q(id_document_last4="") & ~Q(id_document_sealed=""),
                name="subscriber_identity_document_present",
            ),
            models.CheckConstraint(
                condition=Q(id_document_type__in=IdentityDocumentType.values),
                name="subscriber_identity_document_type_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["contact_msisdn"], name="subscriber_contact_idx"),
            # The subscriber list reads in name order; also serves name-prefix search.
            models.Index(fields=["full_name", "id"], name="subscriber_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.get_id_document_type_display()} {self.masked_document})"

    @property
    def masked_document(self) -> str:
        return mask_last4(self.id_document_last4)
