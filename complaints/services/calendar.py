"""Public holidays for a working calendar, from the ``holidays`` package."""

from __future__ import annotations

from collections.abc import Iterable

import holidays as holiday_data
from django.core.exceptions import PermissionDenied, ValidationError

from audit.context import audited
from backoffice.history import require_reason, stamp_change

from ..models import Holiday, WorkingCalendar
from ._common import require_working


@audited
def calendar_load_holidays(
    *, calendar: WorkingCalendar, country: str, years: Iterable[int], actor, reason: str, subdivision: str = ""
) -> int:
    """Add the country's public holidays for ``years``; days already there are kept.
    Returns how many were added."""
    reason = require_reason(reason)
    require_working(actor)
    if not actor.has_perm("complaints.add_holiday"):
        raise PermissionDenied("You may not change working calendars.")
    try:
        days = holiday_data.country_holidays(country.upper(), subdiv=subdivision or None, years=list(years))
    except NotImplementedError as exc:
        raise ValidationError("No holiday data for country %(c)s.", params={"c": country}) from exc
    existing = set(calendar.holidays.values_list("date", flat=True))
    added = 0
    for day, name in sorted(days.items()):
        if day in existing:
            continue
        holiday = Holiday(calendar=calendar, date=day, name=name[:120])
        stamp_change(holiday, actor=actor, reason=reason)
        holiday.save()
        added += 1
    return added
