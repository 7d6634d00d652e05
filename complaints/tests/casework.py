"""Setup shared by the complaint service tests: more staff, a complaint in a given
state, an offer proposed on it, a wrongful transfer to put right, SLA tables with
known clocks, and what "nothing changed" means for a complaint."""

from __future__ import annotations

from datetime import time

from django.contrib.auth import get_user_model

from complaints import services as cs
from complaints.choices import Channel, ComplaintCategory, ComplaintState, Currency, Severity, SlaUnit
from complaints.models import (
    CompensationOffer,
    Complaint,
    ComplaintEvent,
    ComplaintNumber,
    ComplaintSequence,
    ComplaintUserObjectPermission,
    EmergencyBlock,
    EmployeeFlag,
    RegulatorCase,
    RegulatorResponse,
    Restoration,
    SlaRule,
    SlaTable,
    WorkingCalendar,
)
from numbers import services as ns
from numbers.choices import ConsentParty
from sms.models import SmsMessage
from staff.choices import Role
from staff.services import employee_create
from tests.factories import consent_by_code, consent_in_person, transfer_request


def make_employee(username: str, *, roles, branch, admin):
    """Another employee made like the personas (staff.personas)."""
    employee = employee_create(
        username=username,
        employee_code=f"E-{username.upper()}",
        roles=roles,
        branches=[branch],
        actor=admin,
        reason="Another employee for the test",
        first_name=username.split("_")[0].capitalize(),
        last_name="Test",
    )
    return employee.user


def make_handler(username: str, *, branch, admin):
    return make_employee(username, roles=[Role.COMPLAINT_HANDLER], branch=branch, admin=admin)


def new_complaint(
    *,
    actor,
    complainant,
    numbers=(),
    category: str = ComplaintCategory.BILLING,
    severity: str = Severity.MEDIUM,
    channel: str = Channel.PHONE,
    branch=None,
    received_at=None,
    description: str = "I was charged twice for the same bundle",
) -> Complaint:
    return cs.complaint_create(
        complainant=complainant,
        category=category,
        severity=severity,
        channel=channel,
        description=description,
        actor=actor,
        branch=branch,
        numbers=list(numbers),
        received_at=received_at,
    )


def bring_to(complaint: Complaint, state: str, *, handler) -> Complaint:
    """Move a fresh complaint (assigned to ``handler``) to ``state`` through the services."""
    steps = {
        ComplaintState.NEW: [],
        ComplaintState.ACKNOWLEDGED: [cs.complaint_acknowledge],
        ComplaintState.INVESTIGATING: [cs.complaint_acknowledge, cs.complaint_investigate],
        ComplaintState.RESOLVED: [cs.complaint_acknowledge, cs.complaint_resolve],
        ComplaintState.CLOSED: [cs.complaint_acknowledge, cs.complaint_resolve, cs.complaint_close],
        ComplaintState.REOPENED: [cs.complaint_acknowledge, cs.complaint_resolve, cs.complaint_reopen],
    }[state]
    for step in steps:
        complaint = step(complaint=complaint, actor=handler, reason=f"test step {step.__name__}")
    complaint.refresh_from_db()
    assert complaint.state == state
    return complaint


def propose(complaint, actor, amount="10", currency=Currency.USD, **kwargs):
    fields = {"kind": "bill_credit", "reason": "sorry for the double charge"} | kwargs
    return cs.offer_propose(complaint=complaint, amount=amount, currency=currency, actor=actor, **fields)


def wrongful_transfer(*, number, to, agent, supervisor):
    """The number given to ``to`` by a transfer that went through (the incident)."""
    request = transfer_request(actor=agent, branch=number.branch, number=number, new_subscriber=to)
    consent_by_code(request, actor=agent)
    consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=agent)
    request.refresh_from_db()
    ns.transfer_approve(request=request, actor=supervisor, reason="looked fine at the time")
    number.refresh_from_db()
    assert number.holder_id == to.pk
    return request


def activate_table(code: str, rules, *, calendar: WorkingCalendar | None = None, warn_percent: int = 75) -> SlaTable:
    """Configuration as an administrator would enter it in the admin: a new table,
    made the active one. ``rules`` are (category, severity, ack, ack unit, resolve, resolve unit)."""
    calendar = calendar or WorkingCalendar.objects.get(code="kh-phnom-penh")
    SlaTable.objects.filter(is_active=True).update(is_active=False)
    table = SlaTable.objects.create(
        code=code, name=f"Test table {code}", calendar=calendar, warn_percent=warn_percent, is_active=True
    )
    for category, severity, ack, ack_unit, resolve, resolve_unit in rules:
        SlaRule.objects.create(
            table=table,
            category=category,
            severity=severity,
            acknowledge_within=ack,
            acknowledge_unit=ack_unit,
            resolve_within=resolve,
            resolve_unit=resolve_unit,
        )
    return table


def round_the_clock_table(*, ack_hours: int = 2, resolve_hours: int = 10) -> SlaTable:
    """Clocks that do not depend on the day the tests run: acknowledge within 2 hours,
    resolve within 10, round the clock, for every complaint."""
    return activate_table("hours", [("", "", ack_hours, SlaUnit.HOURS, resolve_hours, SlaUnit.HOURS)])


def plain_calendar(code: str = "plain", *, timezone: str = "Asia/Phnom_Penh") -> WorkingCalendar:
    """Monday to Friday, 08:00-17:00, no public holidays."""
    return WorkingCalendar.objects.create(
        code=code, name="Plain week", timezone=timezone, weekdays="0,1,2,3,4", day_start=time(8), day_end=time(17)
    )


def complaint_snapshot(complaint: Complaint) -> dict:
    """Everything a complaint service could change about ``complaint``, read fresh."""
    pk = complaint.pk
    return {
        "complaint": list(Complaint.objects.filter(pk=pk).values()),
        "history": Complaint.history.filter(id=pk).count(),
        "events": list(ComplaintEvent.objects.filter(complaint_id=pk).order_by("pk").values()),
        "numbers": list(ComplaintNumber.objects.filter(complaint_id=pk).order_by("pk").values()),
        "blocks": list(EmergencyBlock.objects.filter(complaint_id=pk).order_by("pk").values()),
        "restorations": list(Restoration.objects.filter(complaint_id=pk).order_by("pk").values()),
        "offers": list(CompensationOffer.objects.filter(complaint_id=pk).order_by("pk").values()),
        "cases": list(RegulatorCase.objects.filter(complaint_id=pk).order_by("pk").values()),
        "responses": list(RegulatorResponse.objects.filter(case__complaint_id=pk).order_by("pk").values()),
        "flags": list(EmployeeFlag.objects.filter(complaint_id=pk).order_by("pk").values()),
        "handlers": sorted(
            ComplaintUserObjectPermission.objects.filter(content_object_id=pk).values_list("user_id", flat=True)
        ),
        "sequences": list(ComplaintSequence.objects.order_by("year").values_list("year", "last")),
        "sms": list(SmsMessage.objects.order_by("pk").values_list("pk", flat=True)),
    }


def handlers_of(complaint: Complaint) -> set[str]:
    """Who holds the handler's object permission on ``complaint`` (guardian rows)."""
    user_ids = ComplaintUserObjectPermission.objects.filter(
        content_object_id=complaint.pk, permission__codename="handle_complaint"
    ).values_list("user_id", flat=True)
    return set(get_user_model().objects.filter(pk__in=user_ids).values_list("username", flat=True))


def last_history(model, pk: int):
    return model.history.filter(id=pk).order_by("-history_id").first()


def events_of(complaint: Complaint) -> list[tuple[str, str]]:
    return list(complaint.events.order_by("at", "id").values_list("kind", "text"))
