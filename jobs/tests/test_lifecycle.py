"""The 90-day inactivity lifecycle, day by day, with the clock moved (time-machine).

Every boundary is tested on both sides: the day before nothing happens, on the day
it does, and running again that day does nothing more.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.utils import timezone

from audit.context import job_scope
from complaints.choices import ComplaintCategory
from complaints.tests.casework import make_handler, new_complaint
from numbers import services
from numbers.checks import lifecycle_policy_check
from numbers.choices import HoldingEndReason, NumberStatus, TransferState, WithdrawalGround
from numbers.lifecycle import local_day, policy
from numbers.models import Holding, InactivityWarning, MobileNumber, TransferLock
from numbers.services.lifecycle import (
    HELD_NOTICE,
    HELD_UNWARNED,
    SKIP_BLOCKED,
    SKIP_COMPLAINT,
    SKIP_LOCK,
    SKIP_TRANSFER,
    lifecycle_run,
)
from sms.choices import SmsPurpose
from sms.models import SmsMessage

pytestmark = pytest.mark.django_db

TZ = ZoneInfo(settings.TIME_ZONE)


def at(day: date, hour: int = 2) -> datetime:
    return datetime.combine(day, time(hour), TZ)


def lifecycle_on(day: date, **kwargs):
    """Run the job as beat would on ``day`` at 02:00: as itself, for that day."""
    with time_machine.travel(at(day), tick=False), job_scope("jobs.lifecycle"):
        return lifecycle_run(**kwargs)


def day0(number: MobileNumber) -> date:
    number.refresh_from_db()
    return local_day(number.last_topup_at)


def warnings_of(number: MobileNumber) -> list[int]:
    return list(InactivityWarning.objects.filter(number=number).order_by("pk").values_list("warning_day", flat=True))


def warning_sms(number: MobileNumber) -> list[SmsMessage]:
    return list(SmsMessage.objects.filter(to_msisdn=number.msisdn, purpose=SmsPurpose.INACTIVITY_WARNING))


# --- Warnings ---------------------------------------------------------------------


@pytest.mark.parametrize("warning_day", [60, 75, 85])
def test_each_warning_goes_out_on_its_day_and_not_the_day_before(active, warning_day):
    start = day0(active)
    for day in (60, 75, 85):
        if day < warning_day:
            lifecycle_on(start + timedelta(days=day))
    before = warnings_of(active)
    lifecycle_on(start + timedelta(days=warning_day - 1))
    assert warnings_of(active) == before
    report = lifecycle_on(start + timedelta(days=warning_day))
    assert warnings_of(active) == [*before, warning_day]
    assert report.warned == {warning_day: 1}


def test_a_warning_is_an_sms_to_the_number_saying_when_it_will_be_withdrawn(active):
    start = day0(active)
    lifecycle_on(start + timedelta(days=60))
    (message,) = warning_sms(active)
    withdrawal_on = start + timedelta(days=90)
    assert f"before {withdrawal_on:%d %b %Y}" in message.body
    assert f"since {start:%d %b %Y}" in message.body
    warning = InactivityWarning.objects.get(number=active)
    assert (warning.subscriber_id, warning.withdrawal_on, warning.period_start) == (
        active.holder_id,
        withdrawal_on,
        active.last_topup_at,
    )


def test_each_warning_goes_out_once_however_often_the_job_runs(active):
    start = day0(active)
    for day in (60, 60, 61, 75, 75, 80, 85, 86, 89):
        lifecycle_on(start + timedelta(days=day))
    assert warnings_of(active) == [60, 75, 85]
    assert len(warning_sms(active)) == 3


def test_a_job_that_missed_days_sends_only_the_latest_warning_due(active):
    start = day0(active)
    lifecycle_on(start + timedelta(days=80))
    assert warnings_of(active) == [75]
    lifecycle_on(start + timedelta(days=81))
    assert warnings_of(active) == [75]


def test_the_job_is_recorded_as_the_actor_with_its_reason(active):
    lifecycle_on(day0(active) + timedelta(days=60))
    record = InactivityWarning.history.get()
    assert (record.history_user_id, record.actor_label) == (None, "job:jobs.lifecycle")
    assert record.history_change_reason == "Inactivity warning sent."
    sms = SmsMessage.history.filter(purpose=SmsPurpose.INACTIVITY_WARNING).first()
    assert sms.actor_label == "job:jobs.lifecycle"
    assert sms.history_request_id == record.history_request_id


# --- Withdrawal, quarantine, recycling ------------------------------------------------


def warned_on_schedule(number: MobileNumber) -> date:
    """The job ran on each warning day of the number's period, as beat runs it; day 0."""
    start = day0(number)
    for day in (60, 75, 85):
        lifecycle_on(start + timedelta(days=day))
    return start


def test_day_89_keeps_the_number_and_day_90_withdraws_it_into_quarantine(active, holder):
    start = warned_on_schedule(active)
    lifecycle_on(start + timedelta(days=89))
    active.refresh_from_db()
    assert (active.status, active.holder_id) == (NumberStatus.ACTIVE, holder.pk)

    report = lifecycle_on(start + timedelta(days=90))
    active.refresh_from_db()
    assert (active.status, active.holder_id) == (NumberStatus.AGING, None)
    assert (report.withdrawn, report.quarantined) == (1, 1)
    holding = Holding.objects.get(number=active, subscriber=holder)
    assert holding.end_reason == HoldingEndReason.WITHDRAWAL
    assert f"no top-up or payment for 90 days (last on {start:%d %b %Y}" in holding.end_note
    statuses = list(
        MobileNumber.history.filter(id=active.pk).order_by("history_id").values_list("status", "actor_label")
    )
    assert statuses[-2:] == [(NumberStatus.WITHDRAWN, "job:jobs.lifecycle"), (NumberStatus.AGING, "job:jobs.lifecycle")]

    again = lifecycle_on(start + timedelta(days=90))
    assert (again.withdrawn, again.quarantined) == (0, 0)
    assert Holding.objects.filter(number=active).count() == 1


def sold_long_ago(*, actor, branch, holder) -> MobileNumber:
    """A number sold (and last topped up) 400 days ago by the real clock. The database's
    quarantine trigger counts on the database's clock, which time-machine does not move:
    a test that recycles a number must do it in the past, not in a travelled future."""
    from tests.factories import MobileNumberFactory

    return services.number_transition(
        number=MobileNumberFactory(branch=branch),
        to_status=NumberStatus.ACTIVE,
        subscriber=holder,
        actor=actor,
        reason="Sold long ago",
        at=timezone.now() - timedelta(days=400),
    )


def test_quarantine_ends_on_its_last_day_and_not_before(agent_a, branch_a, holder):
    active = sold_long_ago(actor=agent_a, branch=branch_a, holder=holder)
    start = warned_on_schedule(active)
    withdrawn_on = start + timedelta(days=90)
    lifecycle_on(withdrawn_on)
    lifecycle_on(withdrawn_on + timedelta(days=89))
    active.refresh_from_db()
    assert active.status == NumberStatus.AGING
    report = lifecycle_on(withdrawn_on + timedelta(days=90))
    active.refresh_from_db()
    assert active.status == NumberStatus.AVAILABLE
    assert report.recycled == 1
    assert lifecycle_on(withdrawn_on + timedelta(days=91)).recycled == 0


def test_a_number_withdrawn_by_request_is_in_quarantine_at_once_and_not_recycled_early(
    active, supervisor_a, supervisor_a2, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path)
    asked = services.withdrawal_request(
        number=active,
        ground=WithdrawalGround.LEGAL_ORDER,
        document=SimpleUploadedFile("order.pdf", b"%PDF-1.4 order"),
        actor=supervisor_a,
        reason="Court order",
    )
    services.withdrawal_approve(request=asked, actor=supervisor_a2, reason="Order checked")
    active.refresh_from_db()
    assert active.status == NumberStatus.AGING
    today = local_day(active.status_changed_at)
    assert lifecycle_on(today).recycled == 0
    active.refresh_from_db()
    assert active.status == NumberStatus.AGING


# --- A top-up starts a new period -------------------------------------------------------


def test_a_top_up_resets_the_period_and_its_warnings(active, agent_a):
    start = day0(active)
    lifecycle_on(start + timedelta(days=60))
    topped_up = start + timedelta(days=70)
    with time_machine.travel(at(topped_up, 11), tick=False):
        services.number_record_topup(number=active, actor=agent_a, reason="Top-up of $5 at the counter")

    lifecycle_on(start + timedelta(days=90))
    active.refresh_from_db()
    assert active.status == NumberStatus.ACTIVE  # day 20 of the new period
    lifecycle_on(topped_up + timedelta(days=59))
    assert warnings_of(active) == [60]
    lifecycle_on(topped_up + timedelta(days=60))
    assert warnings_of(active) == [60, 60]  # once per period
    periods = set(InactivityWarning.objects.filter(number=active).values_list("period_start", flat=True))
    assert len(periods) == 2
    lifecycle_on(topped_up + timedelta(days=85))
    lifecycle_on(topped_up + timedelta(days=89))
    active.refresh_from_db()
    assert active.status == NumberStatus.ACTIVE
    lifecycle_on(topped_up + timedelta(days=90))
    active.refresh_from_db()
    assert active.status == NumberStatus.AGING


# --- A job that missed days never withdraws unwarned ----------------------------------------


def test_a_number_never_warned_is_warned_first_and_withdrawn_on_the_day_its_warning_gives(active, holder):
    first = day0(active) + timedelta(days=95)  # the job's first run in the period: an outage, a new deployment
    report = lifecycle_on(first)
    active.refresh_from_db()
    assert (active.status, active.holder_id) == (NumberStatus.ACTIVE, holder.pk)
    assert (report.withdrawn, report.held_back) == (0, {HELD_UNWARNED: 1})
    assert "  held back from withdrawal (never had the final warning: warned now): 1" in report.lines()
    warning = InactivityWarning.objects.get(number=active)
    assert (warning.warning_day, warning.withdrawal_on) == (85, first + timedelta(days=5))
    (message,) = warning_sms(active)
    assert f"before {first + timedelta(days=5):%d %b %Y}" in message.body

    report = lifecycle_on(first + timedelta(days=4))
    active.refresh_from_db()
    assert active.status == NumberStatus.ACTIVE
    assert (report.withdrawn, report.held_back) == (0, {HELD_NOTICE: 1})
    assert len(warning_sms(active)) == 1  # warned once, not on each day it waits

    report = lifecycle_on(first + timedelta(days=5))
    active.refresh_from_db()
    assert (active.status, active.holder_id) == (NumberStatus.AGING, None)
    assert (report.withdrawn, report.held_back) == (1, {})
    holding = Holding.objects.get(number=active, subscriber=holder)
    assert f"the final warning gave {first + timedelta(days=5):%d %b %Y}" in holding.end_note


def test_a_final_warning_sent_late_moves_the_withdrawal_to_the_day_it_gives(active):
    start = day0(active)
    lifecycle_on(start + timedelta(days=60))
    lifecycle_on(start + timedelta(days=88))  # the job did not run on days 85 to 87
    assert InactivityWarning.objects.get(number=active, warning_day=85).withdrawal_on == start + timedelta(days=93)
    assert lifecycle_on(start + timedelta(days=92)).held_back == {HELD_NOTICE: 1}
    active.refresh_from_db()
    assert active.status == NumberStatus.ACTIVE
    assert lifecycle_on(start + timedelta(days=93)).withdrawn == 1


@pytest.mark.parametrize("notice", [1, 10])
def test_the_final_notice_is_configurable(active, settings, notice):
    settings.NUMBER_LIFECYCLE = {**settings.NUMBER_LIFECYCLE, "FINAL_NOTICE_DAYS": notice}
    first = day0(active) + timedelta(days=95)
    lifecycle_on(first)
    assert lifecycle_on(first + timedelta(days=notice - 1)).withdrawn == 0
    assert lifecycle_on(first + timedelta(days=notice)).withdrawn == 1


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"WARNING_DAYS": ()}, "no number is withdrawn unwarned"),
        ({"FINAL_NOTICE_DAYS": 0}, "FINAL_NOTICE_DAYS must be at least 1"),
    ],
)
def test_a_policy_that_would_withdraw_unwarned_is_refused(active, settings, changes, problem):
    settings.NUMBER_LIFECYCLE = {**settings.NUMBER_LIFECYCLE, **changes}
    errors = lifecycle_policy_check(None)
    assert [e.id for e in errors] == ["numbers.E001"]
    assert problem in errors[0].msg
    with pytest.raises(ImproperlyConfigured):
        lifecycle_on(day0(active) + timedelta(days=95))
    active.refresh_from_db()
    assert active.status == NumberStatus.ACTIVE


# --- Never automatically: blocked, under complaint, in a transfer ----------------------


def _under_complaint(number, *, admin, holder, branch, block: bool = False):
    handler = make_handler("lifecycle_handler", branch=branch, admin=admin)
    complaint = new_complaint(
        actor=handler,
        complainant=holder,
        numbers=[number],
        branch=branch,
        category=ComplaintCategory.UNAUTHORISED_TRANSFER if block else ComplaintCategory.BILLING,
    )
    if block:
        from complaints import services as cs

        cs.complaint_block_number(complaint=complaint, number=number, actor=handler, reason="Holder says stolen")
    return complaint


@pytest.mark.parametrize("situation", ["blocked", "complaint", "transfer", "lock"])
def test_a_protected_number_is_never_warned_or_withdrawn_and_is_reported_with_why(
    situation, active, holder, admin_user, branch_a, agent_a, newcomer
):
    if situation == "transfer":
        services.transfer_create(number=active, new_subscriber=newcomer, actor=agent_a, reason="sold to a friend")
        why = SKIP_TRANSFER
    elif situation == "lock":
        # The lock survives the lifecycle: only its own consented lift ends it.
        services.transfer_lock_place(number=active, actor=agent_a, reason="Holder asked after a suspicious call")
        why = SKIP_LOCK
    else:
        _under_complaint(active, admin=admin_user, holder=holder, branch=branch_a, block=situation == "blocked")
        why = SKIP_BLOCKED if situation == "blocked" else SKIP_COMPLAINT
    start = day0(active)
    status = MobileNumber.objects.get(pk=active.pk).status

    warned = lifecycle_on(start + timedelta(days=60))
    assert warnings_of(active) == []
    assert [(s.msisdn, s.step, s.why) for s in warned.skipped] == [(active.msisdn, "warned (day 60)", why)]

    report = lifecycle_on(start + timedelta(days=120))
    active.refresh_from_db()
    assert (active.status, active.holder_id) == (status, holder.pk)
    assert [(s.msisdn, s.step, s.why) for s in report.skipped] == [(active.msisdn, "withdrawn", why)]
    assert f"{active.msisdn}: not withdrawn, {why}" in [line.strip() for line in report.lines()]
    if situation == "lock":
        assert TransferLock.objects.get(number=active).lifted_at is None


def test_once_the_protection_ends_the_number_follows_the_policy_again(active, agent_a, newcomer):
    request = services.transfer_create(number=active, new_subscriber=newcomer, actor=agent_a, reason="sold")
    start = day0(active)
    assert lifecycle_on(start + timedelta(days=95)).withdrawn == 0
    services.transfer_cancel(request=request, actor=agent_a, reason="Customer changed their mind")
    # Never warned while protected: warned now, withdrawn on the day that warning gives.
    assert lifecycle_on(start + timedelta(days=95)).withdrawn == 0
    assert warnings_of(active) == [85]
    assert lifecycle_on(start + timedelta(days=100)).withdrawn == 1


def test_an_aging_number_under_complaint_is_not_recycled(active, holder, admin_user, branch_a, agent_a):
    start = warned_on_schedule(active)
    lifecycle_on(start + timedelta(days=90))
    complaint = _under_complaint(active, admin=admin_user, holder=holder, branch=branch_a)
    assert complaint.state
    report = lifecycle_on(start + timedelta(days=180))
    active.refresh_from_db()
    assert active.status == NumberStatus.AGING
    assert [(s.step, s.why) for s in report.skipped] == [("recycled", SKIP_COMPLAINT)]


def test_the_job_skips_transfers_it_cannot_see_through_and_closes_nothing(open_request):
    lifecycle_on(day0(open_request.number) + timedelta(days=100))
    open_request.refresh_from_db()
    assert open_request.state == TransferState.AWAITING_CONSENT


# --- Batching -------------------------------------------------------------------------------


def test_numbers_are_handled_in_batches_with_progress(agent_a, branch_a, holder):
    from tests.factories import number_in_state

    numbers = [
        number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder) for _ in range(5)
    ]
    seen = []
    report = lifecycle_on(
        day0(numbers[0]) + timedelta(days=60), batch_size=2, progress=lambda s, n: seen.append((s, n))
    )
    assert report.warned == {60: 5}
    assert [n for s, n in seen if s == "warnings and withdrawals"] == [2, 4, 5]


# --- The policy is configurable, within the rules ----------------------------------------


def test_the_days_are_configurable(active, settings):
    settings.NUMBER_LIFECYCLE = {**settings.NUMBER_LIFECYCLE, "WARNING_DAYS": (20,), "HOLD_DAYS": 30}
    start = day0(active)
    lifecycle_on(start + timedelta(days=20))
    assert warnings_of(active) == [20]
    lifecycle_on(start + timedelta(days=30))
    active.refresh_from_db()
    assert active.status == NumberStatus.AGING


@pytest.mark.parametrize(("quarantine", "ok"), [(45, True), (44, False)])
def test_quarantine_is_never_shorter_than_the_minimum(settings, quarantine, ok):
    settings.NUMBER_LIFECYCLE = {**settings.NUMBER_LIFECYCLE, "QUARANTINE_DAYS": quarantine}
    errors = lifecycle_policy_check(None)
    if ok:
        assert errors == []
        assert policy().quarantine_days == 45
    else:
        assert [e.id for e in errors] == ["numbers.E001"]
        assert "shorter than the minimum aging period" in errors[0].msg
        with pytest.raises(ImproperlyConfigured):
            policy()


@pytest.mark.parametrize(("days", "ok"), [((60, 75, 85), True), ((60, 90), False), ((0,), False)])
def test_warning_days_must_fall_inside_the_period(settings, days, ok):
    settings.NUMBER_LIFECYCLE = {**settings.NUMBER_LIFECYCLE, "WARNING_DAYS": days}
    assert (lifecycle_policy_check(None) == []) is ok


def test_a_refused_policy_changes_nothing(active, settings):
    settings.NUMBER_LIFECYCLE = {**settings.NUMBER_LIFECYCLE, "QUARANTINE_DAYS": 10}
    with pytest.raises(ImproperlyConfigured):
        lifecycle_on(day0(active) + timedelta(days=95))
    active.refresh_from_db()
    assert active.status == NumberStatus.ACTIVE


# --- runjob ----------------------------------------------------------------------------------


def test_runjob_runs_the_lifecycle_for_a_chosen_day_and_prints_what_it_did(active, capsys):
    day = day0(active) + timedelta(days=60)
    call_command("runjob", "lifecycle", "--today", day.isoformat())
    out, err = capsys.readouterr()
    assert f"Inactivity lifecycle for {day:%Y-%m-%d}:" in out
    assert "day-60 warnings sent: 1" in out
    assert "warnings and withdrawals: 1 checked" in err
    assert InactivityWarning.history.get().actor_label == "job:jobs.lifecycle"
    call_command("runjob", "lifecycle", "--today", day.isoformat())
    assert "warnings sent: 0" in capsys.readouterr().out
    assert warnings_of(active) == [60]


def test_run_by_hand_for_a_day_ahead_a_new_quarantine_does_not_end_at_once(active, capsys):
    """runjob --today stamps what it does with the real time: the quarantine it begins
    starts now, so a day far ahead must not recycle the number in the same run."""
    far = day0(active) + timedelta(days=400)
    call_command("runjob", "lifecycle", "--today", far.isoformat())  # warns: never warned before
    call_command("runjob", "lifecycle", "--today", (far + timedelta(days=5)).isoformat())
    active.refresh_from_db()
    assert active.status == NumberStatus.AGING
    assert "back to available after quarantine: 0" in capsys.readouterr().out
