"""The audit chain's anchors, the access log and disciplinary cases.

History of the portal's own models lives beside each model (simple-history,
configured in ``audit.history``); this app adds the history of Django's own
records of authority (users with their groups and permissions, groups with
theirs), which the staff services change, and of beat's job schedules.
"""

from __future__ import annotations

import simple_history
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from backoffice.evidence import UndeletableModel, UndeletableQuerySet

from .chain import ChainedRecord
from .choices import AccessKind, CaseOutcome, CaseState, RefusalKind
from .history import AuditedHistoricalRecords, append_only_triggers

simple_history.register(
    get_user_model(),
    app="audit",
    records_class=AuditedHistoricalRecords,
    m2m_fields=["groups", "user_permissions"],
    excluded_fields=["password", "last_login"],
)
simple_history.register(Group, app="audit", records_class=AuditedHistoricalRecords, m2m_fields=["permissions"])


class ScheduleHistoricalRecords(AuditedHistoricalRecords):
    """History of beat's schedules: who disabled or moved a job, and why.

    Beat itself saves a task's whole row after every run (``last_run_at``,
    ``total_run_count``, fields left out of the history); such a save changes
    nothing anyone decided, so it leaves no record.
    """

    def post_save(self, instance, created, using=None, **kwargs):
        if not created and not getattr(instance, "_change_reason", None) and self._unchanged(instance):
            return
        super().post_save(instance, created, using=using, **kwargs)

    def _unchanged(self, instance) -> bool:
        latest = getattr(instance, self.manager_name).order_by("-history_id").first()
        if latest is None:
            return False
        return all(
            getattr(latest, field.attname) == getattr(instance, field.attname)
            for field in self.fields_included(instance)
        )


simple_history.register(
    PeriodicTask,
    app="audit",
    records_class=ScheduleHistoricalRecords,
    excluded_fields=["last_run_at", "total_run_count", "date_changed"],
)
simple_history.register(CrontabSchedule, app="audit", records_class=AuditedHistoricalRecords)
simple_history.register(IntervalSchedule, app="audit", records_class=AuditedHistoricalRecords)


class ChainHead(models.Model):
    """The newest link of one table's chain: what the next record chains from."""

    table = models.CharField(max_length=100, unique=True)
    last_pk = models.CharField(max_length=40)
    last_hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = "audit chain head"

    def __str__(self) -> str:
        return f"{self.table} @ {self.last_pk}"


class AccessEvent(ChainedRecord):
    """A sign-in, failed sign-in or sign-out, or a view of a subscriber's identity and
    contact details, on the chain like every history record."""

    # Sign-ins were chained before subscriber views were logged (audit.chain.canonical_content).
    chain_added_later = frozenset({"subscriber"})

    kind = models.CharField(max_length=12, choices=AccessKind.choices)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="access_events"
    )
    username = models.CharField(max_length=150, db_index=True, help_text="As typed, for failed sign-ins.")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    subscriber = models.ForeignKey(
        "numbers.Subscriber",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Whose identity and contact details were shown (views of a subscriber).",
    )

    class Meta:
        ordering = ["-at", "-id"]
        triggers = append_only_triggers()
        indexes = [models.Index(fields=["user", "-at"], name="access_user_at_idx")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=AccessKind.values), name="access_kind_valid"),
            models.CheckConstraint(
                condition=Q(kind=AccessKind.SUBSCRIBER, subscriber__isnull=False)
                | (~Q(kind=AccessKind.SUBSCRIBER) & Q(subscriber__isnull=True)),
                name="access_subscriber_view_names_subscriber",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.username} at {self.at:%Y-%m-%d %H:%M}"


class RefusedAttempt(ChainedRecord):
    """A service refused to act on authority or on a rule: kept as evidence of the attempt.

    Written by ``audit.context.audited`` after the refused call rolled back, in a
    transaction of its own (see ``audit.refusals`` for what counts as a refusal).
    Append-only and on the chain like the access log; it never changes, so it
    keeps no history of its own.
    """

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="refused_attempts"
    )
    actor_label = models.CharField(
        max_length=150, blank=True, db_index=True, help_text="The actor's user name at the time, or job:<name>."
    )
    kind = models.CharField(max_length=10, choices=RefusalKind.choices)
    service = models.CharField(max_length=100, db_index=True, help_text="The service that refused.")
    rule = models.CharField(max_length=100, db_index=True, help_text="The error code, or its class when it has none.")
    message = models.TextField()
    target_model = models.CharField(max_length=100, blank=True, help_text="app_label.model of the object acted on.")
    target_pk = models.CharField(max_length=40, blank=True)
    target_label = models.CharField(max_length=200, blank=True, help_text="The object as shown at the time.")

    class Meta:
        ordering = ["-at", "-id"]
        triggers = append_only_triggers()
        indexes = [models.Index(fields=["actor", "-at"], name="refusal_actor_at_idx")]
        constraints = [models.CheckConstraint(condition=Q(kind__in=RefusalKind.values), name="refusal_kind_valid")]

    def __str__(self) -> str:
        return f"{self.service} refused {self.actor_label or 'nobody'} ({self.rule}) at {self.at:%Y-%m-%d %H:%M}"

    @property
    def target(self) -> str:
        if not self.target_model:
            return ""
        return (
            f"{self.target_label} ({self.target_model} #{self.target_pk})"
            if self.target_label
            else (f"{self.target_model} #{self.target_pk}")
        )


class DisciplinaryCase(UndeletableModel):
    """An employee under review, on the grounds of complaints and flagged changes."""

    employee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="disciplinary_cases")
    state = models.CharField(max_length=10, choices=CaseState.choices, default=CaseState.OPEN)
    summary = models.TextField(help_text="What the employee is accused of.")
    complaints = models.ManyToManyField("complaints.Complaint", blank=True, related_name="disciplinary_cases")
    flags = models.ManyToManyField("complaints.EmployeeFlag", blank=True, related_name="disciplinary_cases")
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(default=timezone.now, editable=False)
    outcome = models.CharField(max_length=15, choices=CaseOutcome.choices, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    history = AuditedHistoricalRecords(m2m_fields=[complaints, flags])
    objects = UndeletableQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        permissions = [("review_audit", "Can open the audit review and manage disciplinary cases")]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=CaseState.values), name="case_state_valid"),
            models.CheckConstraint(
                condition=(Q(state=CaseState.CLOSED, closed_at__isnull=False, closed_by__isnull=False) & ~Q(outcome=""))
                | (~Q(state=CaseState.CLOSED) & Q(closed_at__isnull=True, outcome="")),
                name="case_closed_with_outcome",
            ),
            models.UniqueConstraint(
                fields=["employee"], condition=~Q(state=CaseState.CLOSED), name="case_one_open_per_employee"
            ),
        ]

    def __str__(self) -> str:
        return f"Case #{self.pk}: {self.employee.get_username()} ({self.get_state_display()})"

    @property
    def reference(self) -> str:
        return f"D-{self.opened_at:%Y}-{self.pk:05d}"


class CaseNote(UndeletableModel):
    """A dated note on a case; notes are added, never edited."""

    case = models.ForeignKey(DisciplinaryCase, on_delete=models.PROTECT, related_name="notes")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = AuditedHistoricalRecords()
    objects = UndeletableQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Note on case #{self.case_id} by {self.author_id}"
