"""runjob, the beat schedules, SLA escalation, expiry and the disconnection register."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from backoffice.celery import app
from complaints.tests.casework import new_complaint, round_the_clock_table
from jobs.registry import JOBS, run_job
from jobs.schedules import DEFAULT_SCHEDULES, seed_schedules
from numbers import selectors
from numbers.choices import NumberStatus, TransferState
from numbers.lifecycle import local_day
from staff.models import StaffNotice
from tests.helpers import back_date

pytestmark = pytest.mark.django_db


# --- runjob --------------------------------------------------------------------------


def test_runjob_list_names_every_job(capsys):
    call_command("runjob", "--list")
    out = capsys.readouterr().out
    names = [line.split()[0] for line in out.splitlines()]
    assert names == ["lifecycle", "sla", "expiry", "notifications", "checkpoint"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchjob"], "There is no job named 'nosuchjob'. Jobs: lifecycle, sla, expiry, notifications, checkpoint."),
        ([], "Name a job to run, or use --list."),
        (["lifecycle", "--today", "2026-13-01"], "--today must be a date as YYYY-MM-DD, not '2026-13-01'."),
    ],
)
def test_runjob_refuses_bad_input_with_a_clear_message(args, message, active):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        call_command("runjob", *args)
    active.refresh_from_db()
    assert active.status == NumberStatus.ACTIVE


# --- Beat schedules --------------------------------------------------------------------


def test_every_job_is_scheduled_in_beat_by_the_migration_and_registered_with_celery():
    tasks = {task.task: task for task in PeriodicTask.objects.filter(task__startswith="jobs.")}
    assert set(tasks) == {job.task_name for job in JOBS.values()}
    assert tasks["jobs.lifecycle"].crontab.hour == "2"
    assert all(task.enabled for task in tasks.values())
    app.loader.import_default_modules()  # what a worker does at start: autodiscovery
    assert {job.task_name for job in JOBS.values()} <= set(app.tasks)


def test_seeding_leaves_a_schedule_staff_edited_alone():
    task = PeriodicTask.objects.get(task="jobs.lifecycle")
    task.enabled = False
    task.save()
    assert seed_schedules() == 0
    assert PeriodicTask.objects.get(task="jobs.lifecycle").enabled is False
    PeriodicTask.objects.filter(task="jobs.sla").delete()
    assert seed_schedules() == 1
    assert set(DEFAULT_SCHEDULES) == set(JOBS)


# --- SLA escalation ---------------------------------------------------------------------


def test_a_breach_notifies_the_branch_supervisors_once(
    handler_a, holder, branch_a, supervisor_a, supervisor_a2, supervisor_b, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    round_the_clock_table(ack_hours=2, resolve_hours=10)
    complaint = new_complaint(actor=handler_a, complainant=holder, branch=branch_a)
    later = complaint.received_at + timedelta(hours=3)
    with time_machine.travel(later, tick=False):
        assert "  complaints with a new breach (supervisors notified): 1" in run_job("sla")
    notices = StaffNotice.objects.filter(subject__contains=complaint.reference)
    branch_a_supervisors = {supervisor_a.pk, supervisor_a2.pk}
    assert {n.recipient_id for n in notices} == branch_a_supervisors  # branch A's supervisors, not branch B's
    assert all("acknowledge deadline" in notice.subject for notice in notices)
    with time_machine.travel(later + timedelta(minutes=5), tick=False):
        assert "  complaints with a new breach (supervisors notified): 0" in run_job("sla")
    assert notices.count() == 2

    for notice in notices:
        from staff.services import notice_deliver

        assert notice_deliver(notice_id=notice.pk).sent
        assert notice_deliver(notice_id=notice.pk).skipped
    assert sorted(m.to for m in mail.outbox) == sorted([[supervisor_a.email], [supervisor_a2.email]])
    assert all(reverse("complaints:complaint_detail", args=[complaint.pk]) in m.body for m in mail.outbox)


# --- Expiry -------------------------------------------------------------------------------


def test_the_expiry_job_expires_a_transfer_request_past_its_time(open_request):
    now = timezone.now()
    back_date(
        type(open_request), open_request.pk, created_at=now - timedelta(days=8), expires_at=now - timedelta(minutes=1)
    )
    lines = run_job("expiry")
    assert "  transfer requests expired (and requests with a lapsed consent sent back): 1" in lines
    open_request.refresh_from_db()
    assert open_request.state == TransferState.EXPIRED
    assert type(open_request).history.filter(id=open_request.pk).first().actor_label == "job:jobs.expiry"


# --- The disconnection register -------------------------------------------------------------


def test_the_register_says_yes_no_or_no_data(active, supervisor_a):
    from demo.numbers_seed import withdraw_as_lifecycle

    bought = local_day(active.created_at)
    assert selectors.disconnection_check(msisdn=active.msisdn, since=bought).answer == "no"
    assert selectors.disconnection_check(msisdn=active.msisdn, since=bought - timedelta(days=1)).answer == "no_data"
    assert selectors.disconnection_check(msisdn="+85512999999", since=bought).answer == "no_data"
    withdraw_as_lifecycle(active, actor=supervisor_a, reason="Contract ended")
    answer = selectors.disconnection_check(msisdn=active.msisdn, since=bought)
    assert (answer.answer, answer.last_disconnected_on) == ("yes", timezone.localdate())
    tomorrow = timezone.localdate() + timedelta(days=1)
    assert selectors.disconnection_check(msisdn=active.msisdn, since=tomorrow).answer == "no"


def test_the_register_screen_answers_staff(client, agent_a, active):
    client.force_login(agent_a)
    url = reverse("numbers:disconnection_check")
    local = active.msisdn.replace("+855", "0")
    response = client.get(url, {"msisdn": local, "since": local_day(active.created_at).isoformat()})
    assert response.status_code == 200
    assert response.context["answer"].answer == "no"
    assert b"No: not disconnected since that date." in response.content


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"msisdn": "not a number", "since": "2026-01-01"}, "msisdn"),
        ({"msisdn": "012345678", "since": (date.today() + timedelta(days=5)).isoformat()}, "since"),
    ],
)
def test_the_register_screen_refuses_bad_input_clearly(client, agent_a, params, error):
    client.force_login(agent_a)
    response = client.get(reverse("numbers:disconnection_check"), params)
    assert response.status_code == 200
    assert response.context["answer"] is None
    assert error in response.context["form"].errors


def test_the_register_screen_needs_a_login(client):
    response = client.get(reverse("numbers:disconnection_check"))
    assert response.status_code == 302


# --- The benchmark ---------------------------------------------------------------------------


def test_the_lifecycle_benchmark_reports_both_runs_and_rolls_back(capsys):
    from numbers.models import MobileNumber

    before = MobileNumber.objects.count()
    call_command("benchmark_lifecycle", "--numbers", "50", "--inactive-share", "0.2", "--strict")
    out = capsys.readouterr().out
    first = next(line for line in out.splitlines() if line.startswith("first run of the day"))
    second = next(line for line in out.splitlines() if line.startswith("second run, same day"))
    assert first.split()[-3:-1] != ["0", "0"]  # it warned or withdrew something
    assert second.split()[-3:-1] == ["0", "0"]  # and a second run finds nothing left
    assert MobileNumber.objects.count() == before


def test_the_lifecycle_benchmark_refuses_nonsense():
    with pytest.raises(CommandError, match="at least 10 numbers"):
        call_command("benchmark_lifecycle", "--numbers", "5")


def test_who_changed_a_schedule_is_history_and_beats_own_bookkeeping_is_not(admin_user):
    from django_celery_beat.schedulers import ModelEntry

    from audit.context import acting, request_scope

    task = PeriodicTask.objects.get(task="jobs.lifecycle")
    ModelEntry(task, app=app).save()  # the first save of a seeded task records where it starts
    assert task.history.count() == 1
    for _ in range(3):
        ModelEntry(task, app=app).save()  # what beat does after each run: last_run_at, total_run_count
    assert task.history.count() == 1

    with request_scope(), acting(actor=admin_user, reason="Lifecycle paused during the billing migration"):
        task.enabled = False
        task.save()
    record = task.history.order_by("-history_id").first()
    assert (record.enabled, record.history_user_id, record.actor_label) == (
        False,
        admin_user.pk,
        admin_user.get_username(),
    )
    assert record.history_change_reason == "Lifecycle paused during the billing migration"
