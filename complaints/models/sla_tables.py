"""The SLA table and its working calendar: which deadlines a complaint gets, counted in
working days (the arithmetic is complaints/sla.py)."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel, UndeletableQuerySet

from .. import sla
from ..choices import ComplaintCategory, Severity, SlaUnit


def _weekdays_validator(value: str) -> None:
    try:
        days = {int(part) for part in value.split(",") if part.strip()}
    except ValueError:
        days = set()
    if not days or not days <= set(range(7)):
        raise ValidationError("List the working weekdays as numbers 0 (Monday) to 6 (Sunday), e.g. 0,1,2,3,4.")


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
