"""The holder rule held by the database itself, below every Python guard."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from demo.numbers_seed import withdraw_as_lifecycle
from numbers import services
from numbers.choices import (
    HoldingEndReason,
    HoldingStartReason,
    NumberStatus,
    TransferState,
)
from numbers.models import (
    Holding,
    MobileNumber,
    TransferRequest,
    service_write_scope,
)
from tests.factories import SubscriberFactory, number_in_state, transfer_awaiting_approval
from tests.helpers import holder_code_consent_row


def _raw_set_holder(number_id: int, subscriber_id: int | None) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE numbers_mobilenumber SET holder_id = %s WHERE id = %s", [subscriber_id, number_id])


@pytest.mark.django_db
def test_raw_sql_cannot_give_a_held_number_to_someone_else(admin_user, branch_a):
    number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    owner_id = number.holder_id
    stranger = SubscriberFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        _raw_set_holder(number.pk, stranger.pk)
    number.refresh_from_db()
    assert number.holder_id == owner_id


@pytest.mark.django_db
def test_raw_sql_cannot_clear_the_holder_of_an_open_holding(admin_user, branch_a):
    number = number_in_state(NumberStatus.SUSPENDED, actor=admin_user, branch=branch_a)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE numbers_mobilenumber SET holder_id = NULL, status = 'withdrawn' WHERE id = %s", [number.pk]
        )
    number.refresh_from_db()
    assert number.status == NumberStatus.SUSPENDED and number.holder_id is not None


@pytest.mark.django_db
def test_the_trigger_lets_the_services_sell_and_withdraw(admin_user, branch_a):
    """The allowed side: the ledger is written first, so the trigger agrees."""
    number = number_in_state(NumberStatus.AVAILABLE, actor=admin_user, branch=branch_a)
    buyer = SubscriberFactory()
    number = services.number_sell(number=number, subscriber=buyer, actor=admin_user, reason="counter sale")
    assert MobileNumber.objects.get(pk=number.pk).holder_id == buyer.pk
    number = withdraw_as_lifecycle(number, actor=admin_user, reason="90 days without top-up")
    assert MobileNumber.objects.get(pk=number.pk).holder_id is None


@pytest.mark.django_db
def test_raw_sql_may_set_the_holder_the_ledger_names(admin_user, branch_a):
    """Setting the holder to the open holding's subscriber (a no-op by value) passes."""
    number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    _raw_set_holder(number.pk, number.holder_id)
    number.refresh_from_db()
    assert number.holder_id is not None


# --- A transfer holding references an executed transfer request (migration 0008) ----------

TRANSFER_TRIGGER_MESSAGE = "must reference an approved transfer request"


def _raw_insert_transfer_holding(*, number_id: int, subscriber_id: int, request_id: int | None) -> None:
    """A closed holding, so the one-open-holding index is not what refuses it."""
    now = timezone.now()
    started, ended = (connection.ops.adapt_datetimefield_value(at) for at in (now - timedelta(days=1), now))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO numbers_holding (number_id, subscriber_id, started_at, start_reason, start_note, "
            "ended_at, end_reason, end_note, transfer_request_id) VALUES (%s, %s, %s, %s, '', %s, %s, '', %s)",
            [
                number_id,
                subscriber_id,
                started,
                HoldingStartReason.TRANSFER,
                ended,
                HoldingEndReason.TRANSFER,
                request_id,
            ],
        )


def _raw_update_holding(holding_id: int, **columns) -> None:
    assignments = ", ".join(f"{column} = %s" for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE numbers_holding SET {assignments} WHERE id = %s", [*columns.values(), holding_id])  # noqa: S608


# The ledger's own triggers (migration 0016) may refuse first: within the quarantine a
# number goes to no other subscriber, and a holding's who and since when never change.
LEDGER_TRIGGER_MESSAGES = ("less than the minimum quarantine", "of a holding never change")


def _refused_by_trigger(action) -> None:
    with pytest.raises(IntegrityError) as exc, transaction.atomic():
        action()
    assert any(text in str(exc.value) for text in (TRANSFER_TRIGGER_MESSAGE, *LEDGER_TRIGGER_MESSAGES))


def _ledger(number) -> list[tuple]:
    return list(
        Holding.objects.filter(number=number)
        .order_by("pk")
        .values_list("pk", "subscriber_id", "start_reason", "transfer_request_id", "ended_at")
    )


@pytest.fixture
def pending(agent_a, branch_a):
    """A request with both consents, not yet approved."""
    request = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    assert request.state == TransferState.AWAITING_APPROVAL
    return request


def test_the_orm_cannot_open_a_transfer_holding_for_an_unapproved_request(pending):
    """Even inside the services' write scope, past every Python guard."""
    number = pending.number
    before = _ledger(number)

    def close_and_hand_over():
        now = timezone.now()
        with service_write_scope():
            Holding.objects.filter(number=number, ended_at__isnull=True).update(
                ended_at=now, end_reason=HoldingEndReason.TRANSFER
            )
            Holding.objects.create(
                number=number,
                subscriber=pending.to_subscriber,
                started_at=now,
                start_reason=HoldingStartReason.TRANSFER,
                transfer_request=pending,
            )

    _refused_by_trigger(close_and_hand_over)
    assert _ledger(number) == before


def test_raw_sql_cannot_insert_a_transfer_holding_for_an_unapproved_request(pending):
    before = _ledger(pending.number)
    _refused_by_trigger(
        lambda: _raw_insert_transfer_holding(
            number_id=pending.number_id, subscriber_id=pending.to_subscriber_id, request_id=pending.pk
        )
    )
    assert _ledger(pending.number) == before


def test_raw_sql_cannot_turn_a_sale_holding_into_a_transfer(pending):
    holding = pending.number.holdings.get()
    before = _ledger(pending.number)
    _refused_by_trigger(
        lambda: _raw_update_holding(
            holding.pk, start_reason=HoldingStartReason.TRANSFER, transfer_request_id=pending.pk
        )
    )
    assert _ledger(pending.number) == before


@pytest.fixture
def executed(pending, supervisor_a):
    return services.transfer_approve(request=pending, actor=supervisor_a, reason="both consents checked")


def test_the_approval_passes_the_trigger(executed):
    """The allowed side: the service marks the request executed before the holding."""
    holding = Holding.objects.open().get(number=executed.number)
    assert (holding.start_reason, holding.transfer_request_id, holding.subscriber_id) == (
        HoldingStartReason.TRANSFER,
        executed.pk,
        executed.to_subscriber_id,
    )
    # A raw write that keeps the holding truthful passes too.
    _raw_update_holding(holding.pk, start_reason=HoldingStartReason.TRANSFER, transfer_request_id=executed.pk)
    assert Holding.objects.get(pk=holding.pk).transfer_request_id == executed.pk


def test_raw_sql_cannot_repoint_a_transfer_holding(executed, agent_a, branch_a):
    """To another (unapproved) request, to somebody other than the new subscriber,
    or to another number."""
    holding = Holding.objects.open().get(number=executed.number)
    other_pending = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    before = _ledger(executed.number)

    _refused_by_trigger(lambda: _raw_update_holding(holding.pk, transfer_request_id=other_pending.pk))
    _refused_by_trigger(lambda: _raw_update_holding(holding.pk, subscriber_id=executed.from_holder_id))
    unheld = number_in_state(NumberStatus.AVAILABLE, actor=agent_a, branch=branch_a)
    _refused_by_trigger(lambda: _raw_update_holding(holding.pk, number_id=unheld.pk))
    assert _ledger(executed.number) == before


@pytest.mark.parametrize("wrong", ["subscriber", "number"])
def test_raw_sql_cannot_borrow_an_executed_request(agent_a, supervisor_a, branch_a, wrong):
    """An executed request vouches only for its own number and new subscriber."""
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    holder, newcomer = number.holder, SubscriberFactory()
    now = timezone.now()
    # Test setup: an executed request whose holding is not written yet.
    with service_write_scope():
        request = TransferRequest.objects.create(
            number=number,
            from_holder=holder,
            to_subscriber=newcomer,
            branch=branch_a,
            requested_by=agent_a,
            reason="gift",
            created_at=now,
            expires_at=now + timedelta(days=7),
            state=TransferState.EXECUTED,
            decided_by=supervisor_a,
            decided_at=now,
            decision_reason="checked",
        )
    holder_code_consent_row(request, by=agent_a, at=now)
    elsewhere = number_in_state(NumberStatus.AVAILABLE, actor=agent_a, branch=branch_a)
    row = {
        "subscriber": {"number_id": number.pk, "subscriber_id": SubscriberFactory().pk},
        "number": {"number_id": elsewhere.pk, "subscriber_id": newcomer.pk},
    }[wrong]

    _refused_by_trigger(lambda: _raw_insert_transfer_holding(request_id=request.pk, **row))
    assert not Holding.objects.filter(transfer_request=request).exists()

    _raw_insert_transfer_holding(number_id=number.pk, subscriber_id=newcomer.pk, request_id=request.pk)
    assert Holding.objects.get(transfer_request=request).subscriber == newcomer


# --- A restoration holding follows an executed restoration (complaints migration 0003) ------

RESTORATION_TRIGGER_MESSAGE = "must follow an approved restoration"


def _raw_insert_restoration_holding(*, number_id: int, subscriber_id: int) -> None:
    """A closed holding, so the one-open-holding index is not what refuses it."""
    now = timezone.now()
    started, ended = (connection.ops.adapt_datetimefield_value(at) for at in (now - timedelta(days=1), now))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO numbers_holding (number_id, subscriber_id, started_at, start_reason, start_note, "
            "ended_at, end_reason, end_note, transfer_request_id) VALUES (%s, %s, %s, %s, '', %s, %s, '', NULL)",
            [number_id, subscriber_id, started, HoldingStartReason.RESTORATION, ended, HoldingEndReason.RESTORATION],
        )


def _refused_by_restoration_trigger(action) -> None:
    with pytest.raises(IntegrityError) as exc, transaction.atomic():
        action()
    assert any(text in str(exc.value) for text in (RESTORATION_TRIGGER_MESSAGE, *LEDGER_TRIGGER_MESSAGES))


@pytest.fixture
def restoration_asked(agent_b, supervisor_a, handler_a, holder, newcomer, active, sla_presets):
    """The incident up to the request: a wrongful transfer, the complaint, the block and
    a restoration to the holder, awaiting approval."""
    from complaints import services as cs
    from complaints.choices import ComplaintCategory
    from complaints.tests.casework import new_complaint, wrongful_transfer

    wrongful_transfer(number=active, to=newcomer, agent=agent_b, supervisor=supervisor_a)
    complaint = new_complaint(
        actor=handler_a, complainant=holder, numbers=[active], category=ComplaintCategory.UNAUTHORISED_TRANSFER
    )
    cs.complaint_block_number(complaint=complaint, number=active, actor=handler_a, reason="stop misuse")
    return cs.restoration_request(complaint=complaint, number=active, actor=handler_a, reason="give back")


def test_raw_sql_cannot_insert_a_restoration_holding_without_an_approved_restoration(restoration_asked, agent_a):
    number = restoration_asked.number
    before = _ledger(number)
    _refused_by_restoration_trigger(
        lambda: _raw_insert_restoration_holding(number_id=number.pk, subscriber_id=restoration_asked.to_subscriber_id)
    )
    # Nor for a number with no restoration at all.
    other = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=number.branch)
    _refused_by_restoration_trigger(
        lambda: _raw_insert_restoration_holding(number_id=other.pk, subscriber_id=other.holder_id)
    )
    assert _ledger(number) == before


def test_the_orm_cannot_hand_a_number_back_without_an_approved_restoration(restoration_asked):
    """Even inside the services' write scope, past every Python guard."""
    number = restoration_asked.number
    before = _ledger(number)

    def close_and_hand_back():
        now = timezone.now()
        with service_write_scope():
            Holding.objects.filter(number=number, ended_at__isnull=True).update(
                ended_at=now, end_reason=HoldingEndReason.RESTORATION
            )
            Holding.objects.create(
                number=number,
                subscriber=restoration_asked.to_subscriber,
                started_at=now,
                start_reason=HoldingStartReason.RESTORATION,
            )

    _refused_by_restoration_trigger(close_and_hand_back)
    assert _ledger(number) == before


def test_raw_sql_cannot_turn_a_holding_into_a_restoration(restoration_asked):
    holding = Holding.objects.open().get(number=restoration_asked.number)
    before = _ledger(restoration_asked.number)
    _refused_by_restoration_trigger(
        lambda: _raw_update_holding(holding.pk, start_reason=HoldingStartReason.RESTORATION, transfer_request_id=None)
    )
    assert _ledger(restoration_asked.number) == before


def test_the_restoration_approval_passes_the_trigger_once(restoration_asked, supervisor_a):
    """The allowed side: the service marks the restoration executed before the holding;
    once it has opened its holding, it vouches for no other."""
    from complaints import services as cs

    restoration = cs.restoration_approve(restoration=restoration_asked, actor=supervisor_a, reason="ID checked")
    holding = Holding.objects.open().get(number=restoration.number)
    assert (holding.start_reason, holding.subscriber_id) == (
        HoldingStartReason.RESTORATION,
        restoration.to_subscriber_id,
    )
    assert restoration.opened_holding == holding

    before = _ledger(restoration.number)
    _refused_by_restoration_trigger(
        lambda: _raw_insert_restoration_holding(
            number_id=restoration.number_id, subscriber_id=restoration.to_subscriber_id
        )
    )
    assert _ledger(restoration.number) == before


@pytest.mark.parametrize("wrong", ["subscriber", "number"])
def test_raw_sql_cannot_borrow_an_executed_restoration(restoration_asked, supervisor_a, wrong):
    """An executed restoration vouches only for its own number and rightful holder."""
    from complaints.choices import RestorationState
    from complaints.models import Restoration

    number = restoration_asked.number
    # Test setup: an executed restoration whose holding is not written yet.
    with service_write_scope():
        Restoration.objects.filter(pk=restoration_asked.pk).update(
            state=RestorationState.EXECUTED,
            decided_by=supervisor_a,
            decided_at=timezone.now(),
            decision_reason="checked",
        )
    elsewhere = number_in_state(NumberStatus.AVAILABLE, actor=supervisor_a, branch=number.branch)
    row = {
        "subscriber": {"number_id": number.pk, "subscriber_id": SubscriberFactory().pk},
        "number": {"number_id": elsewhere.pk, "subscriber_id": restoration_asked.to_subscriber_id},
    }[wrong]

    _refused_by_restoration_trigger(lambda: _raw_insert_restoration_holding(**row))
    assert not Holding.objects.filter(start_reason=HoldingStartReason.RESTORATION).exists()

    _raw_insert_restoration_holding(number_id=number.pk, subscriber_id=restoration_asked.to_subscriber_id)
    assert Holding.objects.get(start_reason=HoldingStartReason.RESTORATION).subscriber_id == (
        restoration_asked.to_subscriber_id
    )
