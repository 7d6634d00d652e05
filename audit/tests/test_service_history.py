"""Every service function is driven once, and each change it made left a history
record on the audit chain with the acting user (or the job) and a reason.

The services are found by looking at the service modules, so a new service
without a driver here, or a new writing function that is not audited, fails.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.module_loading import import_string

from audit.chain import AuditedHistoricalRecord, chained_models, verify_table
from audit.choices import CaseOutcome
from audit.context import job_scope, request_scope
from complaints import services as cs
from complaints.choices import ComplaintCategory, ComplaintState, Currency, Regulator, RestorationState, SlaUnit
from complaints.models import Restoration, SlaRule, SlaTable, WorkingCalendar
from complaints.tests.casework import bring_to, make_handler, new_complaint, plain_calendar, wrongful_transfer
from demo.numbers_seed import withdraw_as_lifecycle
from numbers import services as ns
from numbers.choices import ConsentParty, IdentityDocumentType, NumberStatus, WithdrawalGround
from numbers.models import TransferRequest
from review import services as audit_services
from staff import services as staff_services
from staff.choices import EmploymentStatus, Role
from tests.factories import (
    MobileNumberFactory,
    consent_in_person,
    document_of,
    document_photo,
    number_in_state,
    transfer_awaiting_approval,
)
from tests.helpers import back_date, code_sent_to

pytestmark = pytest.mark.django_db

SERVICE_MODULES = ("numbers.services", "complaints.services", "staff.services", "review.services", "sms.services")

# Public functions of the service modules that are not audited services, and why.
NOT_AUDITED = {
    # Pure reads: what stops an approval, which SLA rule or offer limit applies, a check.
    "transfer_approval_blockers": "read",
    "withdrawal_approval_blockers": "read",
    "holder_cooling_off_ends": "read",
    "handset_text": "read (the text a handset receives, for the gateway call and the demo's handset)",
    "subscriber_change_approval_blockers": "read",
    "subscriber_holds_a_number": "read",
    "subscriber_pending_changes": "read (the changes a call would make, normalized and hashed)",
    "restoration_approval_blockers": "read",
    "sla_rule_for": "read",
    "offer_limit": "read (a setting)",
    "require_previous_holder": "read (raises when the ledger says no)",
    "get_backend": "read (the configured SMS backend)",
    "register_regrant_check": "start-up wiring (a higher app's AppConfig.ready()), writes nothing",
    # Helpers: they write only inside the caller's audited transaction, or nothing with history.
    "sms_send": "stores a message inside the caller's audited transaction; delivery is sms_deliver",
    "sms_send_many": "stores a batch of messages inside the caller's audited transaction (lifecycle warnings)",
    "notice_send": "stores staff notices inside the caller's audited transaction; delivery is notice_deliver",
    "apply_move": "the write half of number_transition, inside its caller's transaction (that or the lifecycle job)",
    "roles_ensure_groups": "idempotent set-up of the role groups (post-migrate, seeding, employee_create)",
    "end_sessions": "part of employee_suspend (sessions keep no history; the suspension counts them)",
    "close_open_transfers": "part of number_transition's transaction (not exported by numbers.services)",
}

# Writers that are not audited themselves: every write they make happens inside the
# audited service they call, which stamps it. They are driven like the services.
DELEGATES = {
    "number_sell": "numbers.services.inventory.number_transition",
    "number_block": "numbers.services.inventory.number_transition",
    "number_unblock": "numbers.services.inventory.number_transition",
    # Deliberately not one transaction: a wrong code must stay counted although the call fails.
    "consent_code_verify": "numbers.services.transfers._consent_code_check",
    "withdrawal_confirm_code": "numbers.services.withdrawals._withdrawal_code_check",
    "subscriber_change_consent": "numbers.services.identity._subscriber_change_consent",
}

# The job sweeps: one audited_transaction per item, so a long run never holds the chain long.
# They run inside a job scope, so their records name the job instead of a user.
SWEEPS = {
    "transfer_expire_due",
    "complaint_record_breaches",
    "offer_expire_due",
    "lifecycle_run",
    # Delivery: its own transaction per message, the chain lock taken after the gateway call.
    "sms_deliver",
    "sms_deliver_due",
    "notice_deliver",
    "notice_deliver_due",
}


def service_functions() -> dict[str, Callable]:
    """Every public function defined in the service modules (and a package's public submodules)."""
    found: dict[str, Callable] = {}
    for name in SERVICE_MODULES:
        package = importlib.import_module(name)
        modules = [package]
        if hasattr(package, "__path__"):
            modules += [
                importlib.import_module(f"{name}.{info.name}")
                for info in pkgutil.iter_modules(package.__path__)
                if not info.name.startswith("_")
            ]
        for module in modules:
            for attr, obj in vars(module).items():
                if inspect.isfunction(obj) and obj.__module__ == module.__name__ and not attr.startswith("_"):
                    assert attr not in found, f"two service functions are called {attr}"
                    found[attr] = obj
    return found


def is_audited(function) -> bool:
    return getattr(function, "__audited__", False) is True


# --- Drivers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One call of a service, set up and ready: ``run`` makes only the change under test."""

    run: Callable[[], object]
    actor: object = None  # the acting user; None for a job
    job: str = ""  # the job's name, for the sweeps
    done: int | None = None  # how many items a sweep must handle


DRIVERS: dict[str, Callable[[Callable[[str], object]], Call]] = {}


def drives(name: str):
    def register(driver):
        assert name not in DRIVERS, f"two drivers for {name}"
        DRIVERS[name] = driver
        return driver

    return register


# Shared set-up. ``fx`` is pytest's getfixturevalue: a driver asks only for what it needs.


def complaint_of(fx, state: str = ComplaintState.ACKNOWLEDGED):
    """holder's billing complaint about ``active``, handled by handler_a, moved to ``state``."""
    complaint = new_complaint(actor=fx("handler_a"), complainant=fx("holder"), numbers=[fx("active")])
    return bring_to(complaint, state, handler=fx("handler_a"))


def wronged_case(fx):
    """agent_b pushed ``active`` through to the newcomer, supervisor_a approved; the holder complains."""
    number = fx("active")
    transfer = wrongful_transfer(number=number, to=fx("newcomer"), agent=fx("agent_b"), supervisor=fx("supervisor_a"))
    complaint = new_complaint(
        actor=fx("handler_a"),
        complainant=fx("holder"),
        numbers=[number],
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        description="My number was given to someone else",
    )
    return bring_to(complaint, ComplaintState.ACKNOWLEDGED, handler=fx("handler_a")), number, transfer


def blocked_case(fx):
    complaint, number, _ = wronged_case(fx)
    block = cs.complaint_block_number(complaint=complaint, number=number, actor=fx("handler_a"), reason="stop misuse")
    return complaint, number, block


def requested_restoration(fx):
    complaint, number, _ = blocked_case(fx)
    return cs.restoration_request(
        complaint=complaint, number=number, actor=fx("handler_a"), reason="the ledger shows the owner"
    )


def proposed_offer(fx, amount: str = "10"):
    return cs.offer_propose(
        complaint=complaint_of(fx),
        kind="bill_credit",
        amount=amount,
        currency=Currency.USD,
        actor=fx("handler_a"),
        reason="sorry for the double charge",
    )


def made_offer(fx):
    return cs.offer_make(offer=proposed_offer(fx), channel="phone", actor=fx("handler_a"), reason="called them")


def regulator_case(fx):
    return cs.regulator_case_record(
        complaint=complaint_of(fx),
        regulator=Regulator.TRC,
        case_number="TRC-2026-0042",
        notified_on=timezone.localdate(),
        actor=fx("handler_a"),
        reason="letter from the regulator",
    )


def agent_b_flagged(fx):
    """handler_a's flag on agent_b's transfer request that gave the number away."""
    complaint, _, transfer = wronged_case(fx)
    record = TransferRequest.history.get(id=transfer.pk, history_type="+")
    return cs.employee_flag(
        complaint=complaint,
        change=f"numbers.transferrequest:{record.history_id}",
        actor=fx("handler_a"),
        reason="pushed the transfer through",
    )


def open_case(fx, *, flags=True):
    return audit_services.case_open(
        employee=fx("agent_b"),
        summary="Pushed a transfer through without the holder's consent",
        actor=fx("auditor"),
        reason="complaint about an unauthorised transfer",
        flags=[agent_b_flagged(fx)] if flags else (),
    )


# numbers: inventory


@drives("number_create")
def _(fx):
    actor = fx("admin_user")
    branch = fx("branch_a")
    return Call(lambda: ns.number_create(msisdn="+85512999101", branch=branch, actor=actor, reason="new stock"), actor)


@drives("number_transition")
def _(fx):
    actor, number = fx("agent_a"), fx("active")
    return Call(
        lambda: ns.number_transition(
            number=number, to_status=NumberStatus.SUSPENDED, actor=actor, reason="unpaid bill"
        ),
        actor,
    )


@drives("number_sell")
def _(fx):
    actor, number, buyer = fx("agent_a"), MobileNumberFactory(branch=fx("branch_a")), fx("newcomer")
    return Call(lambda: ns.number_sell(number=number, subscriber=buyer, actor=actor, reason="sold"), actor)


@drives("number_block")
def _(fx):
    actor, number = fx("supervisor_a"), fx("active")
    return Call(lambda: ns.number_block(number=number, actor=actor, reason="fraud suspected"), actor)


@drives("number_unblock")
def _(fx):
    actor = fx("supervisor_a")
    number = ns.number_block(number=fx("active"), actor=actor, reason="fraud suspected")
    return Call(lambda: ns.number_unblock(number=number, actor=actor, reason="no fraud after all"), actor)


@drives("number_restore")
def _(fx):
    # Only an approved restoration lets a number go back (a database trigger says so):
    # the restoration is marked approved here, and the ledger write is the call under test.
    actor = fx("supervisor_a")
    restoration = requested_restoration(fx)
    back_date(
        Restoration,
        restoration.pk,
        state=RestorationState.EXECUTED,
        decided_by=actor,
        decided_at=timezone.now(),
        decision_reason="the ledger shows the owner",
    )
    number, holder = restoration.number, fx("holder")
    return Call(
        lambda: ns.number_restore(
            number=number, to_subscriber=holder, actor=actor, reason="rightful holder", grounds="complaint"
        ),
        actor,
    )


@drives("number_record_topup")
def _(fx):
    actor, number = fx("agent_a"), fx("active")
    return Call(lambda: ns.number_record_topup(number=number, actor=actor, reason="paid at the counter"), actor)


@drives("subscriber_create")
def _(fx):
    actor = fx("agent_a")
    return Call(
        lambda: ns.subscriber_create(
            full_name="Walk In",
            id_document_type=IdentityDocumentType.NATIONAL_ID,
            id_document_number="N9990001",
            actor=actor,
            reason="new customer",
        ),
        actor,
    )


@drives("subscriber_update")
def _(fx):
    actor, holder = fx("agent_a"), fx("holder")
    return Call(
        lambda: ns.subscriber_update(subscriber=holder, actor=actor, reason="typo", full_name="Rightful Holder Jr"),
        actor,
    )


# numbers: a holder's consented detail changes and the compliance export


def _change_requested(fx):
    holder, number = fx("holder"), fx("active")
    fx("handset")
    change = ns.subscriber_change_request(
        subscriber=holder, code_to=number.msisdn, actor=fx("agent_a"), reason="new contact", full_name="R. Holder"
    )
    return change, code_sent_to(number.msisdn)


@drives("subscriber_change_request")
def _(fx):
    actor, holder, number = fx("agent_a"), fx("holder"), fx("active")
    return Call(
        lambda: ns.subscriber_change_request(
            subscriber=holder, code_to=number.msisdn, actor=actor, reason="married", full_name="Rightful Holder Jr"
        ),
        actor,
    )


@drives("subscriber_change_consent")
def _(fx):
    actor = fx("agent_a")
    change, code = _change_requested(fx)
    return Call(lambda: ns.subscriber_change_consent(change=change, code=code, actor=actor, reason="read back"), actor)


@drives("subscriber_change_approve")
def _(fx):
    actor = fx("supervisor_a")
    change, code = _change_requested(fx)
    ns.subscriber_change_consent(change=change, code=code, actor=fx("agent_a"), reason="read back")
    return Call(lambda: ns.subscriber_change_approve(change=change, actor=actor, reason="card checked"), actor)


@drives("subscriber_change_reject")
def _(fx):
    actor = fx("supervisor_a")
    change, _ = _change_requested(fx)
    return Call(lambda: ns.subscriber_change_reject(change=change, actor=actor, reason="not the holder"), actor)


@drives("identity_export_request")
def _(fx):
    actor, holder = fx("supervisor_a"), fx("holder")
    return Call(lambda: ns.identity_export_request(subscribers=[holder], actor=actor, reason="SIM audit"), actor)


@drives("identity_export_approve")
def _(fx):
    actor = fx("auditor")
    export = ns.identity_export_request(subscribers=[fx("holder")], actor=fx("supervisor_a"), reason="SIM audit")
    return Call(lambda: ns.identity_export_approve(export=export, actor=actor, reason="regulator's request"), actor)


# numbers: withdrawals by hand


def _order_pdf():
    return SimpleUploadedFile("order.pdf", b"%PDF-1.4 a court order", content_type="application/pdf")


def _asked_withdrawal(fx, ground: str = WithdrawalGround.LEGAL_ORDER):
    fx("settings").MEDIA_ROOT = str(fx("tmp_path"))
    return ns.withdrawal_request(
        number=fx("active"),
        ground=ground,
        document=_order_pdf() if ground != WithdrawalGround.HOLDER_REQUEST else None,
        actor=fx("supervisor_a"),
        reason="court order",
    )


@drives("withdrawal_request")
def _(fx):
    fx("settings").MEDIA_ROOT = str(fx("tmp_path"))
    actor, number = fx("supervisor_a"), fx("active")
    return Call(
        lambda: ns.withdrawal_request(
            number=number, ground=WithdrawalGround.LEGAL_ORDER, document=_order_pdf(), actor=actor, reason="order"
        ),
        actor,
    )


@drives("withdrawal_send_code")
def _(fx):
    asked, actor = _asked_withdrawal(fx, WithdrawalGround.HOLDER_REQUEST), fx("agent_a")
    return Call(lambda: ns.withdrawal_send_code(request=asked, actor=actor, reason="holder at the counter"), actor)


@drives("withdrawal_confirm_code")
def _(fx):
    asked, actor = _asked_withdrawal(fx, WithdrawalGround.HOLDER_REQUEST), fx("agent_a")
    fx("handset")
    ns.withdrawal_send_code(request=asked, actor=actor, reason="holder at the counter")
    code = code_sent_to(asked.number.msisdn)
    return Call(lambda: ns.withdrawal_confirm_code(request=asked, code=code, actor=actor, reason="read back"), actor)


def _holder_checked_in_person(fx):
    asked = _asked_withdrawal(fx, WithdrawalGround.HOLDER_REQUEST)
    holder = asked.holder
    return ns.withdrawal_record_holder_in_person(
        request=asked,
        document_type=holder.id_document_type,
        document_number=document_of(holder),
        document_photo=document_photo(),
        actor=fx("agent_a"),
        reason="SIM lost, holder at the counter",
    )


@drives("withdrawal_record_holder_in_person")
def _(fx):
    asked, actor = _asked_withdrawal(fx, WithdrawalGround.HOLDER_REQUEST), fx("agent_a")
    holder = asked.holder
    return Call(
        lambda: ns.withdrawal_record_holder_in_person(
            request=asked,
            document_type=holder.id_document_type,
            document_number=document_of(holder),
            document_photo=document_photo(),
            actor=actor,
            reason="SIM lost, holder at the counter",
        ),
        actor,
    )


@drives("withdrawal_confirm_holder_check")
def _(fx):
    checked, actor = _holder_checked_in_person(fx), fx("agent_b")
    return Call(lambda: ns.withdrawal_confirm_holder_check(request=checked, actor=actor, reason="saw her"), actor)


@drives("withdrawal_cancel")
def _(fx):
    asked, actor = _asked_withdrawal(fx), fx("supervisor_a")
    return Call(lambda: ns.withdrawal_cancel(request=asked, actor=actor, reason="order revoked"), actor)


@drives("withdrawal_approve")
def _(fx):
    asked, actor = _asked_withdrawal(fx), fx("supervisor_a2")
    return Call(lambda: ns.withdrawal_approve(request=asked, actor=actor, reason="order checked"), actor)


@drives("withdrawal_reject")
def _(fx):
    asked, actor = _asked_withdrawal(fx), fx("supervisor_a2")
    return Call(lambda: ns.withdrawal_reject(request=asked, actor=actor, reason="order not genuine"), actor)


@drives("number_reinstate")
def _(fx):
    actor, number, holder = fx("supervisor_a"), fx("active"), fx("holder")
    withdraw_as_lifecycle(number, actor=None, reason="Inactivity")
    return Call(
        lambda: ns.number_reinstate(number=number, subscriber=holder, actor=actor, reason="came back and paid"),
        actor,
    )


# numbers: transfers


@drives("transfer_create")
def _(fx):
    actor, number, newcomer = fx("agent_a"), fx("active"), fx("newcomer")
    return Call(lambda: ns.transfer_create(number=number, new_subscriber=newcomer, actor=actor, reason="sold"), actor)


@drives("transfer_cancel")
def _(fx):
    actor, request = fx("agent_a"), fx("open_request")
    return Call(lambda: ns.transfer_cancel(request=request, actor=actor, reason="changed their mind"), actor)


@drives("consent_record_in_person")
def _(fx):
    actor, request = fx("agent_b"), fx("open_request")
    return Call(lambda: consent_in_person(request, ConsentParty.CURRENT_HOLDER, actor=actor), actor)


@drives("consent_record_signed_form")
def _(fx):
    fx("settings").MEDIA_ROOT = str(fx("tmp_path"))
    actor, request = fx("agent_b"), fx("open_request")
    form = SimpleUploadedFile("consent.pdf", b"%PDF-1.4 signed by the holder", content_type="application/pdf")
    return Call(
        lambda: ns.consent_record_signed_form(
            request=request, party=ConsentParty.NEW_SUBSCRIBER, signed_form=form, actor=actor, reason="form scanned"
        ),
        actor,
    )


@drives("consent_code_send")
def _(fx):
    actor, request = fx("agent_b"), fx("open_request")
    return Call(lambda: ns.consent_code_send(request=request, actor=actor, reason="holder on the phone"), actor)


@drives("consent_code_verify")
def _(fx):
    actor, request = fx("agent_b"), fx("open_request")
    fx("handset")
    ns.consent_code_send(request=request, actor=actor, reason="holder on the phone")
    code = code_sent_to(request.number.msisdn)
    return Call(
        lambda: ns.consent_code_verify(request=request, code=code, actor=actor, reason="holder read it back"), actor
    )


@drives("transfer_dispute")
def _(fx):
    fx("sla_presets")  # the dispute opens a complaint
    request, number = fx("open_request"), fx("active")
    return Call(
        lambda: ns.transfer_dispute(request=request, sender=number.msisdn, text="NO", reason="the holder replied NO"),
        job="sms.inbound",
    )


@drives("inbound_sms_receive")
def _(fx):
    from sms.services import inbound_sms_receive

    fx("sla_presets")
    request, number = fx("open_request"), fx("active")
    return Call(
        lambda: inbound_sms_receive(message_id="gw-1", sender=number.msisdn, text=f"NO {request.reference}"),
        job="sms.inbound",
    )


@drives("consent_revoke")
def _(fx):
    actor, request = fx("agent_a"), fx("open_request")
    consent = consent_in_person(request, ConsentParty.CURRENT_HOLDER, actor=actor)
    return Call(lambda: ns.consent_revoke(consent=consent, actor=actor, reason="the holder said no"), actor)


@drives("transfer_confirm_consent")
def _(fx):
    actor, request = fx("agent_b"), fx("open_request")
    consent = consent_in_person(request, ConsentParty.CURRENT_HOLDER, actor=fx("supervisor_a"))
    return Call(lambda: ns.transfer_confirm_consent(consent=consent, actor=actor, reason="saw her document"), actor)


@drives("transfer_approve")
def _(fx):
    actor = fx("supervisor_a")
    request = transfer_awaiting_approval(
        actor=fx("agent_a"), branch=fx("branch_a"), number=fx("active"), new_subscriber=fx("newcomer")
    )
    return Call(lambda: ns.transfer_approve(request=request, actor=actor, reason="both consented"), actor)


@drives("transfer_reject")
def _(fx):
    actor, request = fx("supervisor_a"), fx("open_request")
    return Call(lambda: ns.transfer_reject(request=request, actor=actor, reason="looks like fraud"), actor)


@drives("transfer_lock_place")
def _(fx):
    actor, number = fx("agent_a"), fx("active")
    return Call(lambda: ns.transfer_lock_place(number=number, actor=actor, reason="holder asked"), actor)


@drives("transfer_lock_lift")
def _(fx):
    actor, number, holder = fx("agent_a"), fx("active"), fx("holder")
    ns.transfer_lock_place(number=number, actor=actor, reason="holder asked")
    return Call(
        lambda: ns.transfer_lock_lift(
            number=number,
            document_type=holder.id_document_type,
            document_number=document_of(holder),
            actor=actor,
            reason="holder wants to sell",
        ),
        actor,
    )


@drives("transfer_expire_due")
def _(fx):
    request = fx("open_request")
    return Call(lambda: ns.transfer_expire_due(now=request.expires_at), job="numbers.expire_transfer_requests", done=1)


# complaints: intake, handling, moves


@drives("complaint_create")
def _(fx):
    actor, holder, number = fx("handler_a"), fx("holder"), fx("active")
    # No reason given: the service words one ("Complaint received (phone)").
    return Call(lambda: new_complaint(actor=actor, complainant=holder, numbers=[number]), actor)


@drives("complaint_add_number")
def _(fx):
    actor = fx("handler_a")
    complaint = complaint_of(fx)
    other = number_in_state(NumberStatus.ACTIVE, actor=fx("agent_a"), branch=fx("branch_a"), subscriber=fx("holder"))
    return Call(
        lambda: cs.complaint_add_number(complaint=complaint, number=other, actor=actor, reason="also charged"), actor
    )


@drives("complaint_assign")
def _(fx):
    actor = fx("supervisor_a")
    complaint = complaint_of(fx)
    other = make_handler("handler_a2", branch=fx("branch_a"), admin=fx("admin_user"))
    return Call(
        lambda: cs.complaint_assign(complaint=complaint, assignee=other, actor=actor, reason="handler_a on leave"),
        actor,
    )


def _move(service, state: str, actor_name: str = "handler_a"):
    def driver(fx):
        actor = fx(actor_name)
        complaint = complaint_of(fx, state)
        return Call(lambda: service(complaint=complaint, actor=actor, reason=f"test {service.__name__}"), actor)

    return driver


drives("complaint_acknowledge")(_move(cs.complaint_acknowledge, ComplaintState.NEW))
drives("complaint_investigate")(_move(cs.complaint_investigate, ComplaintState.ACKNOWLEDGED))
drives("complaint_note")(_move(cs.complaint_note, ComplaintState.ACKNOWLEDGED))
drives("complaint_resolve")(_move(cs.complaint_resolve, ComplaintState.ACKNOWLEDGED))
drives("complaint_close")(_move(cs.complaint_close, ComplaintState.RESOLVED, "supervisor_a"))
drives("complaint_reopen")(_move(cs.complaint_reopen, ComplaintState.RESOLVED))


@drives("complaint_record_breaches")
def _(fx):
    complaint = complaint_of(fx, ComplaintState.NEW)
    later = complaint.resolve_due_at + timedelta(days=1)
    return Call(lambda: cs.complaint_record_breaches(now=later), job="complaints.record_sla_breaches", done=1)


# complaints: blocks and restorations


@drives("complaint_block_number")
def _(fx):
    actor = fx("handler_a")
    complaint, number, _ = wronged_case(fx)
    return Call(
        lambda: cs.complaint_block_number(complaint=complaint, number=number, actor=actor, reason="stop misuse"), actor
    )


@drives("complaint_lift_block")
def _(fx):
    actor = fx("handler_a")
    _, _, block = blocked_case(fx)
    return Call(lambda: cs.complaint_lift_block(block=block, actor=actor, reason="the holder is rightful"), actor)


@drives("restoration_request")
def _(fx):
    actor = fx("handler_a")
    complaint, number, _ = blocked_case(fx)
    return Call(
        lambda: cs.restoration_request(complaint=complaint, number=number, actor=actor, reason="the ledger says so"),
        actor,
    )


@drives("restoration_approve")
def _(fx):
    actor, restoration = fx("supervisor_a"), requested_restoration(fx)
    return Call(lambda: cs.restoration_approve(restoration=restoration, actor=actor, reason="checked"), actor)


@drives("restoration_reject")
def _(fx):
    actor, restoration = fx("supervisor_a"), requested_restoration(fx)
    return Call(lambda: cs.restoration_reject(restoration=restoration, actor=actor, reason="not proven"), actor)


@drives("restoration_cancel")
def _(fx):
    actor, restoration = fx("handler_a"), requested_restoration(fx)
    return Call(lambda: cs.restoration_cancel(restoration=restoration, actor=actor, reason="asked too soon"), actor)


# complaints: configuration


@drives("calendar_load_holidays")
def _(fx):
    actor, calendar = fx("admin_user"), plain_calendar()
    return Call(
        lambda: cs.calendar_load_holidays(calendar=calendar, country="KH", years=[2025], actor=actor, reason="2025"),
        actor,
    )


@drives("sla_table_activate")
def _(fx):
    actor = fx("admin_user")
    table = SlaTable.objects.create(
        code="ours", name="Our own", calendar=WorkingCalendar.objects.get(code="kh-phnom-penh"), is_active=False
    )
    SlaRule.objects.create(
        table=table,
        category="",
        severity="",
        acknowledge_within=2,
        acknowledge_unit=SlaUnit.HOURS,
        resolve_within=10,
        resolve_unit=SlaUnit.HOURS,
    )
    return Call(lambda: cs.sla_table_activate(table=table, actor=actor, reason="our own clocks"), actor)


# complaints: offers


@drives("offer_propose")
def _(fx):
    actor, complaint = fx("handler_a"), complaint_of(fx)
    return Call(
        lambda: cs.offer_propose(
            complaint=complaint, kind="bill_credit", amount="10", currency=Currency.USD, actor=actor, reason="sorry"
        ),
        actor,
    )


@drives("offer_approve")
def _(fx):
    actor, offer = fx("supervisor_a"), proposed_offer(fx, "120")
    return Call(lambda: cs.offer_approve(offer=offer, actor=actor, reason="outage confirmed"), actor)


@drives("offer_refuse")
def _(fx):
    actor, offer = fx("supervisor_a"), proposed_offer(fx, "120")
    return Call(lambda: cs.offer_refuse(offer=offer, actor=actor, reason="too generous"), actor)


@drives("offer_make")
def _(fx):
    actor, offer = fx("handler_a"), proposed_offer(fx)
    return Call(lambda: cs.offer_make(offer=offer, channel="phone", actor=actor, reason="called them"), actor)


@drives("offer_record_response")
def _(fx):
    actor, offer = fx("handler_a"), made_offer(fx)
    return Call(
        lambda: cs.offer_record_response(offer=offer, accepted=True, channel="phone", actor=actor, reason="yes"),
        actor,
    )


@drives("offer_withdraw")
def _(fx):
    actor, offer = fx("handler_a"), proposed_offer(fx)
    return Call(lambda: cs.offer_withdraw(offer=offer, actor=actor, reason="wrong amount"), actor)


@drives("offer_expire_due")
def _(fx):
    offer = proposed_offer(fx)
    later = offer.valid_until + timedelta(seconds=1)
    return Call(lambda: cs.offer_expire_due(now=later), job="complaints.expire_offers", done=1)


# complaints: the regulator and employee flags


@drives("regulator_case_record")
def _(fx):
    actor, complaint = fx("handler_a"), complaint_of(fx)
    return Call(
        lambda: cs.regulator_case_record(
            complaint=complaint,
            regulator=Regulator.TRC,
            case_number="TRC-2026-0042",
            notified_on=timezone.localdate(),
            actor=actor,
            reason="letter from the regulator",
        ),
        actor,
    )


@drives("regulator_response_record")
def _(fx):
    actor, case = fx("handler_a"), regulator_case(fx)
    return Call(
        lambda: cs.regulator_response_record(
            case=case, responded_on=timezone.localdate(), summary="our answer", actor=actor, reason="sent by post"
        ),
        actor,
    )


@drives("employee_flag")
def _(fx):
    actor = fx("handler_a")
    complaint, _, transfer = wronged_case(fx)
    key = f"numbers.transferrequest:{TransferRequest.history.get(id=transfer.pk, history_type='+').history_id}"
    return Call(lambda: cs.employee_flag(complaint=complaint, change=key, actor=actor, reason="pushed it"), actor)


@drives("employee_flag_withdraw")
def _(fx):
    actor, flag = fx("supervisor_a"), agent_b_flagged(fx)
    return Call(lambda: cs.employee_flag_withdraw(flag=flag, actor=actor, reason="raised in error"), actor)


# staff


@drives("employee_create")
def _(fx):
    actor, branch = fx("admin_user"), fx("branch_a")
    return Call(
        lambda: staff_services.employee_create(
            username="agent_new",
            employee_code="E-AGENT_NEW",
            roles=[Role.AGENT],
            branches=[branch],
            actor=actor,
            reason="hired",
        ),
        actor,
    )


@drives("employee_set_branches")
def _(fx):
    actor, employee, branches = fx("admin_user"), fx("agent_a").employee, [fx("branch_a"), fx("branch_b")]
    return Call(
        lambda: staff_services.employee_set_branches(employee=employee, branches=branches, actor=actor, reason="both"),
        actor,
    )


@drives("employee_set_roles")
def _(fx):
    actor, employee = fx("admin_user"), fx("agent_a").employee
    return Call(
        lambda: staff_services.employee_set_roles(
            employee=employee, roles=[Role.AGENT, Role.SUPERVISOR], actor=actor, reason="promoted"
        ),
        actor,
    )


@drives("employee_set_status")
def _(fx):
    actor, employee = fx("admin_user"), fx("agent_a").employee
    return Call(
        lambda: staff_services.employee_set_status(
            employee=employee, status=EmploymentStatus.SUSPENDED, actor=actor, reason="unpaid leave"
        ),
        actor,
    )


@drives("employee_suspend")
def _(fx):
    actor, user = fx("auditor"), fx("agent_b")
    return Call(lambda: staff_services.employee_suspend(user=user, actor=actor, reason="under review"), actor)


@drives("employee_reinstate")
def _(fx):
    actor, user = fx("auditor"), fx("agent_b")
    staff_services.employee_suspend(user=user, actor=actor, reason="under review")
    return Call(lambda: staff_services.employee_reinstate(user=user, actor=actor, reason="cleared"), actor)


# audit: disciplinary cases


@drives("case_open")
def _(fx):
    actor, user, flag = fx("auditor"), fx("agent_b"), agent_b_flagged(fx)
    return Call(
        lambda: audit_services.case_open(
            employee=user, summary="Pushed a transfer through", actor=actor, reason="complaint", flags=[flag]
        ),
        actor,
    )


@drives("case_add_note")
def _(fx):
    actor, case = fx("auditor"), open_case(fx, flags=False)
    return Call(lambda: audit_services.case_add_note(case=case, text="Interviewed", actor=actor, reason="note"), actor)


@drives("case_suspend_employee")
def _(fx):
    actor, case = fx("auditor"), open_case(fx)
    return Call(lambda: audit_services.case_suspend_employee(case=case, actor=actor, reason="pending review"), actor)


@drives("case_close")
def _(fx):
    actor, case = fx("auditor"), open_case(fx)
    audit_services.case_suspend_employee(case=case, actor=actor, reason="pending review")
    return Call(
        lambda: audit_services.case_close(
            case=case, outcome=CaseOutcome.WARNING, actor=actor, reason="a warning", reinstate=True
        ),
        actor,
    )


# --- The tests ----------------------------------------------------------------------------------


# jobs: the inactivity lifecycle and delivery


@drives("lifecycle_run")
def _(fx):
    from numbers.lifecycle import local_day
    from numbers.services.lifecycle import lifecycle_run

    number = fx("active")
    day90 = local_day(number.last_topup_at) + timedelta(days=90)
    # Never warned: the run warns it (the final warning, its SMS) and holds it back.
    return Call(lambda: sum(lifecycle_run(today=day90).warned.values()), job="jobs.lifecycle", done=1)


def _stored_sms(*, created_at=None):
    from sms.models import SmsMessage
    from sms.services import sms_send

    with request_scope():
        message = sms_send(to="+85512999000", body="Your number is safe", purpose="notice")
    if created_at is not None:
        message.created_at = created_at
        message.save()
    return SmsMessage.objects.get(pk=message.pk)


@drives("sms_deliver")
def _(fx):
    from sms.services import sms_deliver

    message = _stored_sms()
    return Call(lambda: int(sms_deliver(message_id=message.pk).sent), job="sms.deliver", done=1)


@drives("sms_deliver_due")
def _(fx):
    from django.utils import timezone

    from sms.services import sms_deliver_due

    _stored_sms(created_at=timezone.now() - timedelta(hours=1))
    return Call(lambda: sms_deliver_due(), job="jobs.notifications", done=1)


def _stored_notice(fx, *, created_at=None):
    supervisor = fx("supervisor_a")
    supervisor.email = supervisor.email or "supervisor_a@example.invalid"
    supervisor.save()
    with request_scope():
        (notice,) = staff_services.notice_send(
            recipients=[supervisor], subject="SLA breached", body="Look at it", dedupe_key="test-notice"
        )
    if created_at is not None:
        notice.created_at = created_at
        notice.save()
    return notice


@drives("notice_deliver")
def _(fx):
    notice = _stored_notice(fx)
    return Call(
        lambda: int(staff_services.notice_deliver(notice_id=notice.pk).sent), job="staff.deliver_notice", done=1
    )


@drives("notice_deliver_due")
def _(fx):
    from django.utils import timezone

    _stored_notice(fx, created_at=timezone.now() - timedelta(hours=1))
    return Call(lambda: staff_services.notice_deliver_due(), job="jobs.notifications", done=1)


def test_every_public_service_function_is_audited_or_listed_with_why():
    functions = service_functions()
    listed = set(NOT_AUDITED) | set(DELEGATES) | SWEEPS
    assert not (set(NOT_AUDITED) & set(DELEGATES)) and not (set(NOT_AUDITED) | set(DELEGATES)) & SWEEPS
    unlisted = sorted(name for name, fn in functions.items() if not is_audited(fn) and name not in listed)
    assert unlisted == [], "writers must be @audited; list pure reads and helpers in NOT_AUDITED with why"
    audited_but_listed = sorted(name for name in listed if name in functions and is_audited(functions[name]))
    assert audited_but_listed == [], "these are audited now: take them off the lists"
    assert sorted(listed - set(functions)) == [], "listed functions that no longer exist"


def test_every_delegate_writes_through_an_audited_service():
    for name, target in DELEGATES.items():
        assert is_audited(import_string(target)), f"{name} writes through {target}, which is not audited"


def test_every_audited_service_and_sweep_has_a_driver():
    functions = service_functions()
    audited = {name for name, fn in functions.items() if is_audited(fn)}
    assert set(DRIVERS) == audited | SWEEPS | set(DELEGATES)


def history_of(request_id: str) -> list[tuple[type, object]]:
    """Every record on the audit chain stamped with ``request_id``."""
    return [
        (model, row)
        for model in chained_models()
        for row in model._base_manager.filter(history_request_id=request_id).order_by("pk")
    ]


@pytest.mark.parametrize("name", sorted(DRIVERS))
def test_each_change_is_recorded_with_who_and_why(name, request):
    call = DRIVERS[name](request.getfixturevalue)
    scope = job_scope(call.job) if call.job else request_scope()
    with scope as request_id:
        result = call.run()
    if call.done is not None:
        assert result == call.done, f"{name} handled {result} items, not {call.done}"

    rows = history_of(request_id)
    assert rows, f"{name} left no history record"
    audited_rows = [(model, row) for model, row in rows if issubclass(model, AuditedHistoricalRecord)]
    assert audited_rows, f"{name} left no history record with a user and a reason"
    for model, row in rows:
        where = f"{name}: {model._meta.label} #{row.pk}"
        assert len(row.record_hash) == 64 and len(row.prev_hash) == 64, f"{where} is not on the chain"
    for model, row in audited_rows:
        where = f"{name}: {model._meta.label} #{row.pk}"
        if call.job:
            assert row.history_user_id is None, f"{where} names a user for a job's change"
            assert row.actor_label == f"job:{call.job}", f"{where} does not name the job"
        else:
            assert row.history_user_id == call.actor.pk, f"{where} names user #{row.history_user_id}"
            assert row.actor_label == call.actor.get_username(), f"{where} has actor label {row.actor_label!r}"
        assert (row.history_change_reason or "").strip(), f"{where} has no reason"
    for model in {model for model, _ in rows}:
        assert verify_table(model)[1] is None
