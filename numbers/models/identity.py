"""Identity: consented changes of a holder's name, document or contacts, and the
compliance export of sealed documents."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.signals import pre_save
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel
from backoffice.fields import MsisdnField

from ..choices import OPEN_SUBSCRIBER_CHANGE_STATES, IdentityDocumentType, IdentityExportState, SubscriberChangeState
from ..identity import mask_last4
from .branches import Branch
from .guards import ServiceWrittenQuerySet, guard_service_written
from .subscribers import Subscriber


class SubscriberChangeRequest(UndeletableModel):
    """A change of a holder's name, identity document or contact numbers.

    Who a number belongs to and where their consent is asked are what a takeover
    would rewrite first: the holder consents by a one-time code sent to a number
    they hold, the old contact number and every held number are told, and a
    supervisor of the branch who did not ask approves. The new document is kept
    like the subscriber's own (hash, last characters, sealed; no seal in history).
    """

    written_by = "the subscriber change services"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.PROTECT, related_name="change_requests")
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(
        max_length=20, choices=SubscriberChangeState.choices, default=SubscriberChangeState.AWAITING_CONSENT
    )
    changed_fields = models.CharField(max_length=200, help_text="The subscriber's fields this request changes.")
    new_full_name = models.CharField(max_length=200, blank=True)
    new_document_type = models.CharField(max_length=20, choices=IdentityDocumentType.choices, blank=True)
    new_document_hash = models.CharField(max_length=64, blank=True, editable=False)
    new_document_last4 = models.CharField(max_length=4, blank=True, editable=False)
    new_document_sealed = models.TextField(blank=True, editable=False)
    new_contact_msisdn = MsisdnField("new contact number", blank=True)
    new_alternate_msisdn = MsisdnField("new alternate contact number", blank=True)
    code_sent_to = MsisdnField(help_text="The held number the holder's one-time code went to.")
    code_hash = models.CharField(max_length=128, editable=False)
    code_expires_at = models.DateTimeField()
    code_attempts = models.PositiveSmallIntegerField(default=0)
    consented_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    request_reason = models.TextField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    history = AuditedHistoricalRecords(excluded_fields=["new_document_sealed"])
    objects = ServiceWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber"],
                condition=Q(state__in=OPEN_SUBSCRIBER_CHANGE_STATES),
                name="subscriber_change_one_open",
                violation_error_message="This subscriber already has an open change request.",
            ),
            models.CheckConstraint(
                condition=Q(state__in=SubscriberChangeState.values), name="subscriber_change_state_valid"
            ),
            # Applied only with the holder's code and a second employee's decision.
            models.CheckConstraint(
                condition=~Q(state=SubscriberChangeState.APPROVED)
                | (Q(consented_at__isnull=False, decided_by__isnull=False) & ~Q(decided_by=models.F("requested_by"))),
                name="subscriber_change_approved_by_another",
            ),
            models.CheckConstraint(
                condition=Q(state__in=OPEN_SUBSCRIBER_CHANGE_STATES)
                | (Q(decided_at__isnull=False) & ~Q(decision_reason="")),
                name="subscriber_change_decision_recorded",
            ),
        ]

    def __str__(self) -> str:
        return f"Subscriber change {self.reference}"

    @property
    def reference(self) -> str:
        return f"S-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_SUBSCRIBER_CHANGE_STATES

    @property
    def fields(self) -> list[str]:
        return [name for name in self.changed_fields.split(",") if name]

    @property
    def new_masked_document(self) -> str:
        return mask_last4(self.new_document_last4)


class IdentityExport(UndeletableModel):
    """A four-eyes compliance export of sealed document numbers (SIM registration).

    One employee asks, a second with the export authority (not a superuser alone)
    approves and receives the decrypted CSV once; the numbers are never stored here.
    """

    written_by = "the identity export services"

    subscribers = models.JSONField(help_text="Ids of the subscribers whose documents are exported.")
    state = models.CharField(max_length=12, choices=IdentityExportState.choices, default=IdentityExportState.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    request_reason = models.TextField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approve_reason = models.TextField(blank=True)

    history = AuditedHistoricalRecords()
    objects = ServiceWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        base_manager_name = "objects"
        permissions = [("export_identity", "Request or approve a compliance export of identity documents")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=IdentityExportState.values), name="identity_export_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(state=IdentityExportState.REQUESTED, approved_by__isnull=True)
                | (
                    Q(state=IdentityExportState.DELIVERED, approved_by__isnull=False, approved_at__isnull=False)
                    & ~Q(approved_by=models.F("requested_by"))
                    & ~Q(approve_reason="")
                ),
                name="identity_export_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return f"Identity export #{self.pk}"


for _model in (SubscriberChangeRequest, IdentityExport):
    pre_save.connect(guard_service_written, sender=_model, dispatch_uid=f"guard_{_model.__name__}")
