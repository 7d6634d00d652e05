"""The inactivity policy from the operator's terms, as pure date arithmetic.

A number stays with its subscriber for ``hold_days`` after the last top-up or
payment (day 0). Warnings go out on ``warning_days`` of that period, each once;
on day ``hold_days`` the number is withdrawn, then it ages in quarantine for
``quarantine_days`` before anyone else can have it. Never unwarned: a holder who
did not get the final warning at least ``final_notice_days`` before is warned
first, and the withdrawal waits (the job catching up after days it did not run). Days are counted on the
operator's calendar (TIME_ZONE), so "day 60" is the same for staff and subscriber.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class Policy:
    hold_days: int
    warning_days: tuple[int, ...]
    quarantine_days: int
    min_quarantine_days: int
    batch_size: int
    final_notice_days: int = 5

    def problems(self) -> list[str]:
        found = []
        if self.hold_days < 1:
            found.append(f"HOLD_DAYS must be at least 1 (is {self.hold_days}).")
        if not self.warning_days:
            found.append("WARNING_DAYS must name at least one day: no number is withdrawn unwarned.")
        if self.final_notice_days < 1:
            found.append(f"FINAL_NOTICE_DAYS must be at least 1 (is {self.final_notice_days}).")
        bad = [day for day in self.warning_days if not 0 < day < self.hold_days]
        if bad:
            found.append(
                f"WARNING_DAYS must fall inside the {self.hold_days}-day period (1 to {self.hold_days - 1}): {bad}."
            )
        if len(set(self.warning_days)) != len(self.warning_days):
            found.append("WARNING_DAYS must not repeat a day.")
        if self.min_quarantine_days < 0:
            found.append("MIN_QUARANTINE_DAYS cannot be negative.")
        if self.quarantine_days < self.min_quarantine_days:
            found.append(
                f"QUARANTINE_DAYS ({self.quarantine_days}) is shorter than the minimum aging period "
                f"MIN_QUARANTINE_DAYS ({self.min_quarantine_days})."
            )
        if self.batch_size < 1:
            found.append("BATCH_SIZE must be at least 1.")
        return found

    @property
    def final_warning_day(self) -> int:
        """The last warning of a period: the one a withdrawal waits for."""
        return max(self.warning_days)

    def warning_due(self, day: int) -> int | None:
        """The latest warning day reached on ``day`` of the period (None before the
        first, and from the withdrawal day on)."""
        if day >= self.hold_days:
            return None
        reached = [d for d in self.warning_days if d <= day]
        return max(reached) if reached else None


def configured_policy() -> Policy:
    """The policy as configured in NUMBER_LIFECYCLE, not yet checked."""
    config = settings.NUMBER_LIFECYCLE
    return Policy(
        hold_days=config["HOLD_DAYS"],
        warning_days=tuple(sorted(config["WARNING_DAYS"])),
        quarantine_days=config["QUARANTINE_DAYS"],
        min_quarantine_days=config["MIN_QUARANTINE_DAYS"],
        batch_size=config.get("BATCH_SIZE", 500),
        final_notice_days=config.get("FINAL_NOTICE_DAYS", 5),
    )


def policy() -> Policy:
    """The configured policy; refuses to run on one that breaks the rules above."""
    current = configured_policy()
    problems = current.problems()
    if problems:
        raise ImproperlyConfigured("NUMBER_LIFECYCLE: " + " ".join(problems))
    return current


def local_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_day(moment: datetime) -> date:
    return moment.astimezone(local_tz()).date()


def start_of(day: date) -> datetime:
    """Midnight at the start of ``day`` on the operator's calendar."""
    return datetime.combine(day, time.min, local_tz())


def day_of_period(anchor: datetime, today: date) -> int:
    """Day 0 is the day of the top-up; day 90 is 90 calendar days later."""
    return (today - local_day(anchor)).days


def reached_on_or_before(today: date, days: int) -> datetime:
    """Anchors earlier than this have reached day ``days`` by ``today``."""
    return start_of(today - timedelta(days=days - 1))
