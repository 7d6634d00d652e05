"""The lifecycle's warnings and the staff notices in the admin: read-only, scoped."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.context import job_scope
from numbers.choices import NumberStatus
from numbers.lifecycle import local_day
from numbers.services.lifecycle import lifecycle_run
from staff.services import notice_send
from tests.factories import number_in_state

pytestmark = pytest.mark.django_db

WARNINGS = "/admin/numbers/inactivitywarning/"
NOTICES = "/admin/staff/staffnotice/"


def warn(numbers):
    day = local_day(numbers[0].last_topup_at) + timedelta(days=60)
    moment = datetime.combine(day, time(3), ZoneInfo(settings.TIME_ZONE))
    with time_machine.travel(moment, tick=False), job_scope("jobs.lifecycle"):
        lifecycle_run()


@pytest.mark.parametrize(("persona", "sees_a", "sees_b"), [("agent_a", True, False), ("auditor", True, True)])
def test_warnings_are_listed_to_the_branches_staff_and_never_written(
    request, client, agent_a, agent_c, branch_a, branch_b, holder, persona, sees_a, sees_b
):
    a = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)
    b = number_in_state(NumberStatus.ACTIVE, actor=agent_c, branch=branch_b, subscriber=holder)
    warn([a, b])
    client.force_login(request.getfixturevalue(persona))
    page = client.get(WARNINGS).content.decode()
    assert (a.msisdn in page, b.msisdn in page) == (sees_a, sees_b)
    assert client.get(f"{WARNINGS}add/").status_code == 403
    warning_id = a.inactivity_warnings.get().pk
    assert client.post(f"{WARNINGS}{warning_id}/delete/").status_code == 403


def test_the_warning_list_costs_the_same_queries_for_more_rows(client, auditor, agent_a, branch_a, holder):
    client.force_login(auditor)
    warn([number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)])
    with CaptureQueriesContext(connection) as few:
        assert client.get(WARNINGS).status_code == 200
    warn([number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder) for _ in range(4)])
    with CaptureQueriesContext(connection) as many:
        assert client.get(WARNINGS).status_code == 200
    assert len(many) == len(few)


@pytest.mark.parametrize(("persona", "sees"), [("auditor", True), ("admin_user", True), ("agent_a", False)])
def test_staff_notices_are_read_by_auditors_and_administrators_only(request, client, supervisor_a, persona, sees):
    notice_send(recipients=[supervisor_a], subject="SLA breached: C-2026-000001", body="...", dedupe_key="t")
    client.force_login(request.getfixturevalue(persona))
    response = client.get(NOTICES)
    assert response.status_code == (200 if sees else 403)
    assert ("SLA breached: C-2026-000001" in response.content.decode()) is sees
