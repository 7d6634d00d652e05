"""Seed the working calendars and SLA presets; the operator's own table is active.

- ``acma``: Australia's complaints-handling standard (acknowledge within 2 working
  days, resolve within 15; urgent complaints resolved within 2), on a Sydney calendar.
- ``operator``: this operator's table on a Phnom Penh calendar. An unauthorised
  transfer runs round the clock: acknowledged within 4 hours, resolved within 2
  working days (and blocked within 24 hours, see COMPLAINTS_BLOCK_WITHIN_HOURS).

Public holidays come from the ``holidays`` package for the years around now;
administrators add or remove days in the admin.
"""

from datetime import date, time

import holidays as holiday_data
from django.db import migrations

CALENDARS = [
    # code, name, timezone, weekdays, start, end, country, subdivision
    ("kh-phnom-penh", "Phnom Penh, Mon-Fri 08:00-17:00", "Asia/Phnom_Penh", "0,1,2,3,4", time(8), time(17), "KH", None),
    ("au-sydney", "Sydney, Mon-Fri 09:00-17:00", "Australia/Sydney", "0,1,2,3,4", time(9), time(17), "AU", "NSW"),
]

WD, WH, H = "working_days", "working_hours", "hours"
TABLES = [
    (
        "operator",
        "Operator complaints SLA",
        "The operator's own clocks; unauthorised transfers run round the clock.",
        "kh-phnom-penh",
        True,
        [
            # category, severity, acknowledge, unit, resolve, unit
            ("", "", 2, WD, 15, WD),
            ("", "high", 1, WD, 5, WD),
            ("", "critical", 4, WH, 2, WD),
            ("unauthorised_transfer", "critical", 4, H, 2, WD),
            ("billing", "", 2, WD, 10, WD),
        ],
    ),
    (
        "acma",
        "Australia: ACMA complaints-handling standard",
        "Acknowledge within 2 working days, resolve within 15; urgent complaints resolved within 2 working days.",
        "au-sydney",
        False,
        [
            ("", "", 2, WD, 15, WD),
            ("", "high", 2, WD, 2, WD),
            ("", "critical", 2, WD, 2, WD),
        ],
    ),
]


def seed(apps, schema_editor):
    WorkingCalendar = apps.get_model("complaints", "WorkingCalendar")
    Holiday = apps.get_model("complaints", "Holiday")
    SlaTable = apps.get_model("complaints", "SlaTable")
    SlaRule = apps.get_model("complaints", "SlaRule")
    this_year = date.today().year
    calendars = {}
    for code, name, tz, weekdays, start, end, country, subdiv in CALENDARS:
        calendar, _ = WorkingCalendar.objects.get_or_create(
            code=code, defaults={"name": name, "timezone": tz, "weekdays": weekdays, "day_start": start, "day_end": end}
        )
        calendars[code] = calendar
        days = holiday_data.country_holidays(country, subdiv=subdiv, years=range(this_year - 1, this_year + 3))
        for day, holiday_name in sorted(days.items()):
            Holiday.objects.get_or_create(calendar=calendar, date=day, defaults={"name": holiday_name[:120]})
    for code, name, description, calendar_code, active, rules in TABLES:
        table, _ = SlaTable.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "description": description,
                "calendar": calendars[calendar_code],
                "is_active": active and not SlaTable.objects.filter(is_active=True).exists(),
            },
        )
        for category, severity, ack, ack_unit, resolve, resolve_unit in rules:
            SlaRule.objects.get_or_create(
                table=table,
                category=category,
                severity=severity,
                defaults={
                    "acknowledge_within": ack,
                    "acknowledge_unit": ack_unit,
                    "resolve_within": resolve,
                    "resolve_unit": resolve_unit,
                },
            )


class Migration(migrations.Migration):
    dependencies = [("complaints", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
