"""The default schedules, seeded into django-celery-beat by migration jobs/0001;
staff change them afterwards in the admin (Periodic tasks)."""

# name -> (crontab fields, description). Crontabs run on the operator's TIME_ZONE.
DEFAULT_SCHEDULES: dict[str, tuple[dict[str, str], str]] = {
    "lifecycle": ({"minute": "0", "hour": "2"}, "Daily at 02:00: inactivity warnings, withdrawals, quarantine."),
    "sla": ({"minute": "*/5", "hour": "*"}, "Every 5 minutes: SLA breaches and supervisor notices."),
    "expiry": ({"minute": "*/15", "hour": "*"}, "Every 15 minutes: transfer requests, consents, offers."),
    "notifications": ({"minute": "*/5", "hour": "*"}, "Every 5 minutes: retry failed SMS and staff notices."),
    "checkpoint": ({"minute": "7", "hour": "*"}, "Hourly: sign the audit chains' heads outside the database."),
}


def seed_schedules(apps=None) -> int:
    """Create each job's periodic task unless it exists; returns how many were created.

    An existing task is left as staff edited it (or disabled it).
    """
    import json

    from django.conf import settings

    if apps is None:
        from django.apps import apps as registry

        apps = registry
    crontab_model = apps.get_model("django_celery_beat", "CrontabSchedule")
    task_model = apps.get_model("django_celery_beat", "PeriodicTask")
    created = 0
    for name, (fields, description) in DEFAULT_SCHEDULES.items():
        if task_model.objects.filter(task=f"jobs.{name}").exists():
            continue
        crontab, _ = crontab_model.objects.get_or_create(
            day_of_week="*", day_of_month="*", month_of_year="*", timezone=settings.TIME_ZONE, **fields
        )
        task_model.objects.create(
            name=f"jobs.{name}",
            task=f"jobs.{name}",
            crontab=crontab,
            args=json.dumps([]),
            kwargs=json.dumps({}),
            description=description,
        )
        created += 1
    return created
