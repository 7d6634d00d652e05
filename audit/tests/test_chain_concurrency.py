"""Many writers at once (PostgreSQL): each service holds the chain lock for its
transaction, so every table's chain keeps one order, nothing deadlocks, and
verify_audit passes afterwards. Each racer has its own connection (tests.helpers.race)."""

from __future__ import annotations

from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command

from audit.chain import chained_models, verify_table
from audit.choices import AccessKind
from audit.models import AccessEvent
from audit.signals import record_access
from numbers import services as ns
from numbers.choices import NumberStatus
from numbers.models import MobileNumber
from review import services as audit_services
from staff.choices import Role
from staff.services import employee_set_branches, employee_set_roles
from tests.factories import SubscriberFactory, number_in_state
from tests.helpers import race

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

History = MobileNumber.history.model


def assert_every_chain_intact() -> None:
    out = StringIO()
    call_command("verify_audit", stdout=out, verbosity=0)
    assert "Audit chain intact" in out.getvalue()
    for model in chained_models():
        assert verify_table(model)[1] is None


def failures(outcomes) -> list:
    return [outcome for outcome in outcomes if isinstance(outcome, BaseException)]


def test_many_number_creations_at_once_keep_one_chain(admin_user, branch_a):
    before = History.objects.count()

    def stock(worker: int):
        return [
            ns.number_create(msisdn=f"+855129{worker:02d}{i:04d}", branch=branch_a, actor=admin_user, reason="Stock")
            for i in range(4)
        ]

    outcomes = race(*[lambda worker=worker: stock(worker) for worker in range(8)])
    assert failures(outcomes) == []
    assert History.objects.count() == before + 32
    records = list(History.objects.order_by("pk"))
    for earlier, record in zip(records, records[1:], strict=False):
        assert record.prev_hash == earlier.record_hash
    assert_every_chain_intact()


def test_different_services_at_once_on_shared_tables_neither_deadlock_nor_break_a_chain(
    admin_user, auditor, agent_a, agent_b, agent_c, branch_a, branch_b, holder
):
    """Numbers, transfers, authority changes, a disciplinary case and sign-ins, all at once:
    they share the user, grant and SMS history tables and the access log."""
    numbers = [number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a) for _ in range(3)]
    newcomers = [SubscriberFactory() for _ in range(3)]
    request = SimpleNamespace(META={"REMOTE_ADDR": "10.9.9.9", "HTTP_USER_AGENT": "race"}, request_id="")

    def transfer(i):
        return ns.transfer_create(number=numbers[i], new_subscriber=newcomers[i], actor=admin_user, reason="Sold")

    def sign_ins():
        for _ in range(5):
            record_access(kind=AccessKind.LOGIN, request=request, user=agent_a)

    calls = [
        lambda: transfer(0),
        lambda: transfer(1),
        lambda: transfer(2),
        lambda: employee_set_branches(
            employee=agent_b.employee, branches=[branch_a, branch_b], actor=admin_user, reason="Covers both"
        ),
        lambda: employee_set_roles(employee=agent_c.employee, roles=[Role.SUPERVISOR], actor=admin_user, reason="Up"),
        lambda: audit_services.case_suspend_employee(
            case=audit_services.case_open(employee=agent_a, summary="Review", actor=auditor, reason="Flagged"),
            actor=auditor,
            reason="Pending review",
        ),
        sign_ins,
        lambda: [
            ns.number_create(msisdn=f"+8551288{i:04d}", branch=branch_b, actor=admin_user, reason="Stock")
            for i in range(4)
        ],
    ]
    outcomes = race(*calls)
    assert failures(outcomes) == []
    assert AccessEvent.objects.filter(user=agent_a, kind=AccessKind.LOGIN).count() == 5
    assert_every_chain_intact()


def test_a_refused_call_in_the_race_leaves_no_gap_in_the_chain(admin_user, branch_a):
    """Two workers stock the same number: one is refused (its insert rolled back), the chain still verifies."""
    outcomes = race(
        *[
            lambda: ns.number_create(msisdn="+85512870001", branch=branch_a, actor=admin_user, reason="Stock"),
            lambda: ns.number_create(msisdn="+85512870001", branch=branch_a, actor=admin_user, reason="Stock"),
        ]
    )
    made = [outcome for outcome in outcomes if isinstance(outcome, MobileNumber)]
    assert len(made) == 1 and len(failures(outcomes)) == 1
    assert "already in the inventory" in str(failures(outcomes)[0])
    assert History.objects.filter(msisdn="+85512870001").count() == 1
    assert_every_chain_intact()
