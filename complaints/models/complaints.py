"""Complaints: the case, its numbers, its events and who may see it."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel
from numbers.models import Branch, MobileNumber, Subscriber

from ..choices import OPEN_COMPLAINT_STATES, Channel, ComplaintCategory, ComplaintState, EventKind, Severity, SlaStatus
from .base import WRITTEN_BY, ComplaintWrittenQuerySet
from .sla_tables import SlaRule


class ComplaintSequence(models.Model):
    """The last reference number given out in a year (C-2026-000123)."""

    year = models.PositiveIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    history = AuditedHistoricalRecords()

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"


class ComplaintQuerySet(ComplaintWrittenQuerySet):
    def open(self):
        return self.filter(state__in=OPEN_COMPLAINT_STATES)


class Complaint(UndeletableModel):
    """A customer's complaint, its clocks and who handles it."""

    written_by = WRITTEN_BY

    reference = models.CharField(max_length=20, unique=True, editable=False)
    complainant = models.ForeignKey(Subscriber, on_delete=models.PROTECT, related_name="complaints")
    numbers = models.ManyToManyField(
        MobileNumber, through="ComplaintNumber", related_name="complaints", verbose_name="numbers concerned"
    )
    category = models.CharField(max_length=30, choices=ComplaintCategory.choices)
    severity = models.CharField(max_length=20, choices=Severity.choices)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    description = models.TextField()
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="complaints")
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="complaints_assigned"
    )
    state = models.CharField(max_length=20, choices=ComplaintState.choices, default=ComplaintState.NEW)
    received_at = models.DateTimeField(help_text="When the customer complained: the SLA clocks start here.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Empty only when the portal took it in itself (a holder's SMS reply, in a job
    # scope that history names); staff intake always names its employee.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    # The clocks, fixed at intake from the rule then in force (a later edit of the
    # table never moves an existing deadline).
    sla_rule = models.ForeignKey(SlaRule, on_delete=models.PROTECT, related_name="complaints")
    acknowledge_due_at = models.DateTimeField()
    acknowledge_warn_at = models.DateTimeField()
    resolve_due_at = models.DateTimeField()
    resolve_warn_at = models.DateTimeField()
    block_due_at = models.DateTimeField(null=True, blank=True, help_text="Unauthorised transfers: block within 24 h.")
    block_warn_at = models.DateTimeField(null=True, blank=True)
    # A breach is recorded once and stays, whatever happens afterwards.
    acknowledge_breached_at = models.DateTimeField(null=True, blank=True)
    resolve_breached_at = models.DateTimeField(null=True, blank=True)
    block_breached_at = models.DateTimeField(null=True, blank=True)

    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    first_blocked_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    resolution = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reopen_count = models.PositiveSmallIntegerField(default=0)

    history = AuditedHistoricalRecords()
    objects = ComplaintQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        base_manager_name = "objects"
        permissions = [("handle_complaint", "Can act on this complaint (its assigned handler)")]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=ComplaintState.values), name="complaint_state_valid"),
            models.CheckConstraint(condition=Q(category__in=ComplaintCategory.values), name="complaint_category_valid"),
            models.CheckConstraint(condition=Q(severity__in=Severity.values), name="complaint_severity_valid"),
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="complaint_channel_valid"),
            # An unauthorised transfer is critical and must be blocked within 24 hours.
            models.CheckConstraint(
                condition=~Q(category=ComplaintCategory.UNAUTHORISED_TRANSFER)
                | Q(severity=Severity.CRITICAL, block_due_at__isnull=False),
                name="complaint_unauthorised_transfer_critical",
                violation_error_message="An unauthorised-transfer complaint is critical with a 24-hour block deadline.",
            ),
            models.CheckConstraint(
                condition=Q(acknowledge_due_at__gte=F("received_at"), resolve_due_at__gte=F("received_at")),
                name="complaint_deadlines_after_receipt",
            ),
            models.CheckConstraint(
                condition=Q(state=ComplaintState.NEW) | Q(acknowledged_at__isnull=False, acknowledged_by__isnull=False),
                name="complaint_acknowledgement_recorded",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=[ComplaintState.RESOLVED, ComplaintState.CLOSED])
                | (Q(resolved_at__isnull=False, resolved_by__isnull=False) & ~Q(resolution="")),
                name="complaint_resolution_recorded",
            ),
            models.CheckConstraint(
                condition=~Q(state=ComplaintState.CLOSED) | Q(closed_at__isnull=False, closed_by__isnull=False),
                name="complaint_closure_recorded",
            ),
        ]
        indexes = [
            models.Index(fields=["branch", "state", "-received_at"], name="complaint_branch_queue_idx"),
            models.Index(fields=["assigned_to", "state"], name="complaint_assignee_idx"),
            models.Index(fields=["-received_at", "-id"], name="complaint_recent_idx"),
            models.Index(fields=["state", "resolve_due_at"], name="complaint_resolve_due_idx"),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_COMPLAINT_STATES

    @property
    def time_to_block(self) -> timedelta | None:
        if self.first_blocked_at is None:
            return None
        return self.first_blocked_at - self.received_at

    def pending_clocks(self) -> list[tuple[str, object, object]]:
        """The clocks still running: (name, warn at, due at)."""
        if not self.is_open:
            return []
        clocks = []
        if self.acknowledged_at is None:
            clocks.append(("acknowledge", self.acknowledge_warn_at, self.acknowledge_due_at))
        if self.block_due_at is not None and self.first_blocked_at is None:
            clocks.append(("block", self.block_warn_at, self.block_due_at))
        clocks.append(("resolve", self.resolve_warn_at, self.resolve_due_at))
        return clocks

    @property
    def breaches_on_record(self) -> list[str]:
        names = [("acknowledge", self.acknowledge_breached_at), ("block", self.block_breached_at)]
        names.append(("resolve", self.resolve_breached_at))
        return [name for name, at in names if at is not None]

    def sla_status(self, now=None) -> str:
        now = now or timezone.now()
        clocks = self.pending_clocks()
        if self.breaches_on_record or any(due <= now for _, _, due in clocks):
            return SlaStatus.BREACHED
        if not self.is_open:
            return SlaStatus.MET
        if any(warn <= now for _, warn, _ in clocks):
            return SlaStatus.DUE_SOON
        return SlaStatus.ON_TIME

    def next_deadline(self):
        """The earliest running clock: what the handler must beat next."""
        clocks = self.pending_clocks()
        if not clocks:
            return None
        name, _, due = min(clocks, key=lambda clock: clock[2])
        return name, due


class ComplaintUserObjectPermission(UserObjectPermissionBase):
    """guardian's per-complaint grants, in a direct foreign-key table."""

    content_object = models.ForeignKey(Complaint, on_delete=models.CASCADE, verbose_name="complaint")

    history = AuditedHistoricalRecords()

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "complaint authority"
        verbose_name_plural = "complaint authority"


class ComplaintGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Complaint, on_delete=models.CASCADE)

    history = AuditedHistoricalRecords()

    class Meta(GroupObjectPermissionBase.Meta):
        pass


class ComplaintNumber(UndeletableModel):
    """A number a complaint is about."""

    written_by = WRITTEN_BY

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="complaint_numbers")
    number = models.ForeignKey(MobileNumber, on_delete=models.PROTECT, related_name="complaint_links")
    added_at = models.DateTimeField(default=timezone.now)
    # Empty only when the portal took the complaint in itself (see Complaint.created_by).
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    history = AuditedHistoricalRecords()
    objects = ComplaintWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["added_at", "id"]
        base_manager_name = "objects"
        verbose_name = "number concerned"
        verbose_name_plural = "numbers concerned"
        constraints = [models.UniqueConstraint(fields=["complaint", "number"], name="complaint_number_once")]
        indexes = [models.Index(fields=["number", "complaint"], name="complaint_number_idx")]

    def __str__(self) -> str:
        return f"Number #{self.number_id} of complaint #{self.complaint_id}"


class ComplaintEvent(UndeletableModel):
    """One line of a complaint's own record: what happened, who did it, why."""

    written_by = WRITTEN_BY

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    at = models.DateTimeField(default=timezone.now)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    text = models.TextField()
    number = models.ForeignKey(MobileNumber, on_delete=models.PROTECT, null=True, blank=True, related_name="+")

    history = AuditedHistoricalRecords()
    objects = ComplaintWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["at", "id"]
        base_manager_name = "objects"
        constraints = [models.CheckConstraint(condition=Q(kind__in=EventKind.values), name="event_kind_valid")]
        indexes = [models.Index(fields=["complaint", "at"], name="complaint_event_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"
