"""The portal's background jobs, by name: what beat schedules and ``runjob`` runs.

Each job is a thin wrapper around services and takes the day it runs for, so a
job can be run by hand for a chosen day (``runjob lifecycle --today 2026-12-01``)
exactly as the schedule would run it then. It returns the lines of its report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class Job:
    name: str
    summary: str
    run: Callable[[date, Progress], list[str]]

    @property
    def task_name(self) -> str:
        return f"jobs.{self.name}"


def moment(today: date) -> datetime:
    """The instant a job run for ``today`` treats as now: now itself for today,
    the last moment of that day for another day."""
    from numbers.lifecycle import start_of

    if today == timezone.localdate():
        return timezone.now()
    return start_of(today + timedelta(days=1)) - timedelta(microseconds=1)


def _lifecycle(today: date, progress: Progress) -> list[str]:
    from numbers.services.lifecycle import lifecycle_run

    return lifecycle_run(today=today, progress=progress).lines()


def _sla(today: date, progress: Progress) -> list[str]:
    from complaints.services import complaint_record_breaches

    now = moment(today)
    return [
        f"SLA escalation at {timezone.localtime(now):%Y-%m-%d %H:%M}:",
        f"  complaints with a new breach (supervisors notified): {complaint_record_breaches(now=now)}",
    ]


def _expiry(today: date, progress: Progress) -> list[str]:
    from complaints.services import offer_expire_due
    from numbers.services import transfer_expire_due

    now = moment(today)
    return [
        f"Expiry at {timezone.localtime(now):%Y-%m-%d %H:%M}:",
        f"  transfer requests expired (and requests with a lapsed consent sent back): {transfer_expire_due(now=now)}",
        f"  compensation offers expired: {offer_expire_due(now=now)}",
    ]


def _notifications(today: date, progress: Progress) -> list[str]:
    from sms.services import sms_deliver_due
    from staff.services import notice_deliver_due

    now = moment(today)
    return [
        f"Notifications due at {timezone.localtime(now):%Y-%m-%d %H:%M}:",
        f"  SMS delivered on retry: {sms_deliver_due(now=now)}",
        f"  staff notices delivered on retry: {notice_deliver_due(now=now)}",
    ]


def _checkpoint(today: date, progress: Progress) -> list[str]:
    from audit.checkpoints import checkpoint_sign, describe

    return describe(checkpoint_sign())


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("lifecycle", "The 90-day inactivity lifecycle: warnings, withdrawal, quarantine, recycling.", _lifecycle),
        Job("sla", "SLA escalation: record breached complaint deadlines, notify branch supervisors.", _sla),
        Job("expiry", "Expire transfer requests, lapsed consents and compensation offers.", _expiry),
        Job("notifications", "Retry SMS and staff notices that failed or were never dispatched.", _notifications),
        Job("checkpoint", "Sign every audit chain's head to the checkpoint store outside the database.", _checkpoint),
    )
}


def run_job(name: str, *, today: date | None = None, progress: Progress | None = None) -> list[str]:
    """Run one job as itself (history names the job as the actor)."""
    from audit.context import current_job, job_scope

    job = JOBS[name]
    today = today or timezone.localdate()
    progress = progress or (lambda step, done: None)
    if current_job():  # already inside the Celery task's own job scope
        return job.run(today, progress)
    with job_scope(job.task_name):
        return job.run(today, progress)
