"""The working-calendar arithmetic, on its own: no database, known dates.

The week used here: Monday 2 to Sunday 8 March 2026, then Monday 9 to Friday 13
March. Phnom Penh has no daylight saving, so every local time is UTC+7.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from complaints import sla
from complaints.choices import SlaUnit

PP = ZoneInfo("Asia/Phnom_Penh")
UTC = ZoneInfo("UTC")

MON, TUE, WED, THU, FRI, SAT, SUN = (date(2026, 3, day) for day in range(2, 9))
NEXT_MON, NEXT_TUE, NEXT_WED = date(2026, 3, 9), date(2026, 3, 10), date(2026, 3, 11)


def at(day: date, hour: int, minute: int = 0, tz=PP) -> datetime:
    return datetime.combine(day, time(hour, minute), tz)


def desk(*, holidays=(), weekdays=(0, 1, 2, 3, 4), start=time(8), end=time(17), timezone="Asia/Phnom_Penh"):
    return sla.calendar_from_days(timezone=timezone, weekdays=weekdays, day_start=start, day_end=end, holidays=holidays)


def test_the_week_is_the_one_the_tests_think_it_is():
    assert [day.strftime("%a") for day in (MON, FRI, SAT, SUN, NEXT_MON)] == ["Mon", "Fri", "Sat", "Sun", "Mon"]


def test_working_days_are_the_weekdays_listed_and_not_holidays():
    calendar = desk(holidays=[WED])
    assert [calendar.is_working_day(day) for day in (MON, TUE, WED, THU, FRI, SAT, SUN)] == [
        True,
        True,
        False,
        True,
        True,
        False,
        False,
    ]
    weekend_desk = desk(weekdays=(5, 6))
    assert weekend_desk.is_working_day(SAT) and not weekend_desk.is_working_day(MON)


# --- Working days -------------------------------------------------------------------


def test_friday_afternoon_plus_two_working_days_is_the_end_of_tuesday():
    """The day of receipt is not counted; the weekend is not counted."""
    assert sla.add_working_days(desk(), at(FRI, 15, 30), 2) == at(NEXT_TUE, 17)


@pytest.mark.parametrize(
    ("received", "days", "due"),
    [
        (at(WED, 10), 2, at(FRI, 17)),  # a plain week
        (at(MON, 7), 1, at(TUE, 17)),  # before opening: the day is still the day of receipt
        (at(MON, 23), 1, at(TUE, 17)),  # after closing: the same
        (at(SAT, 11), 1, at(NEXT_MON, 17)),  # received at the weekend
        (at(SUN, 23, 59), 2, at(NEXT_TUE, 17)),
        (at(MON, 9), 5, at(NEXT_MON, 17)),
    ],
)
def test_working_days_count_from_the_day_after_receipt(received, days, due):
    assert sla.add_working_days(desk(), received, days) == due


def test_working_days_skip_public_holidays():
    # Monday 9 March off: Friday + 2 working days is Wednesday, not Tuesday.
    assert sla.add_working_days(desk(holidays=[NEXT_MON]), at(FRI, 15), 2) == at(NEXT_WED, 17)
    # A holiday on the day of receipt changes nothing: that day is never counted.
    assert sla.add_working_days(desk(holidays=[WED]), at(WED, 10), 1) == at(THU, 17)


def test_zero_working_days_is_the_close_of_the_day_or_of_the_next_working_day():
    assert sla.add_working_days(desk(), at(TUE, 9), 0) == at(TUE, 17)
    assert sla.add_working_days(desk(), at(SAT, 9), 0) == at(NEXT_MON, 17)


def test_the_day_of_receipt_is_the_desks_local_day_not_utcs():
    """Thursday 20:00 UTC is Friday 03:00 in Phnom Penh: one working day later is Monday."""
    received = datetime(2026, 3, 5, 20, 0, tzinfo=UTC)
    assert received.astimezone(PP).date() == FRI
    assert sla.add_working_days(desk(), received, 1) == at(NEXT_MON, 17)


def test_a_deadline_is_given_in_the_desks_time_zone():
    sydney = desk(timezone="Australia/Sydney", start=time(9))
    due = sla.add_working_days(sydney, at(FRI, 15), 2)
    assert due == datetime(2026, 3, 10, 17, 0, tzinfo=ZoneInfo("Australia/Sydney"))
    assert due.utcoffset() == timedelta(hours=11)  # daylight saving in March


# --- Working hours --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "hours", "due"),
    [
        (at(MON, 9), 4, at(MON, 13)),  # within the day
        (at(MON, 8), 9, at(MON, 17)),  # exactly the whole day
        (at(MON, 16), 4, at(TUE, 11)),  # one hour today, three tomorrow: nights do not count
        (at(FRI, 15), 4, at(NEXT_MON, 10)),  # over the weekend
        (at(SAT, 10), 2, at(NEXT_MON, 10)),  # received at the weekend: from Monday's opening
        (at(MON, 6), 1, at(MON, 9)),  # before opening: from opening
        (at(MON, 18), 1, at(TUE, 9)),  # after closing: from the next opening
        (at(MON, 9), 1.5, at(MON, 10, 30)),
        (at(MON, 9), 20, at(WED, 11)),  # 8 + 9 + 3
    ],
)
def test_working_hours_skip_nights_and_weekends(received, hours, due):
    assert sla.add_working_hours(desk(), received, hours) == due


def test_working_hours_skip_public_holidays():
    calendar = desk(holidays=[NEXT_MON])
    assert sla.add_working_hours(calendar, at(FRI, 16), 2) == at(NEXT_TUE, 9)
    # Received on the holiday itself: the clock starts at the next opening.
    assert sla.add_working_hours(calendar, at(NEXT_MON, 10), 1) == at(NEXT_TUE, 9)


def test_working_hours_from_utc():
    """09:00 UTC on Monday is 16:00 in Phnom Penh: one working hour left that day."""
    assert sla.add_working_hours(desk(), datetime(2026, 3, 2, 9, 0, tzinfo=UTC), 2) == at(TUE, 9)


# --- Round the clock, the unit switch and the warning ---------------------------------


def test_round_the_clock_hours_count_nights_weekends_and_holidays():
    calendar = desk(holidays=[SAT, SUN])
    assert sla.deadline(calendar, at(FRI, 22), 4, SlaUnit.HOURS) == at(SAT, 2)
    assert sla.deadline(calendar, at(FRI, 22), 24, SlaUnit.HOURS) == at(SAT, 22)


def test_deadline_uses_the_unit_given():
    calendar = desk()
    start = at(FRI, 15)
    assert sla.deadline(calendar, start, 2, SlaUnit.WORKING_DAYS) == at(NEXT_TUE, 17)
    assert sla.deadline(calendar, start, 4, SlaUnit.WORKING_HOURS) == at(NEXT_MON, 10)
    assert sla.deadline(calendar, start, 4, SlaUnit.HOURS) == at(FRI, 19)


def test_deadline_refuses_a_negative_time_and_an_unknown_unit():
    with pytest.raises(ValueError, match="cannot be negative"):
        sla.deadline(desk(), at(MON, 9), -1, SlaUnit.HOURS)
    with pytest.raises(ValueError, match="Unknown SLA unit"):
        sla.deadline(desk(), at(MON, 9), 1, "fortnights")


@pytest.mark.parametrize(
    ("percent", "warn"),
    [(75, at(MON, 14)), (50, at(MON, 12)), (1, datetime(2026, 3, 2, 8, 4, 48, tzinfo=PP))],
)
def test_warning_time_is_that_share_of_the_clock(percent, warn):
    assert sla.warning_time(at(MON, 8), at(MON, 16), percent) == warn


def test_warning_time_of_a_working_day_clock_counts_real_time():
    """Friday 15:00 to Tuesday 17:00 is 98 hours; 75% of it is 73.5 hours on."""
    start = at(FRI, 15)
    due = sla.add_working_days(desk(), start, 2)
    assert sla.warning_time(start, due, 75) == start + timedelta(hours=73.5)


# --- A misconfigured calendar ------------------------------------------------------------


def test_a_calendar_with_no_working_days_is_an_error_not_a_hang():
    nobody_works = desk(weekdays=())
    with pytest.raises(ValueError, match="no working days"):
        sla.add_working_days(nobody_works, at(MON, 9), 2)
    with pytest.raises(ValueError, match="no working days"):
        sla.add_working_hours(nobody_works, at(MON, 9), 2)
    with pytest.raises(ValueError, match="no working days"):
        sla.deadline(nobody_works, at(MON, 9), 0, SlaUnit.WORKING_DAYS)


def test_a_calendar_whose_only_working_day_is_always_a_holiday_is_an_error():
    mondays = [date(2026, 3, 2) + timedelta(weeks=week) for week in range(600)]
    with pytest.raises(ValueError, match="no working days"):
        sla.add_working_days(desk(weekdays=(0,), holidays=mondays), at(TUE, 9), 1)


def test_round_the_clock_hours_need_no_working_day():
    assert sla.deadline(desk(weekdays=()), at(MON, 9), 4, SlaUnit.HOURS) == at(MON, 13)
