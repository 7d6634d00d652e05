"""Deadline arithmetic on a working calendar: pure functions, no database.

Complaint standards count working days (Australia's: acknowledge within 2, resolve
within 15) and helpdesks count business hours; a critical complaint runs round
the clock. The calendar says which weekdays are worked, the working hours of a
day, its time zone and its public holidays.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .choices import SlaUnit

# A deadline further than this is a misconfigured calendar (no working days at all).
_MAX_DAYS_SEARCHED = 3660


@dataclass(frozen=True)
class Calendar:
    timezone: str
    weekdays: frozenset[int]  # Monday is 0
    day_start: time
    day_end: time
    holidays: frozenset[date] = field(default_factory=frozenset)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.weekdays and day not in self.holidays

    def window(self, day: date) -> tuple[datetime, datetime]:
        tz = self.tz
        return datetime.combine(day, self.day_start, tz), datetime.combine(day, self.day_end, tz)


def _next_working_day(calendar: Calendar, day: date) -> date:
    for _ in range(_MAX_DAYS_SEARCHED):
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            return day
    raise ValueError("The working calendar has no working days.")


def add_working_days(calendar: Calendar, start: datetime, days: int) -> datetime:
    """The end of the ``days``-th working day after the day ``start`` falls on.

    The day of receipt is not counted, as complaint standards count it: a complaint
    made on Friday afternoon with 2 working days to acknowledge is due at the close
    of Tuesday.
    """
    day = start.astimezone(calendar.tz).date()
    for _ in range(days):
        day = _next_working_day(calendar, day)
    if days == 0 and not calendar.is_working_day(day):
        day = _next_working_day(calendar, day)
    return calendar.window(day)[1]


def add_working_hours(calendar: Calendar, start: datetime, hours: float) -> datetime:
    """``hours`` of working time after ``start``, skipping nights, weekends and holidays."""
    remaining = timedelta(hours=hours)
    local = start.astimezone(calendar.tz)
    day = local.date()
    if not calendar.is_working_day(day):
        day = _next_working_day(calendar, day)
        local = calendar.window(day)[0]
    for _ in range(_MAX_DAYS_SEARCHED):
        opens, closes = calendar.window(day)
        cursor = max(local, opens)
        if cursor < closes:
            available = closes - cursor
            if remaining <= available:
                return cursor + remaining
            remaining -= available
        day = _next_working_day(calendar, day)
        local = calendar.window(day)[0]
    raise ValueError("The working calendar has no working hours.")


def deadline(calendar: Calendar, start: datetime, amount: int, unit: str) -> datetime:
    if amount < 0:
        raise ValueError("An SLA time cannot be negative.")
    if unit == SlaUnit.WORKING_DAYS:
        return add_working_days(calendar, start, amount)
    if unit == SlaUnit.WORKING_HOURS:
        return add_working_hours(calendar, start, amount)
    if unit == SlaUnit.HOURS:
        return start + timedelta(hours=amount)
    raise ValueError(f"Unknown SLA unit {unit!r}.")


def warning_time(start: datetime, due: datetime, warn_percent: int) -> datetime:
    """When a clock turns "due soon": after ``warn_percent`` of its time has gone."""
    return start + (due - start) * (warn_percent / 100)


def calendar_from_days(*, timezone: str, weekdays: Collection[int], day_start: time, day_end: time, holidays=()):
    return Calendar(
        timezone=timezone,
        weekdays=frozenset(weekdays),
        day_start=day_start,
        day_end=day_end,
        holidays=frozenset(holidays),
    )


def format_duration(delta: timedelta | None) -> str:
    """How staff read a clock: "under 1 min", "42 min", "26 h 05 min"."""
    if delta is None:
        return ""
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes == 0:
        return "under 1 min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"
