"""One Celery task per job (``jobs.<name>``), the names beat's schedules point at."""

from celery import shared_task

from .registry import JOBS, run_job


def _make_task(name: str):
    @shared_task(name=JOBS[name].task_name)
    def task() -> list[str]:
        return run_job(name)

    task.__doc__ = JOBS[name].summary
    return task


lifecycle = _make_task("lifecycle")
sla = _make_task("sla")
expiry = _make_task("expiry")
notifications = _make_task("notifications")
checkpoint = _make_task("checkpoint")
