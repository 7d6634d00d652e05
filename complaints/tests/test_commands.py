"""Commands: load_holidays adds a country's public holidays to a working calendar
through calendar_load_holidays; the benchmark measures the complaint pages and
leaves nothing behind."""

from __future__ import annotations

from datetime import date
from io import StringIO

import holidays as holiday_data
import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from complaints.models import Complaint, ComplaintEvent, ComplaintNumber, Holiday, WorkingCalendar

pytestmark = pytest.mark.django_db


@pytest.fixture
def desk(db):
    """A calendar with one holiday of 2031 already in it."""
    calendar = WorkingCalendar(code="test-desk", name="Test desk", timezone="Asia/Phnom_Penh")
    calendar.save()
    Holiday(calendar=calendar, date=date(2031, 1, 1), name="Kept as entered").save()
    return calendar


def load(*args, **options) -> str:
    out = StringIO()
    call_command("load_holidays", *args, stdout=out, **options)
    return out.getvalue()


def days(calendar) -> dict[date, str]:
    return dict(calendar.holidays.values_list("date", "name"))


def test_loads_a_countrys_holidays_with_who_and_why(admin_user, desk):
    expected = holiday_data.country_holidays("KH", years=[2031, 2032])
    assert date(2031, 1, 1) in expected

    output = load(
        "--calendar=test-desk",
        "--country=kh",
        "--years",
        "2031",
        "2032",
        "--actor=admin",
        "--reason=Holidays for the next two years",
    )

    loaded = days(desk)
    assert set(loaded) == set(expected)
    assert loaded[date(2031, 1, 1)] == "Kept as entered"  # a day already there is kept
    assert f"Added {len(expected) - 1} holiday(s) for 2031, 2032 to test-desk" in output
    records = Holiday.history.filter(calendar_id=desk.pk, history_type="+").exclude(date=date(2031, 1, 1))
    assert records.count() == len(expected) - 1
    assert set(records.values_list("history_user__username", "history_change_reason")) == {
        ("admin", "Holidays for the next two years")
    }


def test_loading_again_adds_nothing(admin_user, desk):
    load("--calendar=test-desk", "--country=KH", "--years=2031", "--actor=admin", "--reason=First")
    before = (days(desk), Holiday.history.count())
    output = load("--calendar=test-desk", "--country=KH", "--years=2031", "--actor=admin", "--reason=Again")
    assert "Added 0 holiday(s)" in output
    assert (days(desk), Holiday.history.count()) == before


def test_a_subdivision_gets_its_own_holidays(admin_user, desk):
    sydney = set(holiday_data.country_holidays("AU", subdiv="NSW", years=[2031]))
    assert sydney != set(holiday_data.country_holidays("AU", years=[2031])) | {date(2031, 1, 1)}
    load(
        "--calendar=test-desk",
        "--country=AU",
        "--subdivision=NSW",
        "--years=2031",
        "--actor=admin",
        "--reason=Sydney desk",
    )
    assert set(days(desk)) == sydney | {date(2031, 1, 1)}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"calendar": "nowhere"}, "No working calendar 'nowhere'"),
        ({"actor": "nobody"}, "No user named nobody"),
        ({"actor": "handler_a"}, "may not change working calendars"),
        ({"actor": "auditor"}, "may not change working calendars"),
        ({"country": "XX"}, "No holiday data for country XX"),
        ({"country": "AU", "subdivision": "ZZ"}, "No holiday data for country AU"),
        ({"reason": "  "}, "A reason is required"),
    ],
    ids=["unknown-calendar", "unknown-user", "handler", "auditor", "unknown-country", "unknown-state", "blank-reason"],
)
def test_refusals_say_why_and_change_nothing(admin_user, handler_a, auditor, desk, options, message):
    arguments = {"calendar": "test-desk", "country": "KH", "actor": "admin", "reason": "Next year", **options}
    before = (days(desk), Holiday.history.count())
    with pytest.raises(CommandError, match=message):
        load(*[f"--{name}={value}" for name, value in arguments.items()], "--years=2031")
    assert (days(desk), Holiday.history.count()) == before


def test_the_preset_calendars_can_be_extended(admin_user):
    phnom_penh = WorkingCalendar.objects.get(code="kh-phnom-penh")
    year = max(phnom_penh.holidays.values_list("date__year", flat=True)) + 1
    load("--calendar=kh-phnom-penh", "--country=KH", f"--years={year}", "--actor=admin", "--reason=Next year")
    assert phnom_penh.holidays.filter(date__year=year).count() == len(holiday_data.country_holidays("KH", years=year))


# --- The benchmark's complaint pages -----------------------------------------------------


def test_benchmark_measures_the_complaint_pages_and_rolls_back(monkeypatch):
    monkeypatch.delattr(Client, "force_login")  # Django's own: the command signs in as staff do
    out = StringIO()
    call_command("benchmark_admin", numbers=60, subscribers=5, transfers=5, complaints=40, repeat=1, stdout=out)
    report = out.getvalue()
    for page in (
        "complaint queue (branch, open)",
        "complaint search, MSISDN",
        "complaint page",
        "complaints list (admin)",
        "complaint search by reference (admin)",
        "complaint page (admin)",
    ):
        assert page in report, page
    assert not Complaint.objects.exists()
    assert not ComplaintNumber.objects.exists() and not ComplaintEvent.objects.exists()


def test_benchmark_without_complaints_says_so():
    out = StringIO()
    call_command("benchmark_admin", numbers=20, subscribers=5, complaints=0, repeat=1, stdout=out)
    assert "complaint pages are not measured" in out.getvalue()
    assert "complaint queue" not in out.getvalue()
