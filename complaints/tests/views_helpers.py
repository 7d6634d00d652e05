"""Helpers shared by the complaint view tests: URLs, messages, a complaint and its snapshot, the incident."""

from __future__ import annotations

from django.contrib.messages import get_messages
from django.urls import reverse

from complaints import services as cs
from complaints.choices import Channel, ComplaintCategory, Severity
from complaints.models import Complaint, ComplaintEvent
from numbers import services as ns
from numbers.choices import ConsentParty
from numbers.models import MobileNumber
from staff.choices import Role
from staff.services import employee_create
from tests.factories import consent_by_code, consent_in_person, transfer_request


def detail_url(complaint) -> str:
    return reverse("complaints:complaint_detail", args=[complaint.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def national(number) -> str:
    """The number as staff type it at the counter: 012 345 678."""
    return "0" + number.msisdn.removeprefix("+855")


def wrongly_transferred(number, *, to, agent, supervisor):
    """The incident's handover: a transfer pushed through by ``agent``, approved by ``supervisor``."""
    request = transfer_request(actor=agent, branch=number.branch, number=number, new_subscriber=to)
    consent_by_code(request, actor=agent)
    consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=agent)
    request.refresh_from_db()
    ns.transfer_approve(request=request, actor=supervisor, reason="looked fine")
    number.refresh_from_db()
    return number


def new_complaint(
    *,
    actor,
    complainant,
    numbers=(),
    category=ComplaintCategory.BILLING,
    severity=Severity.MEDIUM,
    branch=None,
    received_at=None,
    description="I was charged twice for the same bundle",
) -> Complaint:
    return cs.complaint_create(
        complainant=complainant,
        category=category,
        severity=severity,
        channel=Channel.PHONE,
        description=description,
        actor=actor,
        branch=branch,
        numbers=list(numbers),
        received_at=received_at,
    )


def make_handler(username: str, *, branch, admin):
    employee = employee_create(
        username=username,
        employee_code=f"E-{username.upper()}",
        roles=[Role.COMPLAINT_HANDLER],
        branches=[branch],
        actor=admin,
        reason="A second complaint handler of the branch",
        first_name="Second",
        last_name="Handler",
    )
    return employee.user


def complaint_snapshot(complaint) -> dict:
    """A complaint, its record and its numbers: all unchanged after a refusal."""
    fresh = Complaint.objects.get(pk=complaint.pk)
    return {
        "complaint": Complaint.objects.filter(pk=complaint.pk).values().get(),
        "history": fresh.history.count(),
        "events": list(ComplaintEvent.objects.filter(complaint=fresh).values_list("pk", flat=True)),
        "blocks": list(fresh.blocks.values_list("pk", "lifted_at")),
        "restorations": list(fresh.restorations.values_list("pk", "state")),
        "offers": list(fresh.offers.values_list("pk", "state")),
        "cases": list(fresh.regulator_cases.values_list("pk", flat=True)),
        "flags": list(fresh.employee_flags.values_list("pk", "withdrawn_at")),
        "numbers": list(
            MobileNumber.objects.filter(complaint_links__complaint=fresh)
            .order_by("pk")
            .values_list("pk", "status", "holder_id")
        ),
    }


def make_incident(*, agent_b, supervisor_a, handler_a, holder, newcomer, active) -> Complaint:
    """The holder's number went to a newcomer; the holder complains to handler_a."""
    wrongly_transferred(active, to=newcomer, agent=agent_b, supervisor=supervisor_a)
    return new_complaint(
        actor=handler_a,
        complainant=holder,
        numbers=[active],
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        description="My number was given to someone else",
    )
