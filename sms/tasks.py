"""Delivery of stored SMS on a worker: a thin wrapper around sms.services."""

from celery import shared_task

from backoffice.delivery import finish_task

from . import services


@shared_task(bind=True, name="sms.deliver", acks_late=True, max_retries=None)
def deliver_sms(self, message_id: int) -> bool:
    """Deliver one message; on failure retry after the recorded backoff (the
    notifications job retries too, so eager runs and lost tasks catch up)."""
    return finish_task(self, services.sms_deliver(message_id=message_id))
