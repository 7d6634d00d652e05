"""The complaints app's Celery tasks run the same services as the screens."""

from datetime import timedelta

import pytest
from django.utils import timezone

from complaints import services
from complaints.choices import ComplaintCategory, OfferState
from complaints.models import CompensationOffer, Complaint
from complaints.tasks import expire_offers, record_sla_breaches
from numbers.models import service_write_scope

pytestmark = pytest.mark.django_db


def _complaint(handler_a, holder, active, **kwargs):
    return services.complaint_create(
        complainant=holder,
        category=ComplaintCategory.BILLING,
        severity="medium",
        channel="phone",
        description="charged twice",
        numbers=[active],
        actor=handler_a,
        **kwargs,
    )


def test_the_breach_task_records_each_breach_once(handler_a, holder, active):
    late = _complaint(handler_a, holder, active, received_at=timezone.now() - timedelta(days=30))
    fresh = _complaint(handler_a, holder, active)
    with service_write_scope():  # test setup: forget what intake recorded, as if the clocks ran out since
        Complaint.objects.filter(pk=late.pk).update(acknowledge_breached_at=None, resolve_breached_at=None)

    assert record_sla_breaches.apply().get() == 1

    late.refresh_from_db()
    assert late.acknowledge_breached_at == late.acknowledge_due_at
    assert late.resolve_breached_at == late.resolve_due_at
    assert late.history.first().history_user is None  # the job, not a person
    assert late.events.filter(kind="sla_breached").count() == 1
    assert Complaint.objects.get(pk=fresh.pk).breaches_on_record == []
    assert record_sla_breaches.apply().get() == 0
    assert late.events.filter(kind="sla_breached").count() == 1


def test_the_expiry_task_expires_only_offers_past_their_validity(handler_a, holder, active):
    complaint = _complaint(handler_a, holder, active)
    offer = services.offer_propose(
        complaint=complaint, kind="airtime_credit", amount="5", currency="USD", actor=handler_a, reason="sorry"
    )
    assert expire_offers.apply().get() == 0
    with service_write_scope():  # test setup: the offer's time runs out
        CompensationOffer.objects.filter(pk=offer.pk).update(
            proposed_at=timezone.now() - timedelta(days=15), valid_until=timezone.now() - timedelta(minutes=1)
        )

    assert expire_offers.apply().get() == 1

    offer.refresh_from_db()
    assert offer.state == OfferState.EXPIRED and offer.closed_at and offer.close_reason.startswith("Expired")
    assert offer.closed_by is None
    assert expire_offers.apply().get() == 0
