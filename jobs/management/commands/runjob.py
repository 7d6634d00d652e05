"""Run a background job by hand, for today or a chosen day, and print what it did."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from jobs.registry import JOBS, run_job


class Command(BaseCommand):
    help = "Run a background job now (for --today YYYY-MM-DD if given) and print its report. --list names the jobs."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="The job to run (see --list).")
        parser.add_argument("--today", help="Run as on this day of the operator's calendar (YYYY-MM-DD).")
        parser.add_argument("--list", action="store_true", help="List the jobs and exit.")

    def handle(self, *args, name=None, today=None, list=False, **options):
        if list:
            for job in JOBS.values():
                self.stdout.write(f"{job.name:<14} {job.summary}")
            return
        if not name:
            raise CommandError("Name a job to run, or use --list. Jobs: " + ", ".join(JOBS) + ".")
        if name not in JOBS:
            raise CommandError(f"There is no job named {name!r}. Jobs: " + ", ".join(JOBS) + ".")
        day = None
        if today:
            try:
                day = date.fromisoformat(today)
            except ValueError:
                raise CommandError(f"--today must be a date as YYYY-MM-DD, not {today!r}.") from None

        def progress(step: str, done: int) -> None:
            self.stderr.write(f"  {name}: {step}: {done} checked")

        for line in run_job(name, today=day, progress=progress):
            self.stdout.write(line)
