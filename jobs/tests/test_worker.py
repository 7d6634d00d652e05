"""The lifecycle job on a real Celery worker over Redis, and two runs of it at once
on PostgreSQL: each number is warned and withdrawn exactly once."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit.context import job_scope
from jobs.tasks import lifecycle
from numbers.choices import NumberStatus
from numbers.models import Holding, InactivityWarning, MobileNumber
from numbers.services.lifecycle import lifecycle_run
from sms.models import SmsMessage
from tests.celery_worker import run_on
from tests.factories import number_in_state
from tests.helpers import back_date, race

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def inactive_numbers(*, days: list[int], actor, branch, holder) -> list[MobileNumber]:
    """Held numbers whose last top-up was ``days`` ago (one number per entry)."""
    numbers = []
    for ago in days:
        number = number_in_state(NumberStatus.ACTIVE, actor=actor, branch=branch, subscriber=holder)
        back_date(MobileNumber, number.pk, last_topup_at=timezone.now() - timedelta(days=ago, hours=1))
        numbers.append(number)
    return numbers


@pytest.mark.redis
def test_the_lifecycle_job_runs_on_a_real_worker_and_its_effects_are_in_the_database(
    worker,
    agent_a,
    branch_a,
    holder,
):
    warned, withdrawn = inactive_numbers(days=[60, 95], actor=agent_a, branch=branch_a, holder=holder)
    with time_machine.travel(timezone.now() - timedelta(days=10), tick=False), job_scope("jobs.lifecycle"):
        lifecycle_run()  # ten days ago: the final warning of the number now at day 95
    task_id, lines = run_on(worker, lifecycle)
    assert "  day-60 warnings sent: 1" in lines
    assert "  withdrawn (no top-up or payment): 1" in lines
    assert list(InactivityWarning.objects.order_by("pk").values_list("number_id", "warning_day")) == [
        (withdrawn.pk, 85),
        (warned.pk, 60),
    ]
    withdrawn.refresh_from_db()
    assert (withdrawn.status, withdrawn.holder_id) == (NumberStatus.AGING, None)
    record = MobileNumber.history.filter(id=withdrawn.pk, status=NumberStatus.WITHDRAWN).get()
    assert (record.history_user_id, record.actor_label) == (None, "job:jobs.lifecycle")
    assert record.history_request_id == task_id.replace("-", "")
    assert SmsMessage.objects.filter(to_msisdn=warned.msisdn, purpose="inactivity_warning").count() == 1


def test_two_runs_at_once_warn_and_withdraw_each_number_exactly_once(agent_a, branch_a, holder):
    numbers = inactive_numbers(days=[60, 61, 75, 85, 90, 91, 120], actor=agent_a, branch=branch_a, holder=holder)
    reports = race(lambda: lifecycle_run(batch_size=2), lambda: lifecycle_run(batch_size=3))
    assert all(not isinstance(report, Exception) for report in reports), reports
    # 60, 61, 75 and 85 on their schedule; 90, 91 and 120 never warned: warned now, held back.
    assert sum(sum(report.warned.values()) for report in reports) == 7
    assert [sum(report.held_back.values()) for report in reports] == [3, 3]  # each run reports what it held
    assert sum(report.withdrawn for report in reports) == 0
    assert InactivityWarning.objects.count() == 7
    assert SmsMessage.objects.filter(purpose="inactivity_warning").count() == 7

    with time_machine.travel(timezone.now() + timedelta(days=5), tick=False):  # the day those warnings gave
        reports = race(lambda: lifecycle_run(batch_size=2), lambda: lifecycle_run(batch_size=3))
    assert all(not isinstance(report, Exception) for report in reports), reports
    assert sum(report.withdrawn for report in reports) == 4  # the three held back and the day-85 one
    assert sum(sum(report.warned.values()) for report in reports) == 0
    withdrawn = Holding.objects.filter(number__in=numbers, end_reason="withdrawal")
    assert withdrawn.count() == 4
    assert MobileNumber.history.filter(id__in=[n.pk for n in numbers], status=NumberStatus.WITHDRAWN).count() == 4
