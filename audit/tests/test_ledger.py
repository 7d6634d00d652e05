"""verify_audit checks the holding ledger against its history: a hand-over written
past the triggers, as a DBA could (PostgreSQL: ``session_replication_role = replica``;
SQLite: the trigger dropped), is named by number and fails the command."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from audit.ledger import verify_ledger
from numbers import services
from numbers.choices import HoldingEndReason, HoldingStartReason, NumberStatus
from tests.factories import SubscriberFactory, number_in_state, transfer_awaiting_approval

pytestmark = pytest.mark.django_db


def as_a_dba(*statements: tuple[str, list]) -> None:
    """Raw SQL past the ledger's triggers, in one transaction."""
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        else:
            # Rolled back with the test's transaction: SQLite's DDL is transactional.
            cursor.execute("DROP TRIGGER IF EXISTS numbers_holding_after_quarantine")
            cursor.execute("DROP TRIGGER IF EXISTS numbers_holding_fixed")
        for sql, params in statements:
            cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")


def at(moment) -> str:
    return connection.ops.adapt_datetimefield_value(moment)


def hand_over(number, subscriber) -> None:
    now = at(timezone.now())
    as_a_dba(
        (
            "UPDATE numbers_holding SET ended_at = %s, end_reason = %s WHERE number_id = %s AND ended_at IS NULL",
            [now, HoldingEndReason.WITHDRAWAL, number.pk],
        ),
        (
            "INSERT INTO numbers_holding (number_id, subscriber_id, started_at, start_reason, start_note, "
            "ended_at, end_reason, end_note) VALUES (%s, %s, %s, %s, '', NULL, '', '')",
            [number.pk, subscriber.pk, now, HoldingStartReason.SALE],
        ),
        ("UPDATE numbers_mobilenumber SET holder_id = %s WHERE id = %s", [subscriber.pk, number.pk]),
    )


def verify() -> str:
    out = StringIO()
    call_command("verify_audit", stdout=out, verbosity=0)
    return out.getvalue()


def verify_refused() -> tuple[str, str]:
    err = StringIO()
    with pytest.raises(CommandError, match="ledger disagrees") as exc:
        call_command("verify_audit", stderr=err, verbosity=0)
    return str(exc.value), err.getvalue()


@pytest.fixture
def day_of_work(admin_user, agent_a, supervisor_a, branch_a):
    """Sales, a withdrawal and an approved transfer, all by the services."""
    sold = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    withdrawn = number_in_state(NumberStatus.WITHDRAWN, actor=admin_user, branch=branch_a)
    request = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    services.transfer_approve(request=request, actor=supervisor_a, reason="both consents checked")
    return {"sold": sold, "withdrawn": withdrawn, "transferred": request.number}


def test_the_ledger_written_by_the_services_matches_its_history(day_of_work):
    assert verify_ledger() == []
    assert "The ledger matches its history." in verify()


def test_a_hand_over_past_the_triggers_is_named(day_of_work):
    number, stranger = day_of_work["sold"], SubscriberFactory()
    hand_over(number, stranger)

    assert {problem.msisdn for problem in verify_ledger()} == {number.msisdn}
    error, stderr = verify_refused()
    assert number.msisdn in error
    assert f"LEDGER  {number.msisdn}: its holder changed without a service record" in stderr
    assert "was written without a service record" in stderr
    assert "was closed (or its end rewritten) without a service record" in stderr
    # The other numbers are not named.
    for other in (day_of_work["withdrawn"], day_of_work["transferred"]):
        assert other.msisdn not in stderr


def test_a_hand_over_of_a_transferred_number_is_named_too(day_of_work):
    number = day_of_work["transferred"]
    hand_over(number, SubscriberFactory())
    assert {problem.msisdn for problem in verify_ledger()} == {number.msisdn}


def test_a_withdrawal_by_hand_is_named(day_of_work):
    """Closing a holding and clearing the holder pass the triggers; only the history
    tells that no service did it."""
    number = day_of_work["sold"]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE numbers_holding SET ended_at = %s, end_reason = 'withdrawal' WHERE number_id = %s "
            "AND ended_at IS NULL",
            [at(timezone.now()), number.pk],
        )
        cursor.execute(
            "UPDATE numbers_mobilenumber SET holder_id = NULL, status = 'withdrawn' WHERE id = %s", [number.pk]
        )
    problems = [str(problem) for problem in verify_ledger()]
    assert problems and all(problem.startswith(number.msisdn) for problem in problems)


def test_only_the_chains_are_checked_for_one_table(day_of_work):
    hand_over(day_of_work["sold"], SubscriberFactory())
    out = StringIO()
    call_command("verify_audit", "--table", "numbers_historicalholding", stdout=out, verbosity=0)
    assert "Audit chain intact" in out.getvalue()
