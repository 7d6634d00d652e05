"""Add a country's public holidays to a working calendar, through
complaints.services.calendar_load_holidays (days already there are kept)::

    python manage.py load_holidays --calendar kh-phnom-penh --country KH --years 2026 2027 \\
        --actor admin --reason "Holidays for next year"
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from complaints import services
from complaints.models import WorkingCalendar


class Command(BaseCommand):
    help = "Load a country's public holidays into a working calendar (from the holidays package)."

    def add_arguments(self, parser):
        parser.add_argument("--calendar", required=True, help="The calendar's code, e.g. kh-phnom-penh")
        parser.add_argument("--country", required=True, help="ISO country code, e.g. KH or AU")
        parser.add_argument("--subdivision", default="", help="State or province where holidays differ, e.g. NSW")
        parser.add_argument("--years", required=True, nargs="+", type=int, metavar="YEAR")
        parser.add_argument("--actor", required=True, help="User name of the employee acting")
        parser.add_argument("--reason", required=True)

    def handle(self, *args, **options):
        calendar = WorkingCalendar.objects.filter(code=options["calendar"]).first()
        if calendar is None:
            codes = ", ".join(WorkingCalendar.objects.values_list("code", flat=True)) or "none"
            raise CommandError(f"No working calendar {options['calendar']!r} (calendars: {codes}).")
        actor = get_user_model().objects.filter(username=options["actor"]).first()
        if actor is None:
            raise CommandError(f"No user named {options['actor']}.")
        try:
            added = services.calendar_load_holidays(
                calendar=calendar,
                country=options["country"],
                years=options["years"],
                subdivision=options["subdivision"],
                actor=actor,
                reason=options["reason"],
            )
        except (ValidationError, PermissionDenied) as exc:
            text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            raise CommandError(f"Refused, nothing changed: {text}") from exc
        years = ", ".join(str(year) for year in options["years"])
        total = calendar.holidays.count()
        self.stdout.write(f"Added {added} holiday(s) for {years} to {calendar.code}; it now has {total}.")
