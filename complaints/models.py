"""Complaints, their SLA clocks, emergency blocks, restorations, compensation offers,
regulator cases and employee flags.

Everything here is evidence for a regulator or a disciplinary hearing: rows are
written only by ``complaints.services`` (a pre_save guard and the queryset refuse
any other write), never deleted, and versioned by simple-history.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.signals import pre_save
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel, UndeletableQuerySet
from numbers.choices import NumberStatus
from numbers.models import Branch, Holding, MobileNumber, ServiceWrittenQuerySet, Subscriber, guard_service_written

from . import sla
from .choices import (
    LIVE_OFFER_STATES,
    OPEN_COMPLAINT_STATES,
    Channel,
    ComplaintCategory,
    ComplaintState,
    Currency,
    EventKind,
    OfferKind,
    OfferState,
    Regulator,
    ResponseChannel,
    RestorationState,
    Severity,
    SlaStatus,
    SlaUnit,
)
from .money import OFFER_AMOUNT_CEILING

WRITTEN_BY = "the complaint services"


class ComplaintWrittenQuerySet(ServiceWrittenQuerySet):
    pass


def _weekdays_validator(value: str) -> None:
    try:
        days = {int(part) for part in value.split(",") if part.strip()}
    except ValueError:
        days = set()
    if not days or not days <= set(range(7)):
        raise ValidationError("List the working weekdays as numbers 0 (Monday) to 6 (Sunday), e.g. 0,1,2,3,4.")


# --- The SLA table and its calendar ---------------------------------------------------


class WorkingCalendar(UndeletableModel):
    """Working days and hours of a complaint desk, with its public holidays."""

    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=120)
    timezone = models.CharField(max_length=60, default="Asia/Phnom_Penh")
    weekdays = models.CharField(
        "working weekdays",
        max_length=20,
        default="0,1,2,3,4",
        validators=[_weekdays_validator],
        help_text="0 is Monday, 6 is Sunday.",
    )
    day_start = models.TimeField(default="08:00")
    day_end = models.TimeField(default="17:00")

    history = AuditedHistoricalRecords()
    objects = UndeletableQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(day_end__gt=F("day_start")), name="calendar_day_ends_after_start"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError({"timezone": "Enter an IANA time zone such as Asia/Phnom_Penh."}) from exc

    def as_calendar(self, around=None) -> sla.Calendar:
        """The calendar for deadline arithmetic, with the holidays of the coming two years."""
        start = (around or timezone.now()).date() - timedelta(days=31)
        holidays = self.holidays.filter(date__gte=start, date__lte=start + timedelta(days=800)).values_list(
            "date", flat=True
        )
        return sla.calendar_from_days(
            timezone=self.timezone,
            weekdays=[int(day) for day in self.weekdays.split(",") if day.strip()],
            day_start=self.day_start,
            day_end=self.day_end,
            holidays=holidays,
        )


class Holiday(models.Model):
    """A public holiday: no working time on it. Configuration, so it may be removed."""

    calendar = models.ForeignKey(WorkingCalendar, on_delete=models.PROTECT, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=120)

    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["calendar", "date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="holiday_once_per_day")]

    def __str__(self) -> str:
        return f"{self.date:%Y-%m-%d} {self.name}"


class SlaTable(UndeletableModel):
    """A set of SLA rules (a preset such as Australia's complaints standard, or the
    operator's own). One table is active; complaints keep the rule they were given."""

    code = models.SlugField(max_length=30, unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    calendar = models.ForeignKey(WorkingCalendar, on_delete=models.PROTECT, related_name="sla_tables")
    warn_percent = models.PositiveSmallIntegerField(
        "warn after % of the time",
        default=75,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text="A clock shows 'due soon' once this share of its time has passed.",
    )
    is_active = models.BooleanField(default=False)

    history = AuditedHistoricalRecords()
    objects = UndeletableQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        verbose_name = "SLA table"
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=Q(is_active=True),
                name="sla_one_active_table",
                violation_error_message="Only one SLA table is active at a time.",
            ),
            models.CheckConstraint(condition=Q(warn_percent__gte=1, warn_percent__lte=99), name="sla_warn_percent"),
        ]

    def __str__(self) -> str:
        return self.name


class SlaRule(UndeletableModel):
    """Time to acknowledge and to resolve for a category and severity ("" matches any)."""

    table = models.ForeignKey(SlaTable, on_delete=models.PROTECT, related_name="rules")
    category = models.CharField(max_length=30, choices=ComplaintCategory.choices, blank=True)
    severity = models.CharField(max_length=20, choices=Severity.choices, blank=True)
    acknowledge_within = models.PositiveIntegerField()
    acknowledge_unit = models.CharField(max_length=20, choices=SlaUnit.choices, default=SlaUnit.WORKING_DAYS)
    resolve_within = models.PositiveIntegerField()
    resolve_unit = models.CharField(max_length=20, choices=SlaUnit.choices, default=SlaUnit.WORKING_DAYS)

    history = AuditedHistoricalRecords()
    objects = UndeletableQuerySet.as_manager()

    class Meta:
        ordering = ["table", "category", "severity"]
        verbose_name = "SLA rule"
        constraints = [
            models.UniqueConstraint(fields=["table", "category", "severity"], name="sla_rule_unique"),
            models.CheckConstraint(
                condition=Q(acknowledge_unit__in=SlaUnit.values, resolve_unit__in=SlaUnit.values),
                name="sla_rule_units_valid",
            ),
        ]

    def __str__(self) -> str:
        category = self.get_category_display() if self.category else "any category"
        severity = self.get_severity_display().lower() if self.severity else "any severity"
        return (
            f"{category}, {severity}: acknowledge in {self.acknowledge_within} "
            f"{self.get_acknowledge_unit_display().lower()}, resolve in {self.resolve_within} "
            f"{self.get_resolve_unit_display().lower()}"
        )


# --- Complaints ----------------------------------------------------------------------


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


# --- Emergency blocks and restorations ------------------------------------------------


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


# --- Compensation offers --------------------------------------------------------------


class CompensationOffer(UndeletableModel):
    """An offer of compensation. Several per complaint; a declined one stays on record."""

    written_by = WRITTEN_BY

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="offers")
    kind = models.CharField(max_length=20, choices=OfferKind.choices)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3, choices=Currency.choices)
    description = models.TextField(blank=True, help_text="What exactly is offered, e.g. the free period's terms.")
    state = models.CharField(max_length=20, choices=OfferState.choices)
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(default=timezone.now)
    proposal_reason = models.TextField()
    valid_until = models.DateTimeField()
    needs_approval = models.BooleanField(default=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approval_reason = models.TextField(blank=True)
    offered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    offered_at = models.DateTimeField(null=True, blank=True)
    offered_channel = models.CharField(max_length=20, choices=ResponseChannel.choices, blank=True)
    responded_at = models.DateTimeField("customer responded", null=True, blank=True)
    response_channel = models.CharField(max_length=20, choices=ResponseChannel.choices, blank=True)
    response_note = models.TextField(blank=True)
    response_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    # Withdrawn (by staff, or refused by the approver) or expired.
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    close_reason = models.TextField(blank=True)

    history = AuditedHistoricalRecords()
    objects = ComplaintWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["proposed_at", "id"]
        base_manager_name = "objects"
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="offer_amount_positive"),
            models.CheckConstraint(condition=Q(amount__lte=OFFER_AMOUNT_CEILING), name="offer_amount_within_ceiling"),
            models.CheckConstraint(condition=Q(currency__in=Currency.values), name="offer_currency_valid"),
            models.CheckConstraint(condition=Q(kind__in=OfferKind.values), name="offer_kind_valid"),
            models.CheckConstraint(condition=Q(state__in=OfferState.values), name="offer_state_valid"),
            models.UniqueConstraint(
                fields=["complaint"],
                condition=Q(state__in=LIVE_OFFER_STATES),
                name="offer_one_live_per_complaint",
                violation_error_message="This complaint already has an offer on the table; withdraw it or record "
                "the customer's answer first.",
            ),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=F("proposed_by")),
                name="offer_four_eyes",
                violation_error_message="The proposer of an offer cannot approve it.",
            ),
            models.CheckConstraint(
                condition=~Q(needs_approval=True, state__in=[OfferState.PROPOSED, OfferState.OFFERED])
                | Q(approved_by__isnull=False, approved_at__isnull=False),
                name="offer_approved_before_offered",
                violation_error_message="An offer above the handler's limit is approved before it is made.",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=[OfferState.ACCEPTED, OfferState.DECLINED])
                | Q(responded_at__isnull=False, offered_at__isnull=False) & ~Q(response_channel=""),
                name="offer_response_recorded",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=[OfferState.WITHDRAWN, OfferState.EXPIRED])
                | Q(closed_at__isnull=False) & ~Q(close_reason=""),
                name="offer_closure_recorded",
            ),
            models.CheckConstraint(condition=Q(valid_until__gt=F("proposed_at")), name="offer_valid_after_proposal"),
        ]
        indexes = [models.Index(fields=["state", "valid_until"], name="offer_expiry_idx")]

    def __str__(self) -> str:
        return f"Offer #{self.pk}: {self.amount_display}"

    @property
    def amount_display(self) -> str:
        from .money import format_money

        return format_money(self.amount, self.currency)

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_OFFER_STATES


# --- The regulator --------------------------------------------------------------------


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


# --- Employee flags -------------------------------------------------------------------


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


# The complaint case: evidence written only by the complaint services.
CASE_MODELS: tuple[type[models.Model], ...] = (
    Complaint,
    ComplaintNumber,
    ComplaintEvent,
    EmergencyBlock,
    Restoration,
    CompensationOffer,
    RegulatorCase,
    RegulatorResponse,
    EmployeeFlag,
)

for _model in CASE_MODELS:
    pre_save.connect(guard_service_written, sender=_model, dispatch_uid=f"guard_{_model.__name__}")
