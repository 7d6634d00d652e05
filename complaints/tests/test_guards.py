"""No path around the complaint services: saves, bulk writes and deletes outside
them are refused; the database's own constraints hold below every Python check;
and every service leaves history with who and why."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from complaints import services as cs
from complaints.choices import ComplaintCategory, ComplaintState, OfferState, RestorationState, Severity
from complaints.models import (
    CASE_MODELS,
    CompensationOffer,
    Complaint,
    ComplaintEvent,
    ComplaintNumber,
    EmergencyBlock,
    EmployeeFlag,
    RegulatorCase,
    RegulatorResponse,
    Restoration,
    SlaRule,
    SlaTable,
    WorkingCalendar,
)
from complaints.selectors import flaggable_changes
from complaints.tests.casework import (
    complaint_snapshot,
    last_history,
    make_handler,
    new_complaint,
    wrongful_transfer,
)
from numbers.exceptions import DeletionRefused, GuardedFieldChange
from numbers.models import service_write_scope
from tests.factories import number_in_state
from tests.helpers import refused

pytestmark = pytest.mark.django_db

# A text field of each that a tamperer might rewrite.
TAMPER = {
    Complaint: {"description": "nothing happened"},
    ComplaintNumber: {"added_at": timezone.now() - timedelta(days=400)},
    ComplaintEvent: {"text": "nothing happened"},
    EmergencyBlock: {"reason": "no reason"},
    Restoration: {"reason": "no reason"},
    CompensationOffer: {"proposal_reason": "no reason"},
    RegulatorCase: {"note": "never mind"},
    RegulatorResponse: {"summary": "never sent"},
    EmployeeFlag: {"reason": "no reason"},
}


@pytest.fixture
def incident(agent_b, supervisor_a, handler_a, admin_user, holder, newcomer, active):
    """One row of every complaint model, written by the services."""
    wrongful_transfer(number=active, to=newcomer, agent=agent_b, supervisor=supervisor_a)
    complaint = new_complaint(
        actor=handler_a, complainant=holder, numbers=[active], category=ComplaintCategory.UNAUTHORISED_TRANSFER
    )
    cs.complaint_block_number(complaint=complaint, number=active, actor=handler_a, reason="stop misuse")
    cs.restoration_request(complaint=complaint, number=active, actor=handler_a, reason="give back")
    cs.offer_propose(complaint=complaint, kind="refund", amount="5", currency="USD", actor=handler_a, reason="sorry")
    case = cs.regulator_case_record(
        complaint=complaint,
        regulator="TRC",
        case_number="TRC-1",
        notified_on=timezone.localdate(),
        actor=handler_a,
        reason="letter",
    )
    cs.regulator_response_record(
        case=case, responded_on=timezone.localdate(), summary="answered", actor=handler_a, reason="sent"
    )
    key = next(key for key, summary in flaggable_changes(complaint) if "agent_b" in summary)
    cs.employee_flag(complaint=complaint, change=key, actor=handler_a, reason="pushed it through")
    for model in CASE_MODELS:
        assert model.objects.exists(), model
    return complaint


# --- No write outside the services -------------------------------------------------------------


@pytest.mark.parametrize("model", CASE_MODELS, ids=lambda model: model.__name__)
def test_saving_a_case_row_outside_the_services_is_refused(model, incident):
    row = model.objects.order_by("pk").first()
    before = complaint_snapshot(incident)
    for field, value in TAMPER[model].items():
        setattr(row, field, value)
    error = refused(GuardedFieldChange, row.save)
    assert error.code == "ledger_write_refused"
    assert "written only by the complaint services" in error.messages[0]
    assert complaint_snapshot(incident) == before


@pytest.mark.parametrize("model", CASE_MODELS, ids=lambda model: model.__name__)
def test_creating_a_case_row_outside_the_services_is_refused(model, incident):
    row = model.objects.order_by("pk").first()
    copy = model.objects.filter(pk=row.pk).values()[0]
    copy.pop("id")
    before = complaint_snapshot(incident)
    refused(GuardedFieldChange, lambda: model.objects.create(**copy))
    refused(GuardedFieldChange, lambda: model.objects.bulk_create([model(**copy)]))
    assert complaint_snapshot(incident) == before


@pytest.mark.parametrize("model", CASE_MODELS, ids=lambda model: model.__name__)
def test_bulk_updates_of_case_rows_are_refused(model, incident):
    before = complaint_snapshot(incident)
    refused(GuardedFieldChange, lambda: model.objects.all().update(**TAMPER[model]))
    rows = list(model.objects.all())
    for row in rows:
        for field, value in TAMPER[model].items():
            setattr(row, field, value)
    refused(GuardedFieldChange, lambda: model.objects.bulk_update(rows, list(TAMPER[model])))
    assert complaint_snapshot(incident) == before


@pytest.mark.parametrize("model", CASE_MODELS, ids=lambda model: model.__name__)
def test_case_rows_are_never_deleted(model, incident):
    before = complaint_snapshot(incident)
    row = model.objects.order_by("pk").first()
    assert refused(DeletionRefused, row.delete).code == "no_delete"
    assert refused(DeletionRefused, model.objects.all().delete).code == "no_delete"
    # Not even inside the services' write scope: evidence is closed, never removed.
    with service_write_scope():
        refused(DeletionRefused, row.delete)
        refused(DeletionRefused, model.objects.all().delete)
    assert complaint_snapshot(incident) == before


def test_the_numbers_of_a_complaint_change_only_through_the_services(agent_a, branch_a, holder, incident, active):
    other = number_in_state("active", actor=agent_a, branch=branch_a, subscriber=holder)
    before = complaint_snapshot(incident)
    refused(GuardedFieldChange, lambda: incident.numbers.add(other, through_defaults={"added_by": agent_a}))
    refused(GuardedFieldChange, lambda: other.complaints.add(incident, through_defaults={"added_by": agent_a}))
    refused(DeletionRefused, lambda: incident.numbers.remove(active))
    refused(DeletionRefused, incident.numbers.clear)
    refused((GuardedFieldChange, DeletionRefused), lambda: incident.numbers.set([other]))
    assert complaint_snapshot(incident) == before


def test_the_sla_configuration_is_never_deleted_either(incident):
    for model in (SlaTable, SlaRule, WorkingCalendar):
        refused(DeletionRefused, model.objects.order_by("pk").first().delete)
        refused(DeletionRefused, model.objects.all().delete)
    assert SlaTable.objects.filter(is_active=True).exists()


# --- The database's own constraints, below the services --------------------------------------------


def violates(action) -> None:
    """The database refuses ``action`` even inside the services' write scope."""
    with pytest.raises(IntegrityError), transaction.atomic(), service_write_scope():
        action()


def rewrite(model, pk, **fields):
    return lambda: model.objects.filter(pk=pk).update(**fields)


def test_an_unauthorised_transfer_stays_critical_with_a_block_deadline(incident):
    violates(rewrite(Complaint, incident.pk, severity=Severity.LOW))
    violates(rewrite(Complaint, incident.pk, block_due_at=None))
    violates(rewrite(Complaint, incident.pk, category=ComplaintCategory.UNAUTHORISED_TRANSFER + "x"))


def test_a_complaints_states_record_who_and_when(handler_a, holder, active):
    complaint = new_complaint(actor=handler_a, complainant=holder, numbers=[active])
    violates(rewrite(Complaint, complaint.pk, state=ComplaintState.ACKNOWLEDGED))  # nobody acknowledged
    violates(
        rewrite(
            Complaint,
            complaint.pk,
            state=ComplaintState.RESOLVED,
            acknowledged_at=timezone.now(),
            acknowledged_by=handler_a,
            resolved_at=timezone.now(),
            resolved_by=handler_a,
        )
    )  # no resolution text
    violates(rewrite(Complaint, complaint.pk, state="lost"))
    violates(rewrite(Complaint, complaint.pk, resolve_due_at=complaint.received_at - timedelta(hours=1)))


def test_one_standing_block_per_number(handler_a, incident, active):
    block = EmergencyBlock.objects.get(complaint=incident)
    violates(
        lambda: EmergencyBlock.objects.create(
            complaint=incident, number=active, blocked_by=handler_a, reason="a second block"
        )
    )
    violates(rewrite(EmergencyBlock, block.pk, lifted_at=timezone.now()))  # lifted by nobody, for no reason


def test_restorations_keep_four_eyes_and_one_open_per_number(handler_a, incident):
    restoration = Restoration.objects.get(complaint=incident)
    violates(
        rewrite(
            Restoration,
            restoration.pk,
            state=RestorationState.EXECUTED,
            decided_by=handler_a,  # the requester
            decided_at=timezone.now(),
            decision_reason="my own approval",
        )
    )
    violates(
        lambda: Restoration.objects.create(
            complaint=incident,
            number=restoration.number,
            from_holder=restoration.from_holder,
            to_subscriber=restoration.to_subscriber,
            requested_by=handler_a,
            reason="a second request",
        )
    )
    violates(rewrite(Restoration, restoration.pk, to_subscriber=restoration.from_holder))
    violates(rewrite(Restoration, restoration.pk, state=RestorationState.REJECTED))  # decided by nobody


def test_offers_keep_four_eyes_one_live_per_complaint_and_a_positive_amount(
    admin_user, branch_a, supervisor_a, handler_a, incident
):
    offer = CompensationOffer.objects.get(complaint=incident)
    violates(rewrite(CompensationOffer, offer.pk, amount=0))
    violates(rewrite(CompensationOffer, offer.pk, currency="EUR"))
    violates(
        rewrite(
            CompensationOffer,
            offer.pk,
            needs_approval=True,
            approved_by=handler_a,  # the proposer
            approved_at=timezone.now(),
        )
    )
    violates(rewrite(CompensationOffer, offer.pk, needs_approval=True))  # made without approval
    violates(rewrite(CompensationOffer, offer.pk, state=OfferState.ACCEPTED))  # no answer on record
    violates(rewrite(CompensationOffer, offer.pk, valid_until=offer.proposed_at))
    copy = CompensationOffer.objects.filter(pk=offer.pk).values()[0]
    copy.pop("id")
    violates(lambda: CompensationOffer.objects.create(**copy))  # a second live offer


def test_a_regulators_case_and_a_flag_are_recorded_once(handler_a, incident):
    case = RegulatorCase.objects.get(complaint=incident)
    violates(
        lambda: RegulatorCase.objects.create(
            complaint=incident,
            regulator=case.regulator,
            case_number=case.case_number,
            notified_on=case.notified_on,
            recorded_by=handler_a,
        )
    )
    violates(rewrite(RegulatorCase, case.pk, case_number=""))
    flag = EmployeeFlag.objects.get(complaint=incident)
    copy = EmployeeFlag.objects.filter(pk=flag.pk).values()[0]
    copy.pop("id")
    violates(lambda: EmployeeFlag.objects.create(**copy))
    violates(rewrite(EmployeeFlag, flag.pk, withdrawn_at=timezone.now()))


# --- Every service leaves who and why ----------------------------------------------------------------


def stamped(model, pk, actor, reason) -> None:
    record = last_history(model, pk)
    assert (record.history_user, record.history_change_reason) == (actor, reason), model.__name__


def test_every_service_records_who_and_why(
    admin_user, agent_b, supervisor_a, supervisor_a2, handler_a, branch_a, holder, newcomer, active
):
    wrongful_transfer(number=active, to=newcomer, agent=agent_b, supervisor=supervisor_a)
    complaint = cs.complaint_create(
        complainant=holder,
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        severity="",
        channel="branch",
        description="not me",
        numbers=[active],
        actor=handler_a,
        reason="walked in",
    )
    stamped(Complaint, complaint.pk, handler_a, "walked in")
    for event in complaint.events.all():
        assert last_history(ComplaintEvent, event.pk).history_user == handler_a
    stamped(ComplaintNumber, complaint.complaint_numbers.get().pk, handler_a, "Named at intake")

    cs.complaint_acknowledge(complaint=complaint, actor=handler_a, reason="called back")
    stamped(Complaint, complaint.pk, handler_a, "called back")
    cs.complaint_investigate(complaint=complaint, actor=handler_a, reason="checking the ledger")
    stamped(Complaint, complaint.pk, handler_a, "checking the ledger")
    note = cs.complaint_note(complaint=complaint, actor=supervisor_a, reason="I approved that transfer")
    stamped(ComplaintEvent, note.pk, supervisor_a, "I approved that transfer")

    block = cs.complaint_block_number(complaint=complaint, number=active, actor=handler_a, reason="stop misuse")
    stamped(EmergencyBlock, block.pk, handler_a, "stop misuse")
    stamped(Complaint, complaint.pk, handler_a, "stop misuse")  # the time to block
    restoration = cs.restoration_request(complaint=complaint, number=active, actor=handler_a, reason="give back")
    stamped(Restoration, restoration.pk, handler_a, "give back")
    cs.restoration_reject(restoration=restoration, actor=supervisor_a2, reason="need the ID")
    stamped(Restoration, restoration.pk, supervisor_a2, "need the ID")
    again = cs.restoration_request(complaint=complaint, number=active, actor=handler_a, reason="ID seen")
    cs.restoration_cancel(restoration=again, actor=handler_a, reason="wrong form")
    stamped(Restoration, again.pk, handler_a, "wrong form")
    third = cs.restoration_request(complaint=complaint, number=active, actor=handler_a, reason="right form")
    cs.restoration_approve(restoration=third, actor=supervisor_a, reason="all checked")
    stamped(Restoration, third.pk, supervisor_a, "all checked")
    stamped(EmergencyBlock, block.pk, supervisor_a, f"Restored to the rightful holder ({third.reference})")

    offer = cs.offer_propose(
        complaint=complaint, kind="refund", amount="90", currency="USD", actor=handler_a, reason="a"
    )
    stamped(CompensationOffer, offer.pk, handler_a, "a")
    cs.offer_approve(offer=offer, actor=supervisor_a, reason="b")
    stamped(CompensationOffer, offer.pk, supervisor_a, "b")
    cs.offer_make(offer=offer, channel="phone", actor=handler_a, reason="c")
    stamped(CompensationOffer, offer.pk, handler_a, "c")
    cs.offer_record_response(offer=offer, accepted=False, channel="phone", actor=handler_a, reason="d")
    stamped(CompensationOffer, offer.pk, handler_a, "d")
    second = cs.offer_propose(
        complaint=complaint, kind="refund", amount="99", currency="USD", actor=handler_a, reason="e"
    )
    cs.offer_refuse(offer=second, actor=supervisor_a, reason="f")
    stamped(CompensationOffer, second.pk, supervisor_a, "Approval refused: f")
    third_offer = cs.offer_propose(
        complaint=complaint, kind="refund", amount="9", currency="USD", actor=handler_a, reason="g"
    )
    cs.offer_withdraw(offer=third_offer, actor=handler_a, reason="h")
    stamped(CompensationOffer, third_offer.pk, handler_a, "h")

    case = cs.regulator_case_record(
        complaint=complaint,
        regulator="TRC",
        case_number="T-9",
        notified_on=timezone.localdate(),
        actor=supervisor_a,
        reason="i",
    )
    stamped(RegulatorCase, case.pk, supervisor_a, "i")
    response = cs.regulator_response_record(
        case=case, responded_on=timezone.localdate(), summary="sent", actor=handler_a, reason="j"
    )
    stamped(RegulatorResponse, response.pk, handler_a, "j")
    key = next(key for key, summary in flaggable_changes(complaint) if "agent_b" in summary)
    flag = cs.employee_flag(complaint=complaint, change=key, actor=handler_a, reason="k")
    stamped(EmployeeFlag, flag.pk, handler_a, "k")
    cs.employee_flag_withdraw(flag=flag, actor=supervisor_a, reason="l")
    stamped(EmployeeFlag, flag.pk, supervisor_a, "l")

    handler_a2 = make_handler("handler_a2", branch=branch_a, admin=admin_user)
    cs.complaint_assign(complaint=complaint, assignee=handler_a2, actor=handler_a, reason="m")
    stamped(Complaint, complaint.pk, handler_a, "m")
    cs.complaint_assign(complaint=complaint, assignee=handler_a, actor=supervisor_a, reason="back to you")
    stamped(Complaint, complaint.pk, supervisor_a, "back to you")
    cs.complaint_resolve(complaint=complaint, actor=handler_a, reason="number given back")
    stamped(Complaint, complaint.pk, handler_a, "number given back")
    cs.complaint_close(complaint=complaint, actor=supervisor_a, reason="n")
    stamped(Complaint, complaint.pk, supervisor_a, "n")
    cs.complaint_reopen(complaint=complaint, actor=supervisor_a, reason="o")
    stamped(Complaint, complaint.pk, supervisor_a, "o")
    # Every event of the complaint names who did it (the sweeps excepted: none ran here).
    assert not complaint.events.filter(actor__isnull=True).exists()
    # And nothing of the complaint has a history record without a user.
    for model in CASE_MODELS:
        assert not model.history.filter(history_user__isnull=True).exists(), model.__name__
