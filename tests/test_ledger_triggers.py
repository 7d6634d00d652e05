"""The ledger refuses a hand-over by raw SQL (numbers migration 0016), on PostgreSQL
and SQLite: within the minimum quarantine a number goes back to its last holder or
moves by an approved transfer or restoration; a holding's who, what and since when
never change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from numbers import services
from numbers.choices import HoldingEndReason, HoldingStartReason, NumberStatus
from numbers.models import Holding, MobileNumber
from tests.factories import SubscriberFactory, number_in_state, transfer_awaiting_approval

pytestmark = pytest.mark.django_db

QUARANTINE = "less than the minimum quarantine"
FIXED = "never change"
TRIGGERS = ("numbers_holding_after_quarantine", "numbers_holding_fixed")


def db_time(moment):
    return connection.ops.adapt_datetimefield_value(moment)


def execute(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def close_open_holding(number_id: int, *, ended_at=None) -> None:
    execute(
        "UPDATE numbers_holding SET ended_at = %s, end_reason = %s WHERE number_id = %s AND ended_at IS NULL",
        [db_time(ended_at or timezone.now()), HoldingEndReason.WITHDRAWAL, number_id],
    )


def insert_sale_holding(number_id: int, subscriber_id: int, *, started_at=None) -> None:
    execute(
        "INSERT INTO numbers_holding (number_id, subscriber_id, started_at, start_reason, start_note, "
        "ended_at, end_reason, end_note) VALUES (%s, %s, %s, %s, '', NULL, '', '')",
        [number_id, subscriber_id, db_time(started_at or timezone.now()), HoldingStartReason.SALE],
    )


def hand_over(number_id: int, subscriber_id: int, *, ended_at=None) -> None:
    """The reproduced attack: close the open holding, open a sale for another, set the holder."""
    close_open_holding(number_id, ended_at=ended_at)
    insert_sale_holding(number_id, subscriber_id)
    execute("UPDATE numbers_mobilenumber SET holder_id = %s WHERE id = %s", [subscriber_id, number_id])


def refused(message: str | tuple[str, ...], action) -> None:
    """Refused by the database; by the trigger named when no older trigger refuses first
    (PostgreSQL fires a table's triggers in name order)."""
    with pytest.raises(IntegrityError) as exc, transaction.atomic():
        action()
    messages = (message,) if isinstance(message, str) else message
    assert any(text in str(exc.value) for text in messages), str(exc.value)


def ledger(number) -> list[tuple]:
    return list(
        Holding.objects.filter(number=number)
        .order_by("pk")
        .values_list("pk", "subscriber_id", "started_at", "start_reason", "ended_at")
    )


@pytest.fixture
def held(admin_user, branch_a):
    return number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)


def test_the_triggers_exist():
    """A later migration that rebuilds numbers_holding on SQLite would drop them silently."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'numbers_holding'::regclass")
        else:
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'numbers_holding'")
        names = {row[0] for row in cursor.fetchall()}
    assert set(TRIGGERS) <= names


def test_a_raw_sql_hand_over_is_refused(held):
    stranger = SubscriberFactory()
    before, holder_id = ledger(held), held.holder_id
    refused(QUARANTINE, lambda: hand_over(held.pk, stranger.pk))
    assert ledger(held) == before
    assert MobileNumber.objects.get(pk=held.pk).holder_id == holder_id


def test_a_hand_over_to_the_last_holder_within_the_quarantine_passes(held):
    holder_id = held.holder_id
    hand_over(held.pk, holder_id)
    assert Holding.objects.open().get(number=held).subscriber_id == holder_id


@pytest.mark.parametrize(
    ("days_ago", "allowed"),
    [
        (settings.NUMBER_LIFECYCLE["MIN_QUARANTINE_DAYS"] - 1, False),
        (settings.NUMBER_LIFECYCLE["MIN_QUARANTINE_DAYS"] + 1, True),
    ],
    ids=["quarantine-running", "quarantine-over"],
)
def test_another_subscriber_only_after_the_minimum_quarantine(admin_user, branch_a, days_ago, allowed):
    number = number_in_state(NumberStatus.AVAILABLE, actor=admin_user, branch=branch_a)
    former, newcomer = SubscriberFactory(), SubscriberFactory()
    ended = timezone.now() - timedelta(days=days_ago)
    # Set-up: the former holder's holding, closed days_ago.
    execute(
        "INSERT INTO numbers_holding (number_id, subscriber_id, started_at, start_reason, start_note, "
        "ended_at, end_reason, end_note) VALUES (%s, %s, %s, 'sale', '', %s, 'withdrawal', '')",
        [number.pk, former.pk, db_time(ended - timedelta(days=300)), db_time(ended)],
    )
    if allowed:
        insert_sale_holding(number.pk, newcomer.pk)
        assert Holding.objects.open().get(number=number).subscriber == newcomer
    else:
        refused(QUARANTINE, lambda: insert_sale_holding(number.pk, newcomer.pk))
        assert not Holding.objects.open().filter(number=number).exists()


def test_the_services_still_sell_transfer_and_restore(admin_user, agent_a, supervisor_a, branch_a):
    """The allowed side, through the services: a first sale, an approved transfer."""
    request = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    services.transfer_approve(request=request, actor=supervisor_a, reason="both consents checked")
    holding = Holding.objects.open().get(number=request.number)
    assert (holding.subscriber_id, holding.start_reason) == (request.to_subscriber_id, HoldingStartReason.TRANSFER)


@pytest.mark.parametrize("column", ["subscriber_id", "number_id", "started_at", "start_reason"])
def test_a_holdings_who_what_and_since_when_never_change(held, admin_user, branch_a, column):
    holding = Holding.objects.open().get(number=held)
    other = {
        "subscriber_id": SubscriberFactory().pk,
        "number_id": number_in_state(NumberStatus.AVAILABLE, actor=admin_user, branch=branch_a).pk,
        "started_at": db_time(holding.started_at - timedelta(days=400)),
        "start_reason": HoldingStartReason.RESTORATION,
    }[column]
    before = ledger(held)
    # A sale made a restoration is also refused by complaints' restoration trigger.
    expected = (FIXED, "must follow an approved restoration") if column == "start_reason" else FIXED
    refused(expected, lambda: execute(f"UPDATE numbers_holding SET {column} = %s WHERE id = %s", [other, holding.pk]))  # noqa: S608
    assert ledger(held) == before


def test_a_holding_is_closed_once(held):
    holding = Holding.objects.open().get(number=held)
    close_open_holding(held.pk)  # allowed: the end is written
    before = ledger(held)
    refused(
        FIXED,
        lambda: execute(
            "UPDATE numbers_holding SET ended_at = %s WHERE id = %s",
            [db_time(holding.started_at), holding.pk],
        ),
    )
    assert ledger(held) == before
