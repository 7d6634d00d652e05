"""Celery tasks of the numbers app: thin wrappers around the services."""

from celery import shared_task

from . import services


@shared_task(name="numbers.expire_transfer_requests")
def expire_transfer_requests() -> int:
    """Close transfer requests whose time ran out; returns how many. Scheduled by beat."""
    return services.transfer_expire_due()
