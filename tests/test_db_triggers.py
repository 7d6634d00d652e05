"""The holder rule held by the database itself, below every Python guard."""

import pytest
from django.db import IntegrityError, connection, transaction

from numbers import services
from numbers.choices import NumberStatus
from numbers.models import MobileNumber
from tests.factories import SubscriberFactory, number_in_state


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
    number = services.number_transition(
        number=number, to_status=NumberStatus.WITHDRAWN, actor=admin_user, reason="90 days without top-up"
    )
    assert MobileNumber.objects.get(pk=number.pk).holder_id is None


@pytest.mark.django_db
def test_raw_sql_may_set_the_holder_the_ledger_names(admin_user, branch_a):
    """Setting the holder to the open holding's subscriber (a no-op by value) passes."""
    number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    _raw_set_holder(number.pk, number.holder_id)
    number.refresh_from_db()
    assert number.holder_id is not None
