"""One-time codes are budgeted per number per calendar day, across requests:
cancelling a request and opening a new one gives no fresh sends or guesses."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from numbers import services
from numbers.choices import ConsentMethod, NumberStatus
from numbers.models import ConsentCode
from tests.factories import SubscriberFactory, number_in_state
from tests.helpers import back_date, code_sent_to, refused, transfer_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def budgets(settings, handset):
    settings.TRANSFER_CODE_MAX_SENDS = 5
    settings.TRANSFER_CODE_MAX_ATTEMPTS = 3
    settings.TRANSFER_CODE_SENDS_PER_NUMBER_DAY = 2
    settings.TRANSFER_CODE_FAILURES_PER_NUMBER_DAY = 2


def send(request, actor):
    return services.consent_code_send(request=request, actor=actor, reason="holder on the phone")


def verify(request, code, actor):
    return services.consent_code_verify(request=request, code=code, actor=actor, reason="holder read it back")


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def renew(request, agent_a, newcomer):
    """Cancel the request and open a new one for the same number: the loophole closed here."""
    services.transfer_cancel(request=request, actor=agent_a, reason="start again")
    return services.transfer_create(number=request.number, new_subscriber=newcomer, actor=agent_a, reason="again")


def yesterday(number) -> None:
    for code in ConsentCode.objects.filter(sent_to=number.msisdn):
        day = timedelta(days=1)
        back_date(ConsentCode, code.pk, created_at=code.created_at - day, expires_at=code.expires_at - day)


def test_sends_are_budgeted_per_number_per_day_across_requests(agent_a, agent_b, active, newcomer, open_request):
    send(open_request, agent_b)
    send(open_request, agent_b)
    again = renew(open_request, agent_a, newcomer)
    before = transfer_snapshot(active)

    error = refused(ValidationError, lambda: send(again, agent_b))

    assert error.code == "number_sends_today"
    assert transfer_snapshot(active) == before


def test_the_budget_is_the_same_for_a_superuser(admin_user, agent_b, active, open_request):
    send(open_request, agent_b)
    send(open_request, agent_b)
    error = refused(ValidationError, lambda: send(open_request, admin_user))
    assert error.code == "number_sends_today"


def test_a_new_day_brings_a_new_budget(agent_a, agent_b, active, newcomer, open_request):
    send(open_request, agent_b)
    send(open_request, agent_b)
    again = renew(open_request, agent_a, newcomer)
    yesterday(active)
    send(again, agent_b)
    assert verify(again, code_sent_to(active.msisdn), agent_b).method == ConsentMethod.SMS_CODE


def test_another_number_has_its_own_budget(agent_a, agent_b, branch_a, active, open_request):
    send(open_request, agent_b)
    send(open_request, agent_b)
    other = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    request = services.transfer_create(number=other, new_subscriber=SubscriberFactory(), actor=agent_a, reason="x")
    assert send(request, agent_b).sent_to == other.msisdn


def test_wrong_tries_are_budgeted_per_number_per_day_across_requests(agent_a, agent_b, active, newcomer, open_request):
    send(open_request, agent_b)
    code = code_sent_to(active.msisdn)
    for _ in range(2):  # counted, so not in a savepoint that would roll the count back
        with pytest.raises(ValidationError, match="Wrong code"):
            verify(open_request, wrong(code), agent_b)
    # The code itself allows a third try, the number's day does not: not even the right code.
    before = transfer_snapshot(active)
    error = refused(ValidationError, lambda: verify(open_request, code, agent_b))
    assert error.code == "number_failures_today"
    assert transfer_snapshot(active) == before

    # A new request gives no fresh guesses: no code is even sent.
    again = renew(open_request, agent_a, newcomer)
    before = transfer_snapshot(active)
    error = refused(ValidationError, lambda: send(again, agent_b))
    assert error.code == "number_failures_today"
    assert transfer_snapshot(active) == before


def test_within_the_budget_a_right_code_is_accepted(agent_b, active, open_request):
    send(open_request, agent_b)
    code = code_sent_to(active.msisdn)
    with pytest.raises(ValidationError, match="Wrong code"):
        verify(open_request, wrong(code), agent_b)
    consent = verify(open_request, code, agent_b)
    assert consent.method == ConsentMethod.SMS_CODE
    assert consent.captured_at.date() == timezone.now().date()
