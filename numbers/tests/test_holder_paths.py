"""Every path other than the number services that could give an active number to
somebody else (or to nobody) is refused with a clear error, and leaves the
number, its holder and its holdings exactly as they were."""

from __future__ import annotations

import io
import json

import pytest
from django.core import serializers
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction
from django.utils import timezone

from demo.numbers_seed import withdraw_as_lifecycle
from numbers import services
from numbers.choices import (
    HELD_STATUSES,
    ConsentParty,
    HoldingEndReason,
    HoldingStartReason,
    NumberStatus,
    TransferState,
)
from numbers.exceptions import DeletionRefused, GuardedFieldChange, HolderChangeRefused
from numbers.models import Branch, Holding, MobileNumber, Subscriber, TransferRequest, service_write_scope
from tests.factories import MobileNumberFactory, SubscriberFactory, consent_by_code, consent_in_person, number_in_state
from tests.helpers import refused
from tests.snapshots import number_snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def other():
    return SubscriberFactory(full_name="Somebody Else")


# --- Saving an instance -------------------------------------------------------


def test_changing_the_holder_and_saving_is_refused(active, holder, other):
    before = number_snapshot(active)
    active.holder = other

    error = refused(HolderChangeRefused, active.save)

    assert error.code == "holder_change_refused"
    assert active.msisdn in error.messages[0]
    assert "consent of both subscribers" in error.messages[0]
    assert number_snapshot(active) == before
    assert MobileNumber.objects.get(pk=active.pk).holder == holder


@pytest.mark.parametrize("update_fields", [None, ["holder"], ["last_topup_at"]])
def test_changing_the_holder_id_is_refused_whatever_is_saved(active, other, update_fields):
    before = number_snapshot(active)
    active.holder_id = other.pk
    refused(HolderChangeRefused, lambda: active.save(update_fields=update_fields))
    assert number_snapshot(active) == before


def test_removing_the_holder_and_saving_is_refused(active):
    before = number_snapshot(active)
    active.holder = None
    active.status = NumberStatus.AVAILABLE
    refused(HolderChangeRefused, active.save)
    assert number_snapshot(active) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("status", NumberStatus.SUSPENDED),
        ("status", NumberStatus.BLOCKED),
        ("status_changed_at", timezone.now()),
        ("activated_at", None),
    ],
)
def test_changing_a_guarded_field_and_saving_is_refused(active, field, value):
    before = number_snapshot(active)
    setattr(active, field, value)

    error = refused(GuardedFieldChange, active.save)

    assert not isinstance(error, HolderChangeRefused)
    assert error.code == "guarded_field_change"
    assert field in error.messages[0]
    assert number_snapshot(active) == before


def test_saving_a_stale_copy_does_not_undo_a_service_move(active, supervisor_a):
    stale = MobileNumber.objects.get(pk=active.pk)
    withdraw_as_lifecycle(active, actor=supervisor_a, reason="policy")
    after = number_snapshot(active)
    refused(GuardedFieldChange, stale.save)
    assert number_snapshot(active) == after
    assert after["holder_id"] is None


def test_saving_unguarded_fields_is_allowed(active, branch_b, holder):
    active.branch = branch_b
    active.save()
    fresh = MobileNumber.objects.get(pk=active.pk)
    assert (fresh.branch, fresh.holder, fresh.status) == (branch_b, holder, NumberStatus.ACTIVE)


# --- Queryset writes ------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        lambda other: {"holder": other},
        lambda other: {"holder_id": other.pk},
        lambda other: {"holder": None, "status": NumberStatus.AVAILABLE},
        lambda other: {"status": NumberStatus.SUSPENDED},
        lambda other: {"status_changed_at": timezone.now()},
        lambda other: {"activated_at": None},
    ],
    ids=["holder", "holder_id", "holder+status", "status", "status_changed_at", "activated_at"],
)
def test_queryset_update_of_guarded_fields_is_refused(active, other, changes):
    before = number_snapshot(active)
    error = refused(GuardedFieldChange, lambda: MobileNumber.objects.filter(pk=active.pk).update(**changes(other)))
    assert error.code == "guarded_bulk_write"
    assert number_snapshot(active) == before


def test_queryset_update_of_other_fields_is_allowed(active, holder):
    paid_at = timezone.now()
    assert MobileNumber.objects.filter(pk=active.pk).update(last_topup_at=paid_at) == 1
    fresh = MobileNumber.objects.get(pk=active.pk)
    assert (fresh.last_topup_at, fresh.holder) == (paid_at, holder)


@pytest.mark.parametrize("fields", [["holder"], ["holder_id"], ["status"], ["holder", "last_topup_at"]])
def test_bulk_update_of_guarded_fields_is_refused(active, other, fields):
    before = number_snapshot(active)
    active.holder = other
    active.status = NumberStatus.SUSPENDED
    error = refused(GuardedFieldChange, lambda: MobileNumber.objects.bulk_update([active], fields))
    assert error.code == "guarded_bulk_write"
    assert number_snapshot(active) == before


def test_bulk_update_of_other_fields_is_allowed(active, holder):
    active.last_topup_at = timezone.now()
    MobileNumber.objects.bulk_update([active], ["last_topup_at"])
    fresh = MobileNumber.objects.get(pk=active.pk)
    assert (fresh.last_topup_at, fresh.holder) == (active.last_topup_at, holder)


def test_bulk_create_upsert_of_guarded_fields_is_refused(active, branch_a):
    """An upsert on the msisdn would reset a held number to available with nobody."""
    before = number_snapshot(active)
    replacement = MobileNumber(msisdn=active.msisdn, branch=branch_a, status=NumberStatus.AVAILABLE)
    error = refused(
        GuardedFieldChange,
        lambda: MobileNumber.objects.bulk_create(
            [replacement], update_conflicts=True, unique_fields=["msisdn"], update_fields=["status", "holder"]
        ),
    )
    assert error.code == "guarded_bulk_write"
    assert number_snapshot(active) == before


def test_bulk_create_upsert_cannot_skip_the_lifecycle(supervisor_a, branch_a):
    """withdrawn -> available is not in the table (a number ages first); an upsert
    must not make the move that number_transition refuses."""
    withdrawn = number_in_state(NumberStatus.WITHDRAWN, actor=supervisor_a, branch=branch_a)
    before = number_snapshot(withdrawn)
    restock = MobileNumber(msisdn=withdrawn.msisdn, branch=branch_a, status=NumberStatus.AVAILABLE)
    refused(
        GuardedFieldChange,
        lambda: MobileNumber.objects.bulk_create(
            [restock], update_conflicts=True, unique_fields=["msisdn"], update_fields=["status", "status_changed_at"]
        ),
    )
    assert number_snapshot(withdrawn) == before


def test_bulk_create_upsert_of_other_fields_is_allowed(active, holder, branch_a, branch_b):
    again = [MobileNumber(msisdn=active.msisdn, branch=branch_a), MobileNumber(msisdn="+85512345670", branch=branch_a)]
    MobileNumber.objects.bulk_create(again, ignore_conflicts=True)
    moved = [MobileNumber(msisdn=active.msisdn, branch=branch_b)]
    MobileNumber.objects.bulk_create(moved, update_conflicts=True, unique_fields=["msisdn"], update_fields=["branch"])
    fresh = MobileNumber.objects.get(pk=active.pk)
    assert (fresh.status, fresh.holder, fresh.branch) == (NumberStatus.ACTIVE, holder, branch_b)
    assert MobileNumber.objects.get(msisdn="+85512345670").status == NumberStatus.AVAILABLE


def test_reverse_relation_add_cannot_take_a_number(active, holder, other):
    """``other.numbers.add(number)`` writes the holder with a bulk update."""
    before = number_snapshot(active)

    def fresh():  # add() sets the holder on the instance before it writes
        return MobileNumber.objects.get(pk=active.pk)

    refused(GuardedFieldChange, lambda: other.numbers.add(fresh()))
    refused(HolderChangeRefused, lambda: other.numbers.add(fresh(), bulk=False))
    refused(GuardedFieldChange, lambda: other.numbers.set([fresh()]))
    refused(GuardedFieldChange, lambda: holder.numbers.remove(fresh()))
    refused(GuardedFieldChange, lambda: holder.numbers.clear())
    refused(GuardedFieldChange, lambda: holder.numbers.set([]))
    assert number_snapshot(active) == before
    assert list(holder.numbers.all()) == [active]


def test_reverse_relation_add_cannot_move_a_holding(active, other, branch_a):
    holding = active.holdings.get()
    elsewhere = MobileNumberFactory(branch=branch_a)
    before = number_snapshot(active)
    refused(GuardedFieldChange, lambda: other.holdings.add(holding))
    refused(GuardedFieldChange, lambda: elsewhere.holdings.add(holding))
    assert number_snapshot(active) == before
    assert not elsewhere.holdings.exists()


# --- New numbers ------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(set(NumberStatus.values) - {NumberStatus.AVAILABLE}))
def test_creating_a_number_in_any_state_but_available_is_refused(branch_a, other, status):
    holder = other if status in HELD_STATUSES else None
    error = refused(
        GuardedFieldChange,
        lambda: MobileNumber.objects.create(msisdn="+85512345678", branch=branch_a, status=status, holder=holder),
    )
    assert error.code == "guarded_create"
    refused(
        GuardedFieldChange,
        lambda: MobileNumber.objects.bulk_create(
            [MobileNumber(msisdn="+85512345678", branch=branch_a, status=status, holder=holder)]
        ),
    )
    assert not MobileNumber.objects.exists()
    assert not Holding.objects.exists()


def test_creating_an_available_number_with_a_holder_is_refused(branch_a, other):
    refused(
        GuardedFieldChange, lambda: MobileNumber.objects.create(msisdn="+85512345678", branch=branch_a, holder=other)
    )
    assert not MobileNumber.objects.exists()


def test_creating_available_numbers_directly_is_allowed(branch_a):
    MobileNumber.objects.create(msisdn="+85512345678", branch=branch_a)
    MobileNumber.objects.bulk_create(MobileNumber(msisdn=f"+8551234567{i}", branch=branch_a) for i in range(2))
    assert sorted(MobileNumber.objects.values_list("msisdn", flat=True)) == [
        "+85512345670",
        "+85512345671",
        "+85512345678",
    ]
    assert not MobileNumber.objects.exclude(status=NumberStatus.AVAILABLE).exists()


# --- The holding ledger -------------------------------------------------------------


def test_creating_a_holding_outside_the_services_is_refused(active, other, branch_a):
    available = MobileNumberFactory(branch=branch_a)
    error = refused(
        GuardedFieldChange,
        lambda: Holding.objects.create(number=available, subscriber=other, start_reason=HoldingStartReason.SALE),
    )
    assert error.code == "ledger_write_refused"
    refused(
        GuardedFieldChange,
        lambda: Holding.objects.bulk_create(
            [Holding(number=available, subscriber=other, start_reason=HoldingStartReason.SALE)]
        ),
    )
    refused(
        GuardedFieldChange,
        lambda: available.holdings.create(subscriber=other, start_reason=HoldingStartReason.SALE),
    )
    assert not available.holdings.exists()


def test_changing_a_holding_outside_the_services_is_refused(active, holder, other):
    before = number_snapshot(active)
    holding = active.holdings.get()

    holding.subscriber = other
    refused(GuardedFieldChange, holding.save)
    holding.refresh_from_db()
    holding.ended_at, holding.end_reason = timezone.now(), HoldingEndReason.WITHDRAWAL
    refused(GuardedFieldChange, holding.save)
    holding.refresh_from_db()
    refused(GuardedFieldChange, lambda: Holding.objects.filter(pk=holding.pk).update(subscriber=other))
    refused(GuardedFieldChange, lambda: Holding.objects.filter(pk=holding.pk).update(start_note="edited"))
    holding.subscriber = other
    refused(GuardedFieldChange, lambda: Holding.objects.bulk_update([holding], ["subscriber"]))

    assert number_snapshot(active) == before
    assert Holding.objects.get(pk=holding.pk).subscriber == holder


# --- Fixtures -----------------------------------------------------------------------


def _number_fixture(number: MobileNumber, **changes) -> list[dict]:
    data = json.loads(serializers.serialize("json", [number]))
    data[0]["fields"].update(changes)
    return data


def _write(tmp_path, name: str, data: list[dict]) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(data))
    return str(path)


def test_loaddata_cannot_give_a_held_number_to_somebody_else(active, holder, other, tmp_path):
    before = number_snapshot(active)
    fixture = _write(tmp_path, "takeover", _number_fixture(active, holder=other.pk))

    with pytest.raises(HolderChangeRefused):
        call_command("loaddata", fixture, verbosity=0)

    assert number_snapshot(active) == before
    assert MobileNumber.objects.get(pk=active.pk).holder == holder


def test_loaddata_cannot_release_a_held_number(active, tmp_path):
    before = number_snapshot(active)
    fixture = _write(
        tmp_path, "release", _number_fixture(active, holder=None, status=NumberStatus.AVAILABLE, activated_at=None)
    )
    with pytest.raises(HolderChangeRefused):
        call_command("loaddata", fixture, verbosity=0)
    assert number_snapshot(active) == before


def test_loaddata_cannot_write_the_ledger(active, other, tmp_path):
    before = number_snapshot(active)
    data = json.loads(serializers.serialize("json", [active.holdings.get()]))
    data[0]["fields"]["subscriber"] = other.pk
    with pytest.raises(GuardedFieldChange):
        call_command("loaddata", _write(tmp_path, "ledger", data), verbosity=0)
    assert number_snapshot(active) == before


def test_loaddata_of_new_available_numbers_is_allowed(active, branch_a, tmp_path):
    data = [
        {
            "model": "numbers.mobilenumber",
            "pk": active.pk + 1000,
            "fields": {"msisdn": "+85512345670", "branch": branch_a.pk, "status": NumberStatus.AVAILABLE},
        }
    ]
    call_command("loaddata", _write(tmp_path, "stock", data), verbosity=0)
    loaded = MobileNumber.objects.get(msisdn="+85512345670")
    assert (loaded.status, loaded.holder, loaded.branch) == (NumberStatus.AVAILABLE, None, branch_a)


# --- The number command ----------------------------------------------------------


def run(*args) -> str:
    out = io.StringIO()
    call_command("number", *args, stdout=out)
    return out.getvalue()


def test_command_sell_of_an_active_number_is_refused(active, holder, other):
    before = number_snapshot(active)
    with pytest.raises(CommandError) as exc:
        run("sell", active.msisdn, "--subscriber", str(other.pk), "--actor", "agent_a", "--reason", "walk-in sale")
    assert "Refused, nothing changed" in str(exc.value)
    assert "not for sale" in str(exc.value)
    assert number_snapshot(active) == before
    assert MobileNumber.objects.get(pk=active.pk).holder == holder


def test_command_sells_an_available_number(agent_a, branch_a, other):
    number = MobileNumberFactory(branch=branch_a)
    display = number.msisdn.replace("+855", "0")  # typed the way staff type it

    output = run("sell", display, "--subscriber", str(other.pk), "--actor", "agent_a", "--reason", "walk-in sale")

    number.refresh_from_db()
    assert (number.status, number.holder) == (NumberStatus.ACTIVE, other)
    holding = Holding.objects.get(number=number)
    assert (holding.started_by, holding.start_note) == (agent_a, "walk-in sale")
    assert f"{number.msisdn} active held by {other}" in output


def test_command_sells_to_a_subscriber_named_by_document(agent_a, branch_a):
    buyer = SubscriberFactory(id_document_type="passport", id_document_number="N01234567")
    number = MobileNumberFactory(branch=branch_a)
    run("sell", number.msisdn, "--subscriber", "passport:n0-1234 567", "--actor", "agent_a", "--reason", "sale")
    assert MobileNumber.objects.get(pk=number.pk).holder == buyer


def test_command_sell_to_an_unknown_subscriber_is_refused(agent_a, branch_a):
    number = MobileNumberFactory(branch=branch_a)
    with pytest.raises(CommandError, match="No subscriber"):
        run("sell", number.msisdn, "--subscriber", "passport:NOBODY", "--actor", "agent_a", "--reason", "sale")
    assert MobileNumber.objects.get(pk=number.pk).status == NumberStatus.AVAILABLE


def test_command_moves_a_number(active, agent_a, holder):
    output = run("move", active.msisdn, "suspended", "--actor", "agent_a", "--reason", "unpaid")
    fresh = MobileNumber.objects.get(pk=active.pk)
    assert (fresh.status, fresh.holder) == (NumberStatus.SUSPENDED, holder)
    record = fresh.history.first()
    assert (record.history_user, record.history_change_reason) == (agent_a, "unpaid")
    assert "suspended held by" in output


def test_command_refuses_a_move_without_authority_or_off_the_table(active, supervisor_a):
    before = number_snapshot(active)
    with pytest.raises(CommandError, match="Refused, nothing changed: You have no authority"):
        run("move", active.msisdn, "withdrawn", "--actor", "agent_a", "--reason", "inactive")
    with pytest.raises(CommandError, match="Refused, nothing changed: .*cannot move from active to aging"):
        run("move", active.msisdn, "aging", "--actor", "supervisor_a", "--reason", "x")
    with pytest.raises(CommandError, match="Refused, nothing changed: A reason is required"):
        run("move", active.msisdn, "suspended", "--actor", "agent_a", "--reason", " ")
    assert number_snapshot(active) == before


def test_command_records_a_top_up(active):
    before = number_snapshot(active)
    paid_before = MobileNumber.objects.get(pk=active.pk).last_topup_at
    run("topup", active.msisdn, "--actor", "agent_a", "--reason", "5 USD")
    fresh = MobileNumber.objects.get(pk=active.pk)
    assert fresh.last_topup_at > paid_before
    assert fresh.history.first().history_change_reason == "5 USD"
    assert (fresh.status, fresh.holder_id) == (before["status"], before["holder_id"])


def test_command_shows_a_number(active, holder):
    output = run("show", active.msisdn.replace("+855", "855"))
    lines = output.splitlines()
    assert lines[0] == f"{active.msisdn} active held by {holder} (branch branch-a)"
    assert lines[1].endswith(f"(sale) to now: {holder}")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "+85512999999"), "+85512999999 is not in the inventory."),
        (("show", "023 212 345"), "not a mobile number"),
        (("move", "{msisdn}", "suspended", "--actor", "nobody", "--reason", "x"), "No user named nobody."),
    ],
)
def test_command_refuses_unknown_numbers_and_actors(active, args, message):
    before = number_snapshot(active)
    with pytest.raises(CommandError) as exc:
        run(*(arg.format(msisdn=active.msisdn) for arg in args))
    assert message in str(exc.value)
    assert number_snapshot(active) == before


# --- The sale service cannot resell a held number ----------------------------------


@pytest.mark.parametrize("state", sorted(HELD_STATUSES))
@pytest.mark.parametrize("to_status", [NumberStatus.ACTIVE, NumberStatus.SUSPENDED])
@pytest.mark.parametrize("buyer", ["other", "holder"])
def test_transition_with_a_subscriber_on_a_held_number_is_refused(
    request, supervisor_a, branch_a, holder, state, to_status, buyer
):
    number = number_in_state(state, actor=supervisor_a, branch=branch_a, subscriber=holder)
    subscriber = request.getfixturevalue(buyer)
    before = number_snapshot(number)
    error = refused(
        HolderChangeRefused,
        lambda: services.number_transition(
            number=number,
            to_status=to_status,
            actor=supervisor_a,
            reason="resale",
            subscriber=subscriber,
        ),
    )
    assert error.code == "holder_change_refused"
    assert "not for sale" in error.messages[0]
    assert number_snapshot(number) == before


@pytest.mark.parametrize("state", sorted(HELD_STATUSES))
def test_number_sell_of_a_held_number_is_refused(supervisor_a, branch_a, holder, other, state):
    number = number_in_state(state, actor=supervisor_a, branch=branch_a, subscriber=holder)
    before = number_snapshot(number)
    refused(
        HolderChangeRefused,
        lambda: services.number_sell(number=number, subscriber=other, actor=supervisor_a, reason="resale"),
    )
    assert number_snapshot(number) == before


# --- Deletion -------------------------------------------------------------------------


@pytest.fixture
def evidence(active):
    """One row of each undeletable model."""
    return {
        MobileNumber: active,
        Subscriber: active.holder,
        Holding: active.holdings.get(),
        Branch: active.branch,
    }


@pytest.mark.parametrize("model", [MobileNumber, Subscriber, Holding, Branch], ids=lambda m: m.__name__)
@pytest.mark.parametrize("how", ["instance", "queryset", "all"])
def test_deletion_is_refused(evidence, model, how):
    row = evidence[model]
    counts = {m: m.objects.count() for m in evidence}
    delete = {
        "instance": row.delete,
        "queryset": model.objects.filter(pk=row.pk).delete,
        "all": model.objects.all().delete,
    }[how]

    error = refused(DeletionRefused, delete)

    assert error.code == "no_delete"
    assert "never deleted" in error.messages[0]
    assert {m: m.objects.count() for m in evidence} == counts


def test_deletion_through_a_relation_is_refused(evidence):
    number = evidence[MobileNumber]
    before = number_snapshot(number)
    refused(DeletionRefused, lambda: number.holdings.all().delete())
    refused(DeletionRefused, lambda: number.branch.numbers.all().delete())
    refused(DeletionRefused, lambda: number.holder.numbers.all().delete())
    assert number_snapshot(number) == before


# --- An open transfer request is no back door -------------------------------------------


@pytest.fixture
def consented(active, agent_a, other):
    """A request to give ``active`` to ``other`` with both consents: only approval is missing."""
    request = services.transfer_create(number=active, new_subscriber=other, actor=agent_a, reason="sold to a friend")
    consent_by_code(request, actor=agent_a)
    consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=agent_a)
    request.refresh_from_db()
    assert request.state == TransferState.AWAITING_APPROVAL
    return request


def _request_row(request):
    return TransferRequest.objects.filter(pk=request.pk).values().get()


@pytest.mark.parametrize("to_status", [NumberStatus.ACTIVE, NumberStatus.SUSPENDED])
def test_a_consented_request_does_not_let_a_move_hand_over_the_number(
    active, supervisor_a, other, consented, to_status
):
    before, request_before = number_snapshot(active), _request_row(consented)
    refused(
        HolderChangeRefused,
        lambda: services.number_transition(
            number=active, to_status=to_status, subscriber=other, actor=supervisor_a, reason="as agreed"
        ),
    )
    refused(
        HolderChangeRefused,
        lambda: services.number_sell(number=active, subscriber=other, actor=supervisor_a, reason="as agreed"),
    )
    assert number_snapshot(active) == before
    assert _request_row(consented) == request_before


def test_a_consented_request_does_not_let_a_save_hand_over_the_number(active, other, consented):
    before = number_snapshot(active)
    active.holder = other
    refused(HolderChangeRefused, active.save)
    assert number_snapshot(active) == before


def _hand_over_by_hand(number, request):
    now = timezone.now()
    Holding.objects.filter(number=number, ended_at__isnull=True).update(
        ended_at=now, end_reason=HoldingEndReason.TRANSFER
    )
    Holding.objects.create(
        number=number,
        subscriber=request.to_subscriber,
        started_at=now,
        start_reason=HoldingStartReason.TRANSFER,
        transfer_request=request,
    )


def test_a_transfer_holding_for_an_unapproved_request_is_refused(active, consented):
    """Written by hand it fails the ledger guard; inside the services' scope the
    database trigger still refuses it (the request is not executed)."""
    before, request_before = number_snapshot(active), _request_row(consented)

    error = refused(GuardedFieldChange, lambda: _hand_over_by_hand(active, consented))
    assert error.code == "ledger_write_refused"

    def in_scope():  # one transaction: the database refuses it whole
        with transaction.atomic(), service_write_scope():
            _hand_over_by_hand(active, consented)

    refused(IntegrityError, in_scope)
    assert number_snapshot(active) == before
    assert _request_row(consented) == request_before


def test_the_approved_transfer_is_the_way(active, other, consented, supervisor_a):
    """The allowed side of the tests above."""
    services.transfer_approve(request=consented, actor=supervisor_a, reason="both consents checked")
    assert MobileNumber.objects.get(pk=active.pk).holder == other
    assert Holding.objects.open().get(number=active).transfer_request == consented
