"""The numbers app's Celery tasks run the same services as the screens."""

from datetime import timedelta

import pytest
from django.utils import timezone

from numbers.choices import TransferState
from numbers.models import TransferRequest, service_write_scope
from numbers.tasks import expire_transfer_requests
from tests.factories import transfer_request


@pytest.mark.django_db
def test_the_expiry_task_closes_only_requests_past_their_expiry(agent_a, branch_a):
    due = transfer_request(actor=agent_a, branch=branch_a)
    fresh = transfer_request(actor=agent_a, branch=branch_a)
    with service_write_scope():  # test setup: let a week pass for one request
        due.created_at -= timedelta(days=8)
        due.expires_at = timezone.now() - timedelta(minutes=1)
        due.save(update_fields=["created_at", "expires_at"])

    assert expire_transfer_requests.apply().get() == 1

    due.refresh_from_db()
    fresh.refresh_from_db()
    assert due.state == TransferState.EXPIRED and due.closed_at is not None and due.close_reason
    assert due.history.first().history_user is None  # the job, not a person
    assert fresh.state == TransferState.AWAITING_CONSENT
    assert expire_transfer_requests.apply().get() == 0
    assert TransferRequest.objects.count() == 2  # expired, not deleted
