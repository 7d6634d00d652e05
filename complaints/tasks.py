"""Celery tasks of the complaints app: thin wrappers around the services.
Scheduling them with django-celery-beat belongs to the jobs issue."""

from celery import shared_task

from . import services


@shared_task(name="complaints.record_sla_breaches")
def record_sla_breaches() -> int:
    """Record the SLA clocks that ran out on open complaints; returns how many complaints."""
    return services.complaint_record_breaches()


@shared_task(name="complaints.expire_offers")
def expire_offers() -> int:
    """Offers past their validity with no answer expire; returns how many."""
    return services.offer_expire_due()
