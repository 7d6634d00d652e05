"""Delivery of staff notices on a worker: a thin wrapper around staff.services."""

from celery import shared_task

from backoffice.delivery import finish_task

from . import services


@shared_task(bind=True, name="staff.deliver_notice", acks_late=True, max_retries=None)
def deliver_notice(self, notice_id: int) -> bool:
    """Deliver one notice; on failure retry after the recorded backoff."""
    return finish_task(self, services.notice_deliver(notice_id=notice_id))
