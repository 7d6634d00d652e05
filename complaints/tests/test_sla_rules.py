"""The SLA table: which rule a complaint gets, the presets, and that a complaint
keeps the clocks it was given."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from complaints import services as cs
from complaints import sla
from complaints.choices import ComplaintCategory, Severity, SlaUnit
from complaints.models import Complaint, Holiday, SlaRule, SlaTable, WorkingCalendar
from complaints.tests.casework import activate_table, new_complaint, plain_calendar
from tests.helpers import refused

pytestmark = pytest.mark.django_db

WD, WH, H = SlaUnit.WORKING_DAYS, SlaUnit.WORKING_HOURS, SlaUnit.HOURS
PP = ZoneInfo("Asia/Phnom_Penh")


def rule_key(rule: SlaRule) -> tuple:
    return (
        rule.table.code,
        rule.category,
        rule.severity,
        rule.acknowledge_within,
        rule.acknowledge_unit,
        rule.resolve_within,
        rule.resolve_unit,
    )


# --- The presets of migration 0002 ------------------------------------------------------


def test_the_operator_table_is_the_active_one_on_a_phnom_penh_calendar():
    active = SlaTable.objects.get(is_active=True)
    assert active.code == "operator"
    assert (active.calendar.code, active.calendar.timezone) == ("kh-phnom-penh", "Asia/Phnom_Penh")
    assert (active.calendar.day_start, active.calendar.day_end) == (time(8), time(17))
    assert set(active.rules.values_list("category", "severity", "acknowledge_within", "acknowledge_unit")) == {
        ("", "", 2, WD),
        ("", Severity.HIGH, 1, WD),
        ("", Severity.CRITICAL, 4, WH),
        (ComplaintCategory.UNAUTHORISED_TRANSFER, Severity.CRITICAL, 4, H),
        (ComplaintCategory.BILLING, "", 2, WD),
    }


def test_the_acma_preset_is_two_and_fifteen_working_days_and_two_for_urgent():
    acma = SlaTable.objects.get(code="acma")
    assert not acma.is_active
    assert acma.calendar.code == "au-sydney" and acma.calendar.timezone == "Australia/Sydney"
    rules = {
        (rule.category, rule.severity): (rule.acknowledge_within, rule.acknowledge_unit, rule.resolve_within)
        for rule in acma.rules.all()
    }
    assert rules[("", "")] == (2, WD, 15)
    assert rules[("", Severity.CRITICAL)][2] == 2
    assert rules[("", Severity.HIGH)][2] == 2
    assert {rule.resolve_unit for rule in acma.rules.all()} == {WD}


def test_the_preset_calendars_have_their_countries_public_holidays():
    this_year = timezone.localdate().year
    kh = WorkingCalendar.objects.get(code="kh-phnom-penh")
    au = WorkingCalendar.objects.get(code="au-sydney")
    # Cambodia's Independence Day and Australia's Christmas, this year and next.
    for year in (this_year, this_year + 1):
        assert kh.holidays.filter(date=date(year, 11, 9)).exists()
        assert au.holidays.filter(date=date(year, 12, 25)).exists()
    assert not kh.holidays.filter(date=date(this_year, 1, 26)).exists()  # Australia Day is not Cambodia's
    assert date(this_year, 12, 25) in au.as_calendar(around=timezone.now()).holidays


def test_only_one_table_is_active_at_a_time():
    acma = SlaTable.objects.get(code="acma")
    acma.is_active = True
    with pytest.raises(IntegrityError), transaction.atomic():
        acma.save()
    assert list(SlaTable.objects.filter(is_active=True).values_list("code", flat=True)) == ["operator"]


def test_a_calendars_working_day_ends_after_it_starts():
    calendar = WorkingCalendar.objects.get(code="kh-phnom-penh")
    calendar.day_end = time(7)
    with pytest.raises(IntegrityError), transaction.atomic():
        calendar.save()


@pytest.mark.parametrize(
    ("field", "value"),
    [("weekdays", "0,1,7"), ("weekdays", ""), ("weekdays", "mon,tue"), ("timezone", "Mars/Olympus_Mons")],
)
def test_a_misconfigured_calendar_is_refused_by_its_form_checks(field, value):
    calendar = WorkingCalendar(code="desk", name="Desk", day_start=time(8), day_end=time(17))
    setattr(calendar, field, value)
    with pytest.raises(ValidationError) as exc:
        calendar.full_clean()
    assert field in exc.value.message_dict


def test_a_well_formed_calendar_passes_its_form_checks():
    WorkingCalendar(code="desk", name="Desk", timezone="Asia/Bangkok", weekdays="0,1,2,3,4,5").full_clean()


# --- Which rule a complaint gets ------------------------------------------------------------


@pytest.mark.parametrize(
    ("category", "severity", "expected"),
    [
        # Category and severity both match.
        (ComplaintCategory.UNAUTHORISED_TRANSFER, Severity.CRITICAL, ("unauthorised_transfer", "critical")),
        # Then the category alone, before the severity alone.
        (ComplaintCategory.BILLING, Severity.LOW, ("billing", "")),
        (ComplaintCategory.BILLING, Severity.HIGH, ("billing", "")),
        # Then the severity alone.
        (ComplaintCategory.SERVICE_QUALITY, Severity.HIGH, ("", "high")),
        (ComplaintCategory.OTHER, Severity.CRITICAL, ("", "critical")),
        # Then the default.
        (ComplaintCategory.OTHER, Severity.LOW, ("", "")),
        (ComplaintCategory.SERVICE_QUALITY, Severity.MEDIUM, ("", "")),
    ],
)
def test_the_most_specific_rule_of_the_active_table_applies(category, severity, expected):
    rule = cs.sla_rule_for(category=category, severity=severity)
    assert rule.table.code == "operator"
    assert (rule.category, rule.severity) == expected


def test_rules_come_from_the_active_table_only():
    activate_table("other", [("", "", 3, WD, 20, WD)])
    rule = cs.sla_rule_for(category=ComplaintCategory.BILLING, severity=Severity.HIGH)
    assert rule_key(rule) == ("other", "", "", 3, WD, 20, WD)


def test_no_active_table_is_a_clear_error(handler_a, holder, branch_a):
    SlaTable.objects.update(is_active=False)
    error = refused(ValidationError, lambda: cs.sla_rule_for(category="billing", severity="low"))
    assert error.code == "no_sla_table"
    assert "No SLA table is active" in error.messages[0]
    # Intake says so too, and takes nothing in.
    error = refused(ValidationError, lambda: new_complaint(actor=handler_a, complainant=holder, branch=branch_a))
    assert error.code == "no_sla_table"
    assert not Complaint.objects.exists()


def test_a_table_without_a_matching_rule_or_a_default_is_a_clear_error(handler_a, holder, branch_a):
    activate_table("narrow", [(ComplaintCategory.BILLING, "", 1, WD, 5, WD)])
    assert cs.sla_rule_for(category="billing", severity="high").table.code == "narrow"
    error = refused(ValidationError, lambda: cs.sla_rule_for(category="other", severity="low"))
    assert error.code == "no_sla_rule"
    assert error.messages == ["The SLA table Test table narrow has no rule for this complaint and no default rule."]
    error = refused(
        ValidationError,
        lambda: new_complaint(actor=handler_a, complainant=holder, branch=branch_a, category="other"),
    )
    assert error.code == "no_sla_rule"
    assert not Complaint.objects.exists()


# --- The deadlines a complaint is given ----------------------------------------------------


def last_friday_afternoon() -> datetime:
    """A Friday 15:00 in Phnom Penh between one and two weeks ago."""
    day = timezone.localdate() - timedelta(days=7)
    while day.weekday() != 4:
        day -= timedelta(days=1)
    return datetime.combine(day, time(15), PP)


def test_a_complaints_deadlines_come_from_the_active_tables_rule_and_calendar(handler_a, holder, branch_a):
    """On a calendar without holidays: Friday 15:00 + 2 working days is Tuesday 17:00,
    + 15 working days is the Friday three weeks on, 17:00; warnings at 75% of each."""
    table = activate_table("plain", [("", "", 2, WD, 15, WD)], calendar=plain_calendar())
    received = last_friday_afternoon()
    complaint = new_complaint(actor=handler_a, complainant=holder, branch=branch_a, received_at=received)

    assert complaint.sla_rule.table == table
    tuesday = received.date() + timedelta(days=4)
    three_weeks_on = received.date() + timedelta(days=21)
    assert complaint.acknowledge_due_at == datetime.combine(tuesday, time(17), PP)
    assert complaint.resolve_due_at == datetime.combine(three_weeks_on, time(17), PP)
    assert complaint.acknowledge_warn_at == received + (complaint.acknowledge_due_at - received) * 0.75
    assert complaint.resolve_warn_at == received + (complaint.resolve_due_at - received) * 0.75
    assert complaint.block_due_at is None and complaint.block_warn_at is None


def test_the_active_tables_holidays_move_the_deadline(handler_a, holder, branch_a):
    calendar = plain_calendar()
    activate_table("plain", [("", "", 2, WD, 15, WD)], calendar=calendar)
    received = last_friday_afternoon()
    monday = received.date() + timedelta(days=3)
    Holiday.objects.create(calendar=calendar, date=monday, name="A day off")
    complaint = new_complaint(actor=handler_a, complainant=holder, branch=branch_a, received_at=received)
    assert complaint.acknowledge_due_at == datetime.combine(monday + timedelta(days=2), time(17), PP)


def test_the_warning_share_is_the_tables(handler_a, holder, branch_a):
    activate_table("early", [("", "", 10, H, 20, H)], warn_percent=50)
    complaint = new_complaint(actor=handler_a, complainant=holder, branch=branch_a)
    received = complaint.received_at
    assert (complaint.acknowledge_due_at, complaint.acknowledge_warn_at) == (
        received + timedelta(hours=10),
        received + timedelta(hours=5),
    )
    assert (complaint.resolve_due_at, complaint.resolve_warn_at) == (
        received + timedelta(hours=20),
        received + timedelta(hours=10),
    )


def test_a_complaint_under_the_acma_preset_runs_on_sydneys_calendar(handler_a, holder, branch_a):
    SlaTable.objects.update(is_active=False)
    SlaTable.objects.filter(code="acma").update(is_active=True)
    received = timezone.now() - timedelta(days=1)
    complaint = new_complaint(
        actor=handler_a, complainant=holder, branch=branch_a, severity=Severity.CRITICAL, received_at=received
    )
    assert (complaint.sla_rule.table.code, complaint.sla_rule.severity) == ("acma", "critical")
    calendar = complaint.sla_rule.table.calendar.as_calendar(around=received)
    assert complaint.resolve_due_at == sla.add_working_days(calendar, received, 2)
    assert complaint.resolve_due_at.astimezone(ZoneInfo("Australia/Sydney")).time() == time(17)


def test_an_unauthorised_transfer_acknowledges_round_the_clock_and_blocks_within_24_hours(handler_a, holder, active):
    complaint = new_complaint(
        actor=handler_a, complainant=holder, numbers=[active], category=ComplaintCategory.UNAUTHORISED_TRANSFER
    )
    received = complaint.received_at
    assert complaint.acknowledge_due_at == received + timedelta(hours=4)
    assert complaint.block_due_at == received + timedelta(hours=24)
    assert complaint.block_warn_at == received + timedelta(hours=18)


def test_editing_the_table_later_does_not_move_existing_deadlines(handler_a, holder, branch_a):
    before = new_complaint(actor=handler_a, complainant=holder, branch=branch_a, category=ComplaintCategory.OTHER)
    clocks = Complaint.objects.filter(pk=before.pk).values(
        "sla_rule", "acknowledge_due_at", "acknowledge_warn_at", "resolve_due_at", "resolve_warn_at"
    )[0]

    default = SlaRule.objects.get(table__code="operator", category="", severity="")
    default.acknowledge_within, default.acknowledge_unit = 1, H
    default.resolve_within, default.resolve_unit = 3, H
    default.save()
    table = default.table
    table.warn_percent = 10
    table.save()

    after = new_complaint(actor=handler_a, complainant=holder, branch=branch_a, category=ComplaintCategory.OTHER)
    assert Complaint.objects.filter(pk=before.pk).values(*clocks)[0] == clocks
    assert after.acknowledge_due_at == after.received_at + timedelta(hours=1)
    assert after.resolve_warn_at == after.received_at + timedelta(minutes=18)


def test_switching_tables_later_does_not_move_existing_deadlines(handler_a, holder, branch_a):
    before = new_complaint(actor=handler_a, complainant=holder, branch=branch_a)
    due = (before.acknowledge_due_at, before.resolve_due_at)
    activate_table("hours", [("", "", 1, H, 2, H)])
    after = new_complaint(actor=handler_a, complainant=holder, branch=branch_a)
    before.refresh_from_db()
    assert (before.acknowledge_due_at, before.resolve_due_at) == due
    assert before.sla_rule.table.code == "operator" and after.sla_rule.table.code == "hours"


def test_a_calendar_configured_without_working_days_is_a_clear_error_at_intake(handler_a, holder, branch_a):
    """Saved past its form checks (the admin runs them): intake says what is wrong
    and takes nothing in."""
    calendar = plain_calendar()
    WorkingCalendar.objects.filter(pk=calendar.pk).update(weekdays="")
    activate_table("broken", [("", "", 2, WD, 15, WD)], calendar=calendar)
    error = refused(ValidationError, lambda: new_complaint(actor=handler_a, complainant=holder, branch=branch_a))
    assert error.code == "sla_misconfigured"
    assert error.messages == [
        "The SLA table Test table broken cannot set a deadline (The working calendar has no working days); "
        "an administrator must fix its calendar."
    ]
    assert not Complaint.objects.exists()
    # Round-the-clock rules need no working day.
    activate_table("hours-only", [("", "", 2, H, 10, H)], calendar=calendar)
    assert new_complaint(actor=handler_a, complainant=holder, branch=branch_a).sla_rule.table.code == "hours-only"
