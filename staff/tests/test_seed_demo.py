"""seed_demo: every persona, numbers in every state, idempotent, DEBUG only.

Seeding a thousand numbers takes seconds, so it runs once for the module inside
a transaction that is rolled back at the end; each test runs in a savepoint of it.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test.utils import override_settings

from numbers.choices import HELD_STATUSES, NumberStatus
from numbers.demo import STATE_PLAN
from numbers.models import Branch, Holding, MobileNumber, Subscriber
from staff.models import Employee
from staff.personas import PERSONAS, demo_password

User = get_user_model()

COUNTED = (User, Employee, Branch, Subscriber, MobileNumber, Holding, MobileNumber.history.model)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


def test_refuses_to_run_with_debug_off(db, settings):
    """Runs first in the module, on an empty database: nothing may appear."""
    assert counts() == dict.fromkeys(counts(), 0)
    settings.DEBUG = False
    out = StringIO()

    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", subscribers=20, stdout=out)

    assert counts() == dict.fromkeys(counts(), 0)
    assert "Demo logins" not in out.getvalue()


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """Seed once (DEBUG on); the output and the counts right after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        out = StringIO()
        with override_settings(DEBUG=True):
            call_command("seed_demo", subscribers=20, stdout=out)
        yield {"output": out.getvalue(), "counts": counts()}
        transaction.set_rollback(True)


def test_creates_every_persona(seeded, db):
    for persona in PERSONAS:
        user = User.objects.get(username=persona.username)
        assert user.is_active and user.is_staff
        assert user.is_superuser is persona.superuser
        assert set(user.groups.values_list("name", flat=True)) == {persona.role}
        employee = Employee.objects.get(user=user)
        assert set(employee.branches.values_list("code", flat=True)) == set(persona.branches)
    assert User.objects.count() == len(PERSONAS)


def test_personas_log_in_with_the_demo_password(seeded, db):
    for persona in PERSONAS:
        assert User.objects.get(username=persona.username).check_password(demo_password())


def test_creates_numbers_in_every_status(seeded, db):
    by_status = {status: MobileNumber.objects.filter(status=status).count() for status in NumberStatus.values}
    assert by_status == {str(status): count for status, count in STATE_PLAN}
    assert all(by_status.values())
    assert MobileNumber.objects.count() == 1000
    assert Subscriber.objects.count() == 20
    # Every number obeys the ledger: held exactly in the held states, with one open holding.
    held = MobileNumber.objects.filter(status__in=HELD_STATUSES)
    assert not held.filter(holder__isnull=True).exists()
    assert not MobileNumber.objects.exclude(status__in=HELD_STATUSES).filter(holder__isnull=False).exists()
    assert Holding.objects.open().count() == held.count()
    assert set(MobileNumber.objects.values_list("branch__code", flat=True)) == {"branch-a", "branch-b"}


def test_prints_a_table_of_logins(seeded, db):
    output = seeded["output"]
    assert "Created numbers:" in output
    assert "Demo logins" in output
    lines = output.splitlines()
    for persona in PERSONAS:
        row = [line for line in lines if line.split()[:1] == [persona.username]]
        assert len(row) == 1, persona.username
        assert persona.role in row[0]
        assert demo_password() in row[0]


def test_running_again_creates_nothing(seeded, db):
    assert counts() == seeded["counts"]
    out = StringIO()
    with override_settings(DEBUG=True):
        call_command("seed_demo", subscribers=20, stdout=out)
    assert counts() == seeded["counts"]
    assert "nothing to add" in out.getvalue()
    assert "Demo logins" in out.getvalue()
