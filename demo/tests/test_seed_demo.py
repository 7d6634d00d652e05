"""seed_demo: every persona, numbers in every state, transfer requests for the
approval queue, idempotent, DEBUG only.

Seeding takes seconds, so the demo is seeded once for the session (conftest's
``seeded_demo``, shared with the other demo readers) inside a transaction rolled back
at its end; each test runs in a savepoint of it.
"""

from __future__ import annotations

from base64 import b32decode
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test.utils import override_settings
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from demo.complaints_seed import NUMBERS_LEFT_BLOCKED, WRONGFUL_TRANSFER_INDICES
from demo.numbers_seed import DEMO_LOCKED_INDEX, STATE_PLAN, demo_msisdn
from numbers import services
from numbers.choices import HELD_STATUSES, ConsentMethod, ConsentParty, NumberStatus, TransferState
from numbers.models import (
    Branch,
    Holding,
    MobileNumber,
    Subscriber,
    TransferConsent,
    TransferDispute,
    TransferLock,
    TransferRequest,
)
from staff.models import Employee
from staff.personas import DEMO_TOTP_KEY_BASE32, PERSONAS, demo_password, persona_needs_second_factor

User = get_user_model()

COUNTED = (
    User,
    Employee,
    Branch,
    Subscriber,
    MobileNumber,
    Holding,
    MobileNumber.history.model,
    TransferRequest,
    TransferRequest.history.model,
    TransferConsent,
    TransferLock,
    TransferDispute,
)


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


def test_refuses_to_run_with_debug_off(db, settings):
    """On the test database (the demo's readers run last): nothing may appear."""
    before = counts()
    settings.DEBUG = False
    out = StringIO()

    with pytest.raises(CommandError, match="DEBUG"):
        call_command("seed_demo", subscribers=20, stdout=out)

    assert counts() == before
    assert "Demo logins" not in out.getvalue()


@pytest.fixture(scope="module")
def seeded(seeded_demo, django_db_blocker):
    """The session's demo (conftest): its output and the counts right after it."""
    with django_db_blocker.unblock():
        return {"output": seeded_demo, "counts": counts()}


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


def test_privileged_personas_get_the_demo_authenticator_and_agents_none(seeded, db):
    for persona in PERSONAS:
        devices = TOTPDevice.objects.filter(user__username=persona.username, confirmed=True)
        if persona_needs_second_factor(persona):
            assert [d.key for d in devices] == [b32decode(DEMO_TOTP_KEY_BASE32).hex()], persona.username
        else:
            assert not devices.exists(), persona.username
    assert DEMO_TOTP_KEY_BASE32 in seeded["output"]


def test_creates_numbers_in_every_status(seeded, db):
    by_status = {status: MobileNumber.objects.filter(status=status).count() for status in NumberStatus.values}
    expected = {str(status): count for status, count in STATE_PLAN}
    # The complaint demo leaves a number blocked while its restoration awaits approval.
    expected[NumberStatus.ACTIVE] -= len(NUMBERS_LEFT_BLOCKED)
    expected[NumberStatus.BLOCKED] += len(NUMBERS_LEFT_BLOCKED)
    assert by_status == expected
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
    assert "Demo numbers already present; nothing to add." in out.getvalue()
    assert "Demo transfers already present; nothing to add." in out.getvalue()
    assert "Demo logins" in out.getvalue()


# --- Transfers ------------------------------------------------------------------


def persona(username: str):
    return User.objects.get(username=username)


def awaiting_approval(branch_code: str):
    return TransferRequest.objects.filter(state=TransferState.AWAITING_APPROVAL, branch__code=branch_code)


def by_code(requests) -> list:
    """The everyday requests: the holder read back the code sent to the number."""
    return [
        request
        for request in requests
        if request.consents.filter(party=ConsentParty.CURRENT_HOLDER, method=ConsentMethod.SMS_CODE).exists()
    ]


def assert_approvable(request, *, requester: str, supervisor: str, at=None) -> None:
    """Both consents stand, taken by the requester (the holder's by the code sent to
    the number, the new subscriber's in person), and the supervisor may approve."""
    assert request.requested_by == persona(requester)
    consents = request.consents.filter(revoked_at__isnull=True)
    assert {consent.party for consent in consents} == set(ConsentParty.values)
    assert {(consent.method, consent.captured_by.username) for consent in consents} == {
        (ConsentMethod.SMS_CODE, requester),
        (ConsentMethod.IN_PERSON, requester),
    }
    assert services.transfer_approval_blockers(request=request, actor=persona(supervisor), now=at) == []
    # Four eyes: the requester who took both consents may not approve it.
    assert services.transfer_approval_blockers(request=request, actor=persona(requester), now=at)


def assert_cooling_off(request, *, at=None) -> None:
    """The holder in person (SIM broken): photo on file, agent_a confirmed agent_b's
    check; no approval before the cooling-off, then two supervisors."""
    holder = request.consents.get(party=ConsentParty.CURRENT_HOLDER, revoked_at__isnull=True)
    assert (holder.method, holder.captured_by, holder.confirmed_by) == (
        ConsentMethod.IN_PERSON,
        persona("agent_b"),
        persona("agent_a"),
    )
    assert holder.document_photo and holder.is_standing(at)
    blockers = services.transfer_approval_blockers(request=request, actor=persona("supervisor_a"), now=at)
    assert [blocker for blocker in blockers if not blocker.startswith("Cooling-off")] == []
    assert blockers


def test_queues_requests_that_supervisor_a_may_approve(seeded, db):
    waiting = list(awaiting_approval("branch-a"))
    assert len(waiting) >= 2
    everyday = by_code(waiting)
    assert everyday
    for request in everyday:
        assert_approvable(request, requester="agent_a", supervisor="supervisor_a")
    (in_person,) = [request for request in waiting if request not in everyday]
    assert_cooling_off(in_person)
    branch_b = list(awaiting_approval("branch-b"))
    assert len(branch_b) == 1
    assert_approvable(branch_b[0], requester="agent_c", supervisor="supervisor_b")


def test_seeds_a_request_in_every_other_state_and_a_lock(seeded, db):
    (awaiting_consent,) = TransferRequest.objects.filter(state=TransferState.AWAITING_CONSENT, branch__code="branch-a")
    assert list(awaiting_consent.consents.values_list("party", flat=True)) == [ConsentParty.NEW_SUBSCRIBER]

    # The complaint demo's wrongful transfers are executed too; this is the numbers demo's own.
    (executed,) = TransferRequest.objects.filter(state=TransferState.EXECUTED).exclude(
        number__msisdn__in=[demo_msisdn(index) for index in WRONGFUL_TRANSFER_INDICES]
    )
    assert (executed.branch.code, executed.requested_by, executed.decided_by) == (
        "branch-a",
        persona("agent_b"),
        persona("supervisor_a"),
    )
    assert executed.number.holder == executed.to_subscriber
    assert executed.opened_holding.subscriber == executed.to_subscriber

    (rejected,) = TransferRequest.objects.filter(state=TransferState.REJECTED)
    assert (rejected.branch.code, rejected.decided_by) == ("branch-a", persona("supervisor_a"))
    assert rejected.decision_reason.strip()
    assert rejected.number.holder == rejected.from_holder

    (disputed,) = TransferDispute.objects.all()
    assert disputed.request.state == TransferState.CANCELLED
    assert (disputed.request.branch.code, disputed.sender) == ("branch-b", disputed.request.number.msisdn)

    (lock,) = TransferLock.objects.all()
    assert lock.is_active and lock.number.msisdn == demo_msisdn(DEMO_LOCKED_INDEX)
    assert lock.subscriber == lock.number.holder


def test_tells_the_newcomer_where_to_try_a_transfer(seeded, db):
    output = seeded["output"]
    lines = output.splitlines()
    assert output.index("Demo logins") < output.index("Try a dual-consent transfer")
    assert any("agent_a" in line and "/transfers/" in line for line in lines)
    assert any("supervisor_a" in line and "/approvals/" in line for line in lines)
    assert any("/dev/phone/" in line and "code" in line for line in lines)


@pytest.mark.parametrize(
    ("days_later", "expiry_job_ran"),
    [(4, False), (8, False), (8, True)],
    ids=["consents-lapsed", "past-expiry", "expired-by-the-job"],
)
def test_seeding_days_later_refills_the_queue(seeded, db, days_later, expiry_job_ran):
    """A demo seeded last week still has requests a supervisor can approve after `make demo`."""
    later = timezone.now() + timedelta(days=days_later)
    stale = set(awaiting_approval("branch-a").values_list("pk", flat=True))
    assert services.transfer_approval_blockers(
        request=awaiting_approval("branch-a")[0], actor=persona("supervisor_a"), now=later
    )
    if expiry_job_ran:
        assert services.transfer_expire_due(now=later) == len(stale) + 2  # and branch B's and the one awaiting consent
    decided = set(TransferRequest.objects.filter(state__in=[TransferState.EXECUTED, TransferState.REJECTED]))

    with time_machine.travel(later, tick=False), override_settings(DEBUG=True):
        call_command("seed_demo", subscribers=20, stdout=StringIO())
        fresh = list(awaiting_approval("branch-a"))
        assert len(fresh) == len(stale) and not stale & {request.pk for request in fresh}
        for request in fresh:
            if request in by_code(fresh):
                assert_approvable(request, requester="agent_a", supervisor="supervisor_a", at=later)
            else:
                assert_cooling_off(request, at=later)
        (branch_b,) = awaiting_approval("branch-b")
        assert_approvable(branch_b, requester="agent_c", supervisor="supervisor_b", at=later)
        # Decided requests are history: not made again.
        assert (
            set(TransferRequest.objects.filter(state__in=[TransferState.EXECUTED, TransferState.REJECTED])) == decided
        )
        assert TransferRequest.objects.filter(state=TransferState.AWAITING_CONSENT).count() == 1
        # And seeding once more that day changes nothing.
        before = counts()
        call_command("seed_demo", subscribers=20, stdout=StringIO())
        assert counts() == before
