"""``refused`` can fail: a write that outlives a refusal is caught, and stays visible to
the "nothing changed" checks after it; a clean refusal and its own record pass."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction

from audit.models import RefusedAttempt
from numbers import services
from numbers.choices import NumberStatus
from numbers.models import Branch, service_write_scope
from tests.helpers import refused
from tests.snapshots import number_snapshot

pytestmark = pytest.mark.django_db


def rename(branch: Branch, name: str) -> None:
    with service_write_scope():
        Branch.objects.filter(pk=branch.pk).update(name=name)


def name_of(branch: Branch) -> str:
    return Branch.objects.get(pk=branch.pk).name


def careless(branch: Branch) -> None:
    """A bad service: it writes, then checks, outside any transaction of its own."""
    rename(branch, "Renamed before the check")
    raise ValidationError("Too late to say no.", code="careless")


@transaction.atomic
def careful(branch: Branch) -> None:
    """The same, as one transaction: the refusal takes the write back with it."""
    rename(branch, "Renamed before the check")
    raise ValidationError("Said no in time.", code="careful")


def committed_a_step(branch: Branch) -> None:
    """Commits a first step in a transaction of its own, then refuses the second."""
    with transaction.atomic():
        rename(branch, "First step")
    with transaction.atomic():
        raise ValidationError("Second step refused.", code="half_done")


def test_a_write_before_the_refusal_fails_refused_and_stays_visible(branch_a):
    before = name_of(branch_a)
    with pytest.raises(AssertionError, match=r"a write outlived the refusal:\n.*UPDATE .*numbers_branch"):
        refused(ValidationError, lambda: careless(branch_a))
    assert name_of(branch_a) != before  # no savepoint of refused() hid it


def test_a_step_committed_before_the_refusal_fails_refused(branch_a):
    with pytest.raises(AssertionError, match="a write outlived the refusal"):
        refused(ValidationError, lambda: committed_a_step(branch_a))


def test_a_clean_refusal_passes(branch_a):
    before = name_of(branch_a)
    assert refused(ValidationError, lambda: careful(branch_a)).code == "careful"
    assert name_of(branch_a) == before


def test_a_write_the_refusal_keeps_on_purpose_is_named(branch_a):
    assert refused(ValidationError, lambda: careless(branch_a), kept=[Branch]).code == "careless"


def test_the_refusal_record_is_no_stray_write_and_survives(agent_a, active):
    before = number_snapshot(active)
    refused(
        PermissionDenied,
        lambda: services.number_transition(number=active, to_status=NumberStatus.WITHDRAWN, actor=agent_a, reason="x"),
    )
    assert number_snapshot(active) == before
    assert RefusedAttempt.objects.filter(service="number_transition", actor=agent_a).count() == 1


def duplicate_code(branch: Branch) -> None:
    """A second branch with the same code: the database refuses the insert."""
    with service_write_scope():
        Branch.objects.create(code=branch.code, name="Twin")


def test_a_database_refusal_runs_in_a_savepoint_and_the_transaction_goes_on(branch_a):
    refused(IntegrityError, lambda: duplicate_code(branch_a))
    assert Branch.objects.filter(code=branch_a.code).count() == 1  # usable, on PostgreSQL too


def test_a_write_before_a_database_refusal_still_fails_refused(branch_a):
    def rename_then_duplicate():
        rename(branch_a, "Renamed before the insert")
        duplicate_code(branch_a)

    with pytest.raises(AssertionError, match="a write outlived the refusal"):
        refused(IntegrityError, rename_then_duplicate)

    def as_one_transaction():
        with transaction.atomic():
            rename_then_duplicate()

    refused(IntegrityError, as_one_transaction)
    assert name_of(branch_a) != "Renamed before the insert"


def test_a_refusal_django_marks_for_rollback_leaves_the_test_usable(branch_a):
    """A guard raising inside ``atomic(savepoint=False)`` (a related manager's add())."""

    def guarded():
        with transaction.atomic(savepoint=False):
            raise ValidationError("Refused by a guard.", code="guarded")

    assert refused(ValidationError, guarded).code == "guarded"
    assert name_of(branch_a) == branch_a.name


@pytest.mark.django_db(transaction=True)
def test_outside_a_test_transaction_a_committed_write_fails_refused(branch_a):
    assert not connection.in_atomic_block
    with pytest.raises(AssertionError, match="a write outlived the refusal"):
        refused(ValidationError, lambda: careless(branch_a))
    with pytest.raises(AssertionError, match="a write outlived the refusal"):
        refused(ValidationError, lambda: committed_a_step(branch_a))
    assert refused(ValidationError, lambda: careful(branch_a)).code == "careful"


CLOCK_PATCH = re.compile(
    r"""(patch(\.object)?|setattr)\(\s*["']?[\w.]*(timezone|datetime|time)["']?[.,]\s*["']?(now|time|today|utcnow)\b"""
)


def python_files(root: Path):
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = [name for name in subfolders if not name.startswith(".") and name != "node_modules"]
        yield from (Path(folder) / name for name in files if name.endswith(".py"))


@pytest.mark.django_db(False)
def test_the_clock_moves_only_by_time_machine():
    """One time-travel library (tests.helpers): no patched clocks."""
    root = Path(__file__).resolve().parent.parent
    patched = [
        f"{path.relative_to(root)}:{number}"
        for path in python_files(root)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if CLOCK_PATCH.search(line)
    ]
    assert patched == [], "travel with time_machine.travel(..., tick=False) instead"


# --- The run's template database (tests/template_db.py) ------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_personas_are_in_the_database_before_any_test(django_user_model):
    from staff.personas import PERSONAS

    names = set(django_user_model.objects.values_list("username", flat=True))
    assert {persona.username for persona in PERSONAS} <= names


@pytest.mark.django_db(transaction=True)
def test_restore_from_template_puts_back_the_migrated_database_and_its_personas(django_user_model):
    from django.db.migrations.executor import MigrationExecutor

    from tests.template_db import restore_from_template

    with connection.cursor() as cursor:  # what a migration test leaves: a table gone, a persona changed
        cursor.execute("DROP TABLE django_session")
    django_user_model.objects.filter(username="agent_a").update(first_name="Changed")
    restore_from_template()
    assert django_user_model.objects.get(username="agent_a").first_name != "Changed"
    executor = MigrationExecutor(connection)
    assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM django_session")
