"""The complaint demo (seeded by seed_demo after the numbers): complaints in every
state, a breached and a due-soon clock, branch B unassigned, the incident from the
wrongful transfer to the regulator's case, and a restoration and an offer left for
supervisor_a; built through the services, and idempotent.

Seeding takes seconds, so the demo is seeded once for the session (conftest's
``seeded_demo``, shared with the other demo readers) inside a transaction rolled back
at its end; each test runs in a savepoint of it.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test.utils import override_settings
from django.utils import timezone

from complaints import services as cs
from complaints.choices import (
    Channel,
    ComplaintCategory,
    ComplaintState,
    EventKind,
    OfferState,
    Regulator,
    RestorationState,
    Severity,
    SlaStatus,
)
from complaints.models import (
    CASE_MODELS,
    CompensationOffer,
    Complaint,
    ComplaintEvent,
    EmergencyBlock,
)
from demo.complaints_seed import (
    DEMO_REFRESH_REASON,
    INCIDENT_DESCRIPTION,
    INCIDENT_INDEX,
    NUMBERS_LEFT_BLOCKED,
    TRY_IT_DESCRIPTION,
    TRY_IT_INDEX,
    WRONGFUL_TRANSFER_INDICES,
)
from demo.numbers_seed import demo_msisdn
from numbers.choices import NumberStatus, TransferState
from numbers.models import Holding, MobileNumber, TransferRequest

User = get_user_model()


def counts() -> dict[str, tuple[int, int]]:
    return {model.__name__: (model.objects.count(), model.history.count()) for model in CASE_MODELS}


def seed(**kwargs) -> str:
    out = StringIO()
    with override_settings(DEBUG=True):
        call_command("seed_demo", subscribers=20, stdout=out, **kwargs)
    return out.getvalue()


@pytest.fixture(scope="module")
def seeded(seeded_demo, django_db_blocker):
    """The session's demo (conftest): its output and the counts right after it."""
    with django_db_blocker.unblock():
        return {"output": seeded_demo, "counts": counts()}


def persona(username: str):
    return User.objects.get(username=username)


def incident() -> Complaint:
    return Complaint.objects.get(description=INCIDENT_DESCRIPTION)


def try_it() -> Complaint:
    return Complaint.objects.get(description=TRY_IT_DESCRIPTION)


# --- Every state, both branches, the clocks ------------------------------------------------


def test_seeds_complaints_in_every_state(seeded, db):
    states = set(Complaint.objects.values_list("state", flat=True))
    assert states == set(ComplaintState.values)
    assert "Created complaint demo:" in seeded["output"]
    assert "skipped" not in seeded["output"]


def test_branch_a_is_handled_by_handler_a_and_branch_b_waits_unassigned(seeded, db):
    handler_a = persona("handler_a")
    branch_a = Complaint.objects.filter(branch__code="branch-a")
    branch_b = Complaint.objects.filter(branch__code="branch-b")
    assert branch_a.exists() and branch_b.count() >= 2
    assert set(branch_a.values_list("assigned_to", flat=True)) == {handler_a.pk}
    assert set(branch_b.values_list("assigned_to", flat=True)) == {None}
    assert set(branch_b.values_list("state", flat=True)) == {ComplaintState.NEW}
    for complaint in branch_a:
        assert handler_a.has_perm("complaints.handle_complaint", complaint), complaint


def test_one_complaint_has_a_breach_on_record_and_one_is_due_soon(seeded, db):
    now = timezone.now()
    statuses = {complaint.pk: complaint.sla_status(now) for complaint in Complaint.objects.all()}
    breached = [c for c in Complaint.objects.all() if c.breaches_on_record]
    assert breached and all(statuses[c.pk] == SlaStatus.BREACHED for c in breached)
    assert {c.branch.code for c in breached} == {"branch-a", "branch-b"}
    assert SlaStatus.DUE_SOON in statuses.values()
    assert {SlaStatus.ON_TIME, SlaStatus.MET} <= set(statuses.values())


# --- The incident ---------------------------------------------------------------------------


def test_the_incident_from_the_wrongful_transfer_to_the_flag(seeded, db):
    complaint = incident()
    number = MobileNumber.objects.get(msisdn=demo_msisdn(INCIDENT_INDEX))
    (transfer,) = TransferRequest.objects.filter(number=number, state=TransferState.EXECUTED)
    assert (transfer.requested_by, transfer.decided_by) == (persona("agent_b"), persona("supervisor_a"))
    assert set(transfer.consents.values_list("captured_by__username", flat=True)) == {"agent_b"}

    assert (complaint.category, complaint.severity, complaint.branch.code) == (
        ComplaintCategory.UNAUTHORISED_TRANSFER,
        Severity.CRITICAL,
        "branch-a",
    )
    assert complaint.complainant == transfer.from_holder
    assert complaint.assigned_to == persona("handler_a")
    assert timedelta(0) <= complaint.time_to_block < timedelta(minutes=5)
    assert complaint.block_breached_at is None and complaint.state == ComplaintState.ACKNOWLEDGED

    # Blocked by handler_a, restored on supervisor_a's approval: the holder has it back.
    (block,) = complaint.blocks.all()
    assert (block.blocked_by.username, block.is_active) == ("handler_a", False)
    (restoration,) = complaint.restorations.all()
    assert (restoration.state, restoration.requested_by.username, restoration.decided_by.username) == (
        RestorationState.EXECUTED,
        "handler_a",
        "supervisor_a",
    )
    assert (number.status, number.holder) == (NumberStatus.ACTIVE, complaint.complainant)
    assert list(
        Holding.objects.filter(number=number).order_by("started_at", "id").values_list("subscriber", flat=True)
    )[-3:] == [complaint.complainant.pk, transfer.to_subscriber_id, complaint.complainant.pk]

    # Two offers made and declined, a third above the handler's limit awaiting approval.
    offers = list(complaint.offers.order_by("proposed_at", "id"))
    assert [offer.state for offer in offers] == [OfferState.DECLINED, OfferState.DECLINED, OfferState.AWAITING_APPROVAL]
    assert all(offer.offered_at and offer.responded_at for offer in offers[:2])
    assert offers[2].needs_approval and offers[2].amount > Decimal(django_settings.COMPLAINTS_OFFER_LIMITS["USD"])

    # The regulator's case, answered; agent_b flagged for the transfer request they made.
    (case,) = complaint.regulator_cases.all()
    assert case.regulator == Regulator.TRC and case.responses.count() == 1
    (flag,) = complaint.employee_flags.all()
    assert (flag.employee.username, flag.flagged_by.username, flag.change_model) == (
        "agent_b",
        "handler_a",
        "numbers.transferrequest",
    )
    assert flag.change_object_id == transfer.pk and flag.withdrawn_at is None
    kinds = set(complaint.events.values_list("kind", flat=True))
    assert {
        EventKind.RECEIVED,
        EventKind.BLOCKED,
        EventKind.RESTORATION_APPROVED,
        EventKind.OFFER,
        EventKind.REGULATOR,
        EventKind.EMPLOYEE_FLAGGED,
    } <= kinds


# --- Left for a newcomer to try ---------------------------------------------------------------


def test_supervisor_a_can_approve_the_restoration_and_the_offer_left_waiting(seeded, db):
    complaint = try_it()
    supervisor_a, handler_a = persona("supervisor_a"), persona("handler_a")
    (restoration,) = complaint.restorations.filter(state=RestorationState.AWAITING_APPROVAL)
    (offer,) = complaint.offers.filter(state=OfferState.AWAITING_APPROVAL)
    assert restoration.requested_by == handler_a and offer.proposed_by == handler_a
    assert cs.restoration_approval_blockers(restoration=restoration, actor=supervisor_a) == []
    assert cs.restoration_approval_blockers(restoration=restoration, actor=handler_a)  # four eyes
    assert cs.restoration_approval_blockers(restoration=restoration, actor=persona("admin"))  # no superuser

    cs.restoration_approve(restoration=restoration, actor=supervisor_a, reason="Passport stamps checked")
    cs.offer_approve(offer=offer, actor=supervisor_a, reason="Fair")

    number = MobileNumber.objects.get(msisdn=demo_msisdn(TRY_IT_INDEX))
    assert (number.status, number.holder) == (NumberStatus.ACTIVE, complaint.complainant)
    offer.refresh_from_db()
    assert offer.state == OfferState.PROPOSED and offer.approved_by == supervisor_a


def test_the_inventory_changes_only_where_the_demo_says(seeded, db):
    """For the numbers demo's own checks: which numbers the complaint demo touched."""
    blocked = MobileNumber.objects.filter(msisdn__in=[demo_msisdn(i) for i in NUMBERS_LEFT_BLOCKED])
    assert set(blocked.values_list("status", flat=True)) == {NumberStatus.BLOCKED}
    assert EmergencyBlock.objects.filter(lifted_at__isnull=True).count() == len(NUMBERS_LEFT_BLOCKED)
    wrongful = TransferRequest.objects.filter(
        state=TransferState.EXECUTED, number__msisdn__in=[demo_msisdn(i) for i in WRONGFUL_TRANSFER_INDICES]
    )
    assert wrongful.count() == len(WRONGFUL_TRANSFER_INDICES)


# --- Through the services, with who and why ---------------------------------------------------


def test_every_row_carries_who_and_why_in_its_history(seeded, db):
    for model in CASE_MODELS:
        records = model.history.all()
        assert records.exists(), model.__name__
        assert not records.filter(history_change_reason__in=["", None]).exists(), model.__name__
        # Only the SLA sweep acts as nobody, and only on the complaint and its timeline.
        nobody = records.filter(history_user__isnull=True)
        # ...and the gateway's job, taking in the complaint of a holder who replied NO by SMS.
        if hasattr(model.history.model, "complaint_id"):
            nobody = nobody.exclude(complaint__channel=Channel.SMS)
        if model is ComplaintEvent:
            assert set(nobody.values_list("kind", flat=True)) <= {EventKind.SLA_BREACHED}
        elif model is not Complaint:
            assert not nobody.exists(), model.__name__


def test_prints_where_to_try_the_incident(seeded, db):
    output = seeded["output"]
    assert output.index("Try a dual-consent transfer") < output.index("Try the complaint incident")
    lines = output.splitlines()
    assert any("handler_a" in line and f"/complaints/{incident().pk}/" in line for line in lines)
    assert any("supervisor_a" in line and f"/complaints/{try_it().pk}/" in line for line in lines)


# --- Idempotent ------------------------------------------------------------------------------


def test_seeding_twice_adds_nothing(seeded, db):
    assert counts() == seeded["counts"]
    output = seed()
    assert counts() == seeded["counts"]
    assert "Demo complaints already present; nothing to add." in output
    assert set(Complaint.objects.values_list("state", flat=True)) == set(ComplaintState.values)


@pytest.mark.parametrize("expiry_job_ran", [False, True], ids=["past-validity", "expired-by-the-job"])
def test_seeding_weeks_later_puts_fresh_offers_and_a_due_soon_complaint_back(seeded, db, expiry_job_ran):
    later = timezone.now() + timedelta(days=20)
    waiting = {offer.pk for offer in CompensationOffer.objects.filter(state=OfferState.AWAITING_APPROVAL)}
    assert len(waiting) == 2
    if expiry_job_ran:
        assert cs.offer_expire_due(now=later) == 2
    supervisor_a = persona("supervisor_a")

    with time_machine.travel(later, tick=False):
        seed()
        fresh = list(CompensationOffer.objects.filter(state=OfferState.AWAITING_APPROVAL))
        assert len(fresh) == 2 and not waiting & {offer.pk for offer in fresh}
        assert {offer.complaint for offer in fresh} == {incident(), try_it()}
        for offer in fresh:
            assert offer.valid_until > later
        stale = CompensationOffer.objects.filter(pk__in=waiting)
        expected = OfferState.EXPIRED if expiry_job_ran else OfferState.WITHDRAWN
        assert set(stale.values_list("state", flat=True)) == {expected}
        if not expiry_job_ran:
            assert set(stale.values_list("close_reason", flat=True)) == {DEMO_REFRESH_REASON}
        assert SlaStatus.DUE_SOON in {complaint.sla_status(later) for complaint in Complaint.objects.all()}

        # A fresh offer is approvable that day, and seeding once more changes nothing.
        cs.offer_approve(
            offer=next(offer for offer in fresh if offer.complaint == try_it()), actor=supervisor_a, reason="Fair"
        )
        before = counts()
        seed()
        assert counts() == before


def test_an_offer_a_supervisor_decided_is_not_proposed_again(seeded, db):
    offer = try_it().offers.get(state=OfferState.AWAITING_APPROVAL)
    cs.offer_refuse(offer=offer, actor=persona("supervisor_a"), reason="Too much for a week")
    before = counts()
    seed()
    assert counts() == before
    assert not try_it().offers.filter(state=OfferState.AWAITING_APPROVAL).exists()
