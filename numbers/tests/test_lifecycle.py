"""The number lifecycle: every move in the table works for those allowed to make it,
every other move is refused, and a refused move changes nothing."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from backoffice.msisdn import InvalidMsisdn
from demo.numbers_seed import withdraw_as_lifecycle
from numbers import services
from numbers.choices import (
    HELD_STATUSES,
    TRANSITIONS,
    HoldingEndReason,
    HoldingStartReason,
    NumberStatus,
    is_allowed_move,
)
from numbers.exceptions import IllegalMove
from numbers.models import Holding, MobileNumber
from staff.choices import EmploymentStatus
from staff.services import employee_set_status
from tests.factories import SubscriberFactory, number_in_state
from tests.helpers import quarantine_over
from tests.snapshots import number_snapshot

pytestmark = pytest.mark.django_db


ALL_STATUSES = list(NumberStatus.values)
ALLOWED_MOVES = sorted(
    (from_status, to_status) for from_status, targets in TRANSITIONS.items() for to_status in targets
)
FORBIDDEN_MOVES = [pair for pair in itertools.product(ALL_STATUSES, ALL_STATUSES) if not is_allowed_move(*pair)]


def _id(pair):
    return f"{pair[0]}->{pair[1]}"


def test_the_tables_cover_every_pair():
    """The parametrized tests below are only complete if this holds."""
    assert len(ALLOWED_MOVES) == 14
    assert len(FORBIDDEN_MOVES) == 49 - 14
    assert all((status, status) in FORBIDDEN_MOVES for status in ALL_STATUSES)
    assert set(TRANSITIONS) == set(ALL_STATUSES)


# Who may make each move, written out here rather than read from move_permissions,
# so that a change to the permission rules shows up as a failing test.
COUNTER, COMPLAINT, POLICY = "counter", "complaint", "policy"
MOVE_KIND = {
    (NumberStatus.AVAILABLE, NumberStatus.RESERVED): COUNTER,
    (NumberStatus.AVAILABLE, NumberStatus.ACTIVE): COUNTER,
    (NumberStatus.RESERVED, NumberStatus.AVAILABLE): COUNTER,
    (NumberStatus.RESERVED, NumberStatus.ACTIVE): COUNTER,
    (NumberStatus.ACTIVE, NumberStatus.SUSPENDED): COUNTER,
    (NumberStatus.SUSPENDED, NumberStatus.ACTIVE): COUNTER,
    (NumberStatus.ACTIVE, NumberStatus.BLOCKED): COMPLAINT,
    (NumberStatus.SUSPENDED, NumberStatus.BLOCKED): COMPLAINT,
    (NumberStatus.BLOCKED, NumberStatus.ACTIVE): COMPLAINT,
    (NumberStatus.BLOCKED, NumberStatus.SUSPENDED): COMPLAINT,
    (NumberStatus.ACTIVE, NumberStatus.WITHDRAWN): POLICY,
    (NumberStatus.SUSPENDED, NumberStatus.WITHDRAWN): POLICY,
    (NumberStatus.WITHDRAWN, NumberStatus.AGING): POLICY,
    (NumberStatus.AGING, NumberStatus.AVAILABLE): POLICY,
}
# Personas allowed to move a branch-a number in each kind of move, and those refused
# (supervisor_b holds every branch permission, but for branch b only).
ALLOWED_TO = {COUNTER: ["agent_a", "supervisor_a"], COMPLAINT: ["handler_a", "supervisor_a"], POLICY: ["supervisor_a"]}
REFUSED_TO = {
    COUNTER: ["handler_a", "auditor", "supervisor_b"],
    COMPLAINT: ["agent_a", "auditor", "supervisor_b"],
    POLICY: ["agent_a", "handler_a", "auditor", "supervisor_b"],
}

ALLOWED_CASES = [(*move, who) for move in ALLOWED_MOVES for who in ["admin_user", *ALLOWED_TO[MOVE_KIND[move]]]]
REFUSED_CASES = [(*move, who) for move in ALLOWED_MOVES for who in REFUSED_TO[MOVE_KIND[move]]]


def test_every_allowed_move_has_a_kind():
    assert set(MOVE_KIND) == set(ALLOWED_MOVES)


# --- Every allowed move -----------------------------------------------------


@pytest.mark.parametrize(
    ("from_status", "to_status", "who"), ALLOWED_CASES, ids=[f"{_id(c)}-{c[2]}" for c in ALLOWED_CASES]
)
def test_every_allowed_move_succeeds(request, supervisor_a, branch_a, from_status, to_status, who):
    actor = request.getfixturevalue(who)
    number = number_in_state(from_status, actor=supervisor_a, branch=branch_a)
    before = number_snapshot(number)
    is_sale = from_status not in HELD_STATUSES and to_status in HELD_STATUSES
    is_withdrawal = from_status in HELD_STATUSES and to_status not in HELD_STATUSES
    buyer = SubscriberFactory() if is_sale else None
    if is_withdrawal:
        # In the lifecycle table, but the job's alone: by hand only a withdrawal request.
        with pytest.raises(IllegalMove) as exc:
            services.number_transition(number=number, to_status=to_status, actor=actor, reason="lifecycle test")
        assert exc.value.code == "withdrawal_needs_request"
        assert number_snapshot(number) == before
        return
    if from_status == NumberStatus.AGING:
        quarantine_over(number)
        before = number_snapshot(number)

    moved = services.number_transition(
        number=number, to_status=to_status, actor=actor, reason="lifecycle test", subscriber=buyer
    )

    after = MobileNumber.objects.get(pk=number.pk)
    assert moved.status == after.status == to_status
    assert after.status_changed_at > before["status_changed_at"]
    assert after.history.count() == before["history"] + 1
    record = after.history.first()
    assert record.status == to_status
    assert record.history_user == actor
    assert record.history_change_reason == "lifecycle test"
    open_holders = list(Holding.objects.open().filter(number=after).values_list("subscriber_id", flat=True))
    if is_sale:
        assert after.holder == buyer
        assert open_holders == [buyer.pk]
    elif is_withdrawal:
        assert after.holder is None
        assert open_holders == []
    else:
        assert after.holder_id == before["holder_id"]
        assert after.activated_at == before["activated_at"]
        assert open_holders == ([before["holder_id"]] if before["holder_id"] else [])
        assert len(before["holdings"]) == Holding.objects.filter(number=after).count()


@pytest.mark.parametrize(
    ("from_status", "to_status", "who"), REFUSED_CASES, ids=[f"{_id(c)}-{c[2]}" for c in REFUSED_CASES]
)
def test_every_allowed_move_is_refused_without_its_permission(
    request, supervisor_a, branch_a, from_status, to_status, who
):
    actor = request.getfixturevalue(who)
    number = number_in_state(from_status, actor=supervisor_a, branch=branch_a)
    before = number_snapshot(number)
    buyer = SubscriberFactory() if to_status in HELD_STATUSES and from_status not in HELD_STATUSES else None

    with pytest.raises(PermissionDenied):
        services.number_transition(number=number, to_status=to_status, actor=actor, reason="no", subscriber=buyer)

    assert number_snapshot(number) == before


# --- Every forbidden move ---------------------------------------------------


@pytest.mark.parametrize(("from_status", "to_status"), FORBIDDEN_MOVES, ids=[_id(p) for p in FORBIDDEN_MOVES])
def test_every_forbidden_move_raises_and_changes_nothing(supervisor_a, branch_a, from_status, to_status):
    number = number_in_state(from_status, actor=supervisor_a, branch=branch_a)
    before = number_snapshot(number)
    # Into a held state from an unheld one, try it the way a sale would be tried.
    buyer = SubscriberFactory() if to_status in HELD_STATUSES and from_status not in HELD_STATUSES else None

    with pytest.raises(IllegalMove) as exc:
        services.number_transition(
            number=number, to_status=to_status, actor=supervisor_a, reason="forbidden", subscriber=buyer
        )

    assert exc.value.code == "illegal_move"
    assert f"cannot move from {from_status} to {to_status}" in exc.value.messages[0]
    assert number_snapshot(number) == before


def test_unknown_status_is_an_illegal_move(supervisor_a, branch_a):
    number = number_in_state(NumberStatus.ACTIVE, actor=supervisor_a, branch=branch_a)
    before = number_snapshot(number)
    with pytest.raises(IllegalMove) as exc:
        services.number_transition(number=number, to_status="sold", actor=supervisor_a, reason="typo")
    assert exc.value.code == "unknown_status"
    assert number_snapshot(number) == before


# --- Sale and withdrawal ----------------------------------------------------


def test_sale_opens_a_holding_and_sets_the_holder(agent_a, branch_a, supervisor_a):
    number = number_in_state(NumberStatus.AVAILABLE, actor=supervisor_a, branch=branch_a)
    buyer = SubscriberFactory()

    sold = services.number_sell(number=number, subscriber=buyer, actor=agent_a, reason="  Sold at the counter  ")

    sold.refresh_from_db()
    assert sold.status == NumberStatus.ACTIVE
    assert sold.holder == buyer
    assert sold.activated_at is not None
    assert sold.activated_at == sold.status_changed_at == sold.last_topup_at
    holding = Holding.objects.get(number=sold)
    assert holding.is_open
    assert holding.subscriber == buyer
    assert holding.start_reason == HoldingStartReason.SALE
    assert holding.started_by == agent_a
    assert holding.start_note == "Sold at the counter"
    assert holding.started_at == sold.activated_at
    assert holding.end_reason == ""
    record = sold.history.first()
    assert (record.history_user, record.history_change_reason) == (agent_a, "Sold at the counter")
    holding_record = holding.history.first()
    assert (holding_record.history_user, holding_record.history_change_reason) == (agent_a, "Sold at the counter")


def test_sale_of_a_reserved_number(agent_a, branch_a):
    number = number_in_state(NumberStatus.RESERVED, actor=agent_a, branch=branch_a)
    buyer = SubscriberFactory()
    sold = services.number_sell(number=number, subscriber=buyer, actor=agent_a, reason="Reserved for her")
    assert (sold.status, sold.holder) == (NumberStatus.ACTIVE, buyer)


def test_sale_needs_a_subscriber(agent_a, branch_a):
    number = number_in_state(NumberStatus.AVAILABLE, actor=agent_a, branch=branch_a)
    before = number_snapshot(number)
    with pytest.raises(ValidationError) as exc:
        services.number_transition(number=number, to_status=NumberStatus.ACTIVE, actor=agent_a, reason="sale")
    assert "needs a subscriber" in exc.value.messages[0]
    assert number_snapshot(number) == before


def test_only_a_sale_names_a_subscriber(agent_a, branch_a):
    number = number_in_state(NumberStatus.AVAILABLE, actor=agent_a, branch=branch_a)
    before = number_snapshot(number)
    with pytest.raises(ValidationError) as exc:
        services.number_transition(
            number=number, to_status=NumberStatus.RESERVED, actor=agent_a, reason="hold", subscriber=SubscriberFactory()
        )
    assert exc.value.code == "subscriber_not_allowed"
    assert number_snapshot(number) == before
    # Without the subscriber the same move is fine.
    reserved = services.number_transition(number=number, to_status=NumberStatus.RESERVED, actor=agent_a, reason="hold")
    assert (reserved.status, reserved.holder) == (NumberStatus.RESERVED, None)


def test_withdrawal_closes_the_holding_and_clears_the_holder(supervisor_a, branch_a):
    holder = SubscriberFactory()
    number = number_in_state(NumberStatus.SUSPENDED, actor=supervisor_a, branch=branch_a, subscriber=holder)

    withdrawn = withdraw_as_lifecycle(number, actor=supervisor_a, reason="90 days without top-up")

    withdrawn.refresh_from_db()
    assert withdrawn.status == NumberStatus.WITHDRAWN
    assert withdrawn.holder is None
    assert withdrawn.activated_at is None
    holding = Holding.objects.get(number=withdrawn)
    assert holding.subscriber == holder
    assert holding.ended_at == withdrawn.status_changed_at
    assert holding.end_reason == HoldingEndReason.WITHDRAWAL
    assert holding.ended_by == supervisor_a
    assert holding.end_note == "90 days without top-up"
    assert not Holding.objects.open().filter(number=withdrawn).exists()
    record = withdrawn.history.first()
    assert (record.history_user, record.history_change_reason) == (supervisor_a, "90 days without top-up")
    assert holding.history.first().history_user == supervisor_a


def test_a_recycled_number_is_sold_again_with_a_new_holding(supervisor_a, agent_a, branch_a):
    first = SubscriberFactory()
    number = number_in_state(NumberStatus.AGING, actor=supervisor_a, branch=branch_a, subscriber=first)
    quarantine_over(number)
    number = services.number_transition(
        number=number, to_status=NumberStatus.AVAILABLE, actor=supervisor_a, reason="quarantine over"
    )
    second = SubscriberFactory()

    number = services.number_sell(number=number, subscriber=second, actor=agent_a, reason="resale")

    assert number.holder == second
    holdings = list(Holding.objects.filter(number=number).order_by("started_at"))
    assert [h.subscriber for h in holdings] == [first, second]
    assert [h.is_open for h in holdings] == [False, True]


# --- Reasons ----------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_a_blank_reason_is_refused_with_no_change(agent_a, branch_a, reason):
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    before = number_snapshot(number)
    with pytest.raises(ValidationError) as exc:
        services.number_transition(number=number, to_status=NumberStatus.SUSPENDED, actor=agent_a, reason=reason)
    assert exc.value.code == "reason_required"
    assert number_snapshot(number) == before
    # The same move with a reason goes through.
    moved = services.number_transition(number=number, to_status=NumberStatus.SUSPENDED, actor=agent_a, reason="why")
    assert moved.status == NumberStatus.SUSPENDED


# --- Authority --------------------------------------------------------------


def test_agent_acts_only_in_their_own_branch(agent_a, supervisor_b, branch_a, branch_b):
    own = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    other = number_in_state(NumberStatus.ACTIVE, actor=supervisor_b, branch=branch_b)
    before = number_snapshot(other)

    with pytest.raises(PermissionDenied):
        services.number_transition(number=other, to_status=NumberStatus.SUSPENDED, actor=agent_a, reason="unpaid")
    assert number_snapshot(other) == before

    moved = services.number_transition(number=own, to_status=NumberStatus.SUSPENDED, actor=agent_a, reason="unpaid")
    assert moved.status == NumberStatus.SUSPENDED


def test_supervisor_acts_only_in_their_own_branch(supervisor_a, supervisor_b, branch_a, branch_b):
    other = number_in_state(NumberStatus.ACTIVE, actor=supervisor_b, branch=branch_b)
    before = number_snapshot(other)
    with pytest.raises(PermissionDenied):
        services.number_transition(number=other, to_status=NumberStatus.BLOCKED, actor=supervisor_a, reason="x")
    assert number_snapshot(other) == before
    moved = services.number_transition(number=other, to_status=NumberStatus.BLOCKED, actor=supervisor_b, reason="x")
    assert moved.status == NumberStatus.BLOCKED


def test_withdrawal_by_a_status_change_is_refused_to_everyone(agent_a, supervisor_a, admin_user, branch_a):
    """An agent lacks the authority; a supervisor or a superuser is sent to the withdrawal request."""
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    before = number_snapshot(number)

    with pytest.raises(PermissionDenied):
        services.number_transition(number=number, to_status=NumberStatus.WITHDRAWN, actor=agent_a, reason="inactive")
    for actor in (supervisor_a, admin_user):
        with pytest.raises(IllegalMove) as exc:
            services.number_transition(number=number, to_status=NumberStatus.WITHDRAWN, actor=actor, reason="inactive")
        assert exc.value.code == "withdrawal_needs_request"
    assert number_snapshot(number) == before


def test_complaint_handler_blocks_and_unblocks_but_does_no_counter_work(handler_a, agent_a, branch_a):
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    holder_id = number.holder_id

    blocked = services.number_block(number=number, actor=handler_a, reason="Complaint C-1: stolen SIM")
    assert (blocked.status, blocked.holder_id) == (NumberStatus.BLOCKED, holder_id)

    unblocked = services.number_unblock(
        number=blocked, actor=handler_a, reason="Complaint C-1 closed", to_status=NumberStatus.SUSPENDED
    )
    assert (unblocked.status, unblocked.holder_id) == (NumberStatus.SUSPENDED, holder_id)

    before = number_snapshot(number)
    with pytest.raises(PermissionDenied):
        services.number_transition(number=number, to_status=NumberStatus.ACTIVE, actor=handler_a, reason="paid")
    assert number_snapshot(number) == before

    fresh = number_in_state(NumberStatus.AVAILABLE, actor=agent_a, branch=branch_a)
    with pytest.raises(PermissionDenied):
        services.number_sell(number=fresh, subscriber=SubscriberFactory(), actor=handler_a, reason="sale")
    assert MobileNumber.objects.get(pk=fresh.pk).status == NumberStatus.AVAILABLE


def test_agent_cannot_block(agent_a, branch_a):
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    before = number_snapshot(number)
    with pytest.raises(PermissionDenied):
        services.number_block(number=number, actor=agent_a, reason="complaint")
    assert number_snapshot(number) == before


def test_unblock_refuses_a_number_that_is_not_blocked(handler_a, agent_a, branch_a):
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    before = number_snapshot(number)
    with pytest.raises(IllegalMove) as exc:
        services.number_unblock(number=number, actor=handler_a, reason="closed")
    assert exc.value.code == "not_blocked"
    assert number_snapshot(number) == before


def test_unblock_cannot_withdraw(handler_a, supervisor_a, branch_a):
    number = number_in_state(NumberStatus.BLOCKED, actor=supervisor_a, branch=branch_a)
    before = number_snapshot(number)
    with pytest.raises(IllegalMove):
        services.number_unblock(number=number, actor=supervisor_a, reason="x", to_status=NumberStatus.WITHDRAWN)
    assert number_snapshot(number) == before


@pytest.mark.parametrize(
    ("state", "to_status"),
    [
        (NumberStatus.AVAILABLE, NumberStatus.RESERVED),
        (NumberStatus.ACTIVE, NumberStatus.SUSPENDED),
        (NumberStatus.ACTIVE, NumberStatus.BLOCKED),
        (NumberStatus.ACTIVE, NumberStatus.WITHDRAWN),
        (NumberStatus.BLOCKED, NumberStatus.ACTIVE),
        (NumberStatus.WITHDRAWN, NumberStatus.AGING),
        (NumberStatus.AGING, NumberStatus.AVAILABLE),
    ],
)
def test_auditor_can_change_nothing(auditor, supervisor_a, branch_a, state, to_status):
    number = number_in_state(state, actor=supervisor_a, branch=branch_a)
    before = number_snapshot(number)
    with pytest.raises(PermissionDenied):
        services.number_transition(number=number, to_status=to_status, actor=auditor, reason="audit")
    assert number_snapshot(number) == before
    # The same move is fine for the branch's supervisor: the refusal is about who acts.
    if state == NumberStatus.ACTIVE and to_status == NumberStatus.WITHDRAWN:
        return  # not by a status change, for anyone: see test_withdrawal_by_a_status_change_is_refused_to_everyone
    if state == NumberStatus.AGING:
        quarantine_over(number)
    services.number_transition(number=number, to_status=to_status, actor=supervisor_a, reason="audit")


def test_auditor_cannot_sell_top_up_or_create(auditor, supervisor_a, branch_a):
    available = number_in_state(NumberStatus.AVAILABLE, actor=supervisor_a, branch=branch_a)
    active = number_in_state(NumberStatus.ACTIVE, actor=supervisor_a, branch=branch_a)
    before = (number_snapshot(available), number_snapshot(active), MobileNumber.objects.count())
    with pytest.raises(PermissionDenied):
        services.number_sell(number=available, subscriber=SubscriberFactory(), actor=auditor, reason="x")
    with pytest.raises(PermissionDenied):
        services.number_record_topup(number=active, actor=auditor, reason="x")
    with pytest.raises(PermissionDenied):
        services.number_create(msisdn="012 888 777", branch=branch_a, actor=auditor, reason="x")
    assert (number_snapshot(available), number_snapshot(active), MobileNumber.objects.count()) == before


def test_a_suspended_employee_can_no_longer_act(admin_user, agent_a, branch_a):
    first = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    second = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    services.number_transition(number=first, to_status=NumberStatus.SUSPENDED, actor=agent_a, reason="unpaid")

    employee_set_status(
        employee=agent_a.employee, status=EmploymentStatus.SUSPENDED, actor=admin_user, reason="Under investigation"
    )
    # The next request loads the account afresh.
    agent = get_user_model().objects.get(pk=agent_a.pk)
    before = number_snapshot(second)
    with pytest.raises(PermissionDenied):
        services.number_transition(number=second, to_status=NumberStatus.SUSPENDED, actor=agent, reason="unpaid")
    with pytest.raises(PermissionDenied):
        services.number_record_topup(number=second, actor=agent, reason="paid")
    assert number_snapshot(second) == before

    employee_set_status(
        employee=agent.employee, status=EmploymentStatus.ACTIVE, actor=admin_user, reason="Investigation closed"
    )
    agent = get_user_model().objects.get(pk=agent_a.pk)
    moved = services.number_transition(number=second, to_status=NumberStatus.SUSPENDED, actor=agent, reason="unpaid")
    assert moved.status == NumberStatus.SUSPENDED


# --- Top-ups ----------------------------------------------------------------


@pytest.mark.parametrize("state", sorted(HELD_STATUSES))
def test_top_up_of_a_held_number(agent_a, supervisor_a, branch_a, state):
    number = number_in_state(state, actor=supervisor_a, branch=branch_a)
    before = number_snapshot(number)
    paid_at = timezone.now() + timedelta(minutes=5)

    topped = services.number_record_topup(number=number, actor=agent_a, reason="Top-up 5 USD", at=paid_at)

    topped.refresh_from_db()
    assert topped.last_topup_at == paid_at
    assert (topped.status, topped.holder_id, topped.status_changed_at) == (
        before["status"],
        before["holder_id"],
        before["status_changed_at"],
    )
    record = topped.history.first()
    assert (record.history_user, record.history_change_reason) == (agent_a, "Top-up 5 USD")


@pytest.mark.parametrize("state", sorted(set(ALL_STATUSES) - HELD_STATUSES))
def test_top_up_of_an_unheld_number_is_refused(agent_a, supervisor_a, branch_a, state):
    number = number_in_state(state, actor=supervisor_a, branch=branch_a)
    before = number_snapshot(number)
    with pytest.raises(ValidationError) as exc:
        services.number_record_topup(number=number, actor=agent_a, reason="Top-up")
    assert "only a held number is topped up" in exc.value.messages[0]
    assert number_snapshot(number) == before


def test_top_up_in_another_branch_or_without_reason_is_refused(agent_a, supervisor_b, branch_b):
    number = number_in_state(NumberStatus.ACTIVE, actor=supervisor_b, branch=branch_b)
    before = number_snapshot(number)
    with pytest.raises(PermissionDenied):
        services.number_record_topup(number=number, actor=agent_a, reason="Top-up")
    with pytest.raises(ValidationError):
        services.number_record_topup(number=number, actor=supervisor_b, reason=" ")
    assert number_snapshot(number) == before
    services.number_record_topup(number=number, actor=supervisor_b, reason="Top-up")
    assert number_snapshot(number)["last_topup_at"] > before["last_topup_at"]


# --- Creating numbers -------------------------------------------------------


def test_number_create_normalizes_and_enters_available(admin_user, branch_a):
    number = services.number_create(msisdn="012 345 678", branch=branch_a, actor=admin_user, reason="New block")
    number.refresh_from_db()
    assert number.msisdn == "+85512345678"
    assert (number.status, number.holder, number.branch) == (NumberStatus.AVAILABLE, None, branch_a)
    record = number.history.get()
    assert (record.history_type, record.history_user, record.history_change_reason) == ("+", admin_user, "New block")


@pytest.mark.parametrize("spelling", ["+855 12 345 678", "85512345678", "012-345-678", "(012) 345 678", "+85512345678"])
def test_number_create_refuses_a_duplicate_in_any_format(admin_user, branch_a, branch_b, spelling):
    services.number_create(msisdn="012 345 678", branch=branch_a, actor=admin_user, reason="New block")
    with pytest.raises(ValidationError) as exc:
        services.number_create(msisdn=spelling, branch=branch_b, actor=admin_user, reason="Again")
    assert exc.value.code == "duplicate"
    assert MobileNumber.objects.filter(msisdn="+85512345678").count() == 1
    assert MobileNumber.objects.get(msisdn="+85512345678").branch == branch_a


@pytest.mark.parametrize("persona", ["agent_a", "supervisor_a", "handler_a"])
def test_number_create_needs_add_mobilenumber(request, persona, branch_a):
    actor = request.getfixturevalue(persona)
    assert not actor.has_perm("numbers.add_mobilenumber")
    with pytest.raises(PermissionDenied):
        services.number_create(msisdn="012 345 678", branch=branch_a, actor=actor, reason="New block")
    assert not MobileNumber.objects.filter(msisdn="+85512345678").exists()


def test_number_create_refuses_bad_numbers_and_blank_reasons(admin_user, branch_a):
    with pytest.raises(InvalidMsisdn) as exc:
        services.number_create(msisdn="023 212 345", branch=branch_a, actor=admin_user, reason="New block")
    assert exc.value.code == "not_mobile"
    with pytest.raises(ValidationError) as exc:
        services.number_create(msisdn="012 345 678", branch=branch_a, actor=admin_user, reason="")
    assert exc.value.code == "reason_required"
    assert MobileNumber.objects.count() == 0
