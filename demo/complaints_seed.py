"""Demo complaints, built through the complaint services (no row is written any other
way), so their timelines read like real work.

- complaints in every state in branch A, handled by ``handler_a``; complaints in
  branch B left unassigned (branch B has no handler); one with a breached SLA on
  record and one due soon;
- the incident: an active number of branch A handed to a new subscriber through a
  transfer ``agent_b`` pushed through (the holder's consent by the code sent to
  her number, read back by whoever had her stolen phone; the new subscriber's at
  the counter; approved by ``supervisor_a``); its holder complains, ``handler_a`` blocks the number at once,
  asks for its restoration and ``supervisor_a`` approves it; two offers are declined
  and a third awaits approval; the regulator (TRC) opens a case and gets an answer;
  ``agent_b`` is flagged for the wrongful transfer;
- for a newcomer to try: another wrongful transfer whose restoration and offer
  await ``supervisor_a``'s approval.

Why one module of ~580 lines: it is one story told in order (each step uses the
rows the previous made), read top to bottom like the README's walkthrough.

Idempotent like demo.numbers_seed: a scenario already in the database is left alone
(found by its complaint's description), except what time makes stale: an offer
awaiting approval past its validity is replaced, and a complaint due soon is taken
in afresh once the last one is no longer due soon.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from complaints import services, sla
from complaints.choices import (
    LIVE_OFFER_STATES,
    Channel,
    ComplaintCategory,
    ComplaintState,
    Currency,
    OfferKind,
    OfferState,
    Regulator,
    ResponseChannel,
    Severity,
    SlaStatus,
)
from complaints.models import CompensationOffer, Complaint
from complaints.selectors import flaggable_changes
from demo.numbers_seed import demo_msisdn, holder_reads_code
from numbers import services as number_services
from numbers.choices import ConsentParty
from numbers.identity import unseal_document
from numbers.models import MobileNumber, Subscriber, TransferRequest

# --- Complaints in every state -------------------------------------------------------


@dataclass(frozen=True)
class DemoComplaint:
    """One demo complaint on one demo number (see demo.numbers_seed.demo_msisdn; indices
    400-839 are active, index % 5 < 3 is branch A), taken as far as ``state``."""

    index: int
    category: str
    severity: str
    channel: str
    description: str  # the customer's words, unique: how a re-run finds it
    taken_by: str  # the persona who takes it in (a handler takes it as their own)
    state: str
    received_hours_ago: float = 0
    assigned_by: str = ""  # a supervisor who gives it to handler_a after intake


HANDLER = "handler_a"
# Staying under two working days: acknowledged in time whatever the weekday.
DEMO_COMPLAINTS: tuple[DemoComplaint, ...] = (
    DemoComplaint(
        410,
        ComplaintCategory.BILLING,
        Severity.MEDIUM,
        Channel.PHONE,
        "Demo: I was charged twice for my March top-up and nobody called me back.",
        "agent_a",
        ComplaintState.NEW,
        received_hours_ago=20 * 24,
        assigned_by="supervisor_a",
    ),
    DemoComplaint(
        412,
        ComplaintCategory.BILLING,
        Severity.LOW,
        Channel.WEB,
        "Demo: my data bundle ran out a week early.",
        HANDLER,
        ComplaintState.ACKNOWLEDGED,
        received_hours_ago=3,
    ),
    DemoComplaint(
        415,
        ComplaintCategory.SERVICE_QUALITY,
        Severity.HIGH,
        Channel.PHONE,
        "Demo: no signal at home in Toul Kork since Monday.",
        HANDLER,
        ComplaintState.INVESTIGATING,
        received_hours_ago=5,
    ),
    DemoComplaint(
        416,
        ComplaintCategory.OTHER,
        Severity.LOW,
        Channel.EMAIL,
        "Demo: the shop assistant was rude when I asked for a new SIM.",
        HANDLER,
        ComplaintState.RESOLVED,
        received_hours_ago=6,
    ),
    DemoComplaint(
        417,
        ComplaintCategory.BILLING,
        Severity.MEDIUM,
        Channel.BRANCH,
        "Demo: I was billed for a roaming pack I never ordered.",
        HANDLER,
        ComplaintState.CLOSED,
        received_hours_ago=6,
    ),
    DemoComplaint(
        422,
        ComplaintCategory.SERVICE_QUALITY,
        Severity.MEDIUM,
        Channel.PHONE,
        "Demo: my calls drop after one minute, again.",
        HANDLER,
        ComplaintState.REOPENED,
        received_hours_ago=4,
    ),
    # Branch B has no complaint handler: its complaints wait, unassigned.
    DemoComplaint(
        413,
        ComplaintCategory.BILLING,
        Severity.MEDIUM,
        Channel.BRANCH,
        "Demo: my post-paid bill doubled this month without any reason.",
        "agent_c",
        ComplaintState.NEW,
        received_hours_ago=20 * 24,
    ),
    DemoComplaint(
        414,
        ComplaintCategory.SERVICE_QUALITY,
        Severity.LOW,
        Channel.PHONE,
        "Demo: mobile internet is very slow in Siem Reap town in the evening.",
        "supervisor_b",
        ComplaintState.NEW,
        received_hours_ago=1,
    ),
)

# The moves handler_a makes to bring a new complaint to each state (and their reasons).
PATH_TO: dict[str, tuple[tuple[str, str], ...]] = {
    ComplaintState.NEW: (),
    ComplaintState.ACKNOWLEDGED: (("acknowledge", "Demo: called the customer back"),),
    ComplaintState.INVESTIGATING: (
        ("acknowledge", "Demo: called the customer back"),
        ("investigate", "Demo: asked the network team for the cell's logs"),
        ("note", "Demo: the cell near the customer's home was down two days for maintenance"),
    ),
    ComplaintState.RESOLVED: (
        ("acknowledge", "Demo: replied by email"),
        ("resolve", "Demo: apologised; the branch manager spoke to the assistant"),
    ),
    ComplaintState.CLOSED: (
        ("acknowledge", "Demo: called the customer back"),
        ("resolve", "Demo: the roaming pack was cancelled and refunded on the next bill"),
        ("close", "Demo: the customer confirmed the refund"),
    ),
    ComplaintState.REOPENED: (
        ("acknowledge", "Demo: called the customer back"),
        ("resolve", "Demo: the customer's SIM was replaced"),
        ("reopen", "Demo: the customer says the calls still drop with the new SIM"),
    ),
}
_MOVES = {
    "acknowledge": services.complaint_acknowledge,
    "investigate": services.complaint_investigate,
    "note": services.complaint_note,
    "resolve": services.complaint_resolve,
    "close": services.complaint_close,
    "reopen": services.complaint_reopen,
}

# A complaint whose clock shows "due soon": taken in on number 411 (service quality)
# or, when no working-day clock can be due soon right now (a weekend), as an
# unauthorised transfer on number 426 whose 4-hour acknowledgement runs round the clock.
DUE_SOON_INDEX = 411
DUE_SOON_FALLBACK_INDEX = 426
DUE_SOON_DESCRIPTION = "Demo: my calls keep failing in the evening, please call me back."
DUE_SOON_FALLBACK_DESCRIPTION = "Demo: since this morning a stranger answers when my family calls my number."
DUE_SOON_SEVERITIES = (Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)

# --- The incident and the complaint left for a newcomer ---------------------------------

INCIDENT_INDEX = 420
INCIDENT_DESCRIPTION = (
    "Demo: my number was given to somebody else. I never agreed to any transfer and I was never at the branch."
)
INCIDENT_TRANSFER_REASON = "Demo: the caller says the holder sold him the number"
INCIDENT_CASE_NUMBER = "TRC-DEMO-0417"
# Offers on the incident: two made and declined, the third above the limit.
INCIDENT_DECLINED_OFFERS = (
    (OfferKind.AIRTIME_CREDIT, "20", "Demo: the customer wants more than airtime"),
    (OfferKind.BILL_CREDIT, "40", "Demo: the customer asks for a refund of three months' fees"),
)
INCIDENT_PENDING_OFFER = (OfferKind.REFUND, "100", "Demo: three months' fees refunded, as the customer asked")

TRY_IT_INDEX = 421
TRY_IT_DESCRIPTION = (
    "Demo: my brother-in-law took my ID card to the branch and my number is now in his name. I never agreed."
)
TRY_IT_TRANSFER_REASON = "Demo: a relative brings the holder's ID card and says she agrees"
TRY_IT_PENDING_OFFER = (OfferKind.AIRTIME_CREDIT, "80", "Demo: airtime for the days without her number")

# The numbers the demo leaves blocked (a restoration awaits approval): one active number
# of the inventory plan is blocked after seeding.
NUMBERS_LEFT_BLOCKED: tuple[int, ...] = (TRY_IT_INDEX,)
# The numbers handed over by the demo's wrongful transfers (executed transfer requests).
WRONGFUL_TRANSFER_INDICES: tuple[int, ...] = (INCIDENT_INDEX, TRY_IT_INDEX)

DEMO_REFRESH_REASON = "Demo data: the offer went stale unanswered; replaced by a fresh one"


def _holder(number: MobileNumber) -> Subscriber:
    if number.holder_id is None:
        raise ValidationError(f"{number.msisdn} is {number.status}: it has no holder to complain.")
    return number.holder


def _number(index: int) -> MobileNumber:
    number = MobileNumber.objects.select_related("holder", "branch").filter(msisdn=demo_msisdn(index)).first()
    if number is None:
        raise ValidationError(f"Demo number {demo_msisdn(index)} is missing: seed the numbers first.")
    return number


def _someone_else(subscribers: list[Subscriber], *, not_pk: int, index: int) -> Subscriber:
    for step in range(len(subscribers)):
        candidate = subscribers[(index * 7 + 3 + step) % len(subscribers)]
        if candidate.pk != not_pk:
            return candidate
    raise ValidationError("The demo needs at least two subscribers.")


def _seed_complaint(plan: DemoComplaint, *, users: dict, now) -> str:
    if Complaint.objects.filter(description=plan.description).exists():
        return "present"
    number = _number(plan.index)
    complaint = services.complaint_create(
        complainant=_holder(number),
        category=plan.category,
        severity=plan.severity,
        channel=plan.channel,
        description=plan.description,
        numbers=[number],
        received_at=now - timedelta(hours=plan.received_hours_ago) if plan.received_hours_ago else None,
        actor=users[plan.taken_by],
        reason="Demo data: complaint taken in",
    )
    if plan.assigned_by:
        complaint = services.complaint_assign(
            complaint=complaint,
            assignee=users[HANDLER],
            actor=users[plan.assigned_by],
            reason="Demo data: billing complaints go to handler_a",
        )
    for move, reason in PATH_TO[plan.state]:
        result = _MOVES[move](complaint=complaint, actor=users[HANDLER], reason=reason)
        complaint = result if isinstance(result, Complaint) else complaint
    return "created"


# --- Due soon -------------------------------------------------------------------------


def _due_soon_choice(now) -> tuple[str, str, int, object] | None:
    """(category, severity, number index, received at) of a complaint whose clock is
    due soon now and stays so the longest; None when no rule allows one."""
    best = None
    for category, severities, index in (
        (ComplaintCategory.SERVICE_QUALITY, DUE_SOON_SEVERITIES, DUE_SOON_INDEX),
        (ComplaintCategory.UNAUTHORISED_TRANSFER, (Severity.CRITICAL,), DUE_SOON_FALLBACK_INDEX),
    ):
        for severity in severities:
            rule = services.sla_rule_for(category=category, severity=severity)
            calendar = rule.table.calendar.as_calendar(around=now)
            # Every ten minutes over the last ten days: the receipt time that leaves the
            # acknowledgement clock due soon with the most time to go.
            for minutes in range(10, 10 * 24 * 60, 10):
                received = now - timedelta(minutes=minutes)
                due = sla.deadline(calendar, received, rule.acknowledge_within, rule.acknowledge_unit)
                warn = sla.warning_time(received, due, rule.table.warn_percent)
                due_soon = warn <= now - timedelta(minutes=1) and due >= now + timedelta(minutes=15)
                if due_soon and (best is None or due - now > best[0]):
                    best = (due - now, (category, severity, index, received))
    return best[1] if best else None


def _seed_due_soon(*, users: dict, now) -> str:
    latest = (
        Complaint.objects.filter(description__in=[DUE_SOON_DESCRIPTION, DUE_SOON_FALLBACK_DESCRIPTION])
        .order_by("-created_at", "-id")
        .first()
    )
    if latest is not None and latest.sla_status(now) == SlaStatus.DUE_SOON:
        return "present"
    choice = _due_soon_choice(now)
    if choice is None:
        return "skipped: no SLA rule can be due soon at this hour"
    category, severity, index, received = choice
    number = _number(index)
    fallback = category == ComplaintCategory.UNAUTHORISED_TRANSFER
    complaint = services.complaint_create(
        complainant=_holder(number),
        category=category,
        severity=severity,
        channel=Channel.PHONE,
        description=DUE_SOON_FALLBACK_DESCRIPTION if fallback else DUE_SOON_DESCRIPTION,
        numbers=[number],
        received_at=received,
        actor=users[HANDLER],
        reason="Demo data: complaint taken in by the call centre",
    )
    if complaint.sla_status(timezone.now()) != SlaStatus.DUE_SOON:
        raise ValidationError("The demo's due-soon complaint came out %(s)s.", params={"s": complaint.sla_status()})
    return "created" if latest is None else "refreshed"


# --- Wrongful transfers ---------------------------------------------------------------


def _wrongful_transfer(number: MobileNumber, *, to: Subscriber, requester, approver, reason: str) -> TransferRequest:
    """A transfer pushed through by ``requester``: the holder's consent by the code
    sent to her number, read back by whoever had her phone (it had been stolen); the
    new subscriber's at the counter; approved by a supervisor who trusted them."""
    request = number_services.transfer_create(number=number, new_subscriber=to, actor=requester, reason=reason)
    holder_reads_code(request, actor=requester)
    number_services.consent_record_in_person(
        request=request,
        party=ConsentParty.NEW_SUBSCRIBER,
        document_type=to.id_document_type,
        # The demo plays the customer showing their card: it knows the number, staff do not.
        document_number=unseal_document(to.id_document_sealed),
        actor=requester,
        reason="Demo data: identity document shown at the counter",
    )
    return number_services.transfer_approve(
        request=request, actor=approver, reason="Demo data: the code read back from the number; approved"
    )


def _propose(complaint, offer: tuple[str, str, str], *, actor) -> CompensationOffer:
    kind, amount, reason = offer
    return services.offer_propose(
        complaint=complaint, kind=kind, amount=amount, currency=Currency.USD, actor=actor, reason=reason
    )


def _seed_incident(*, users: dict, subscribers: list[Subscriber]) -> str:
    if Complaint.objects.filter(description=INCIDENT_DESCRIPTION).exists():
        return "present"
    handler, supervisor = users[HANDLER], users["supervisor_a"]
    number = _number(INCIDENT_INDEX)
    holder = _holder(number)
    newcomer = _someone_else(subscribers, not_pk=holder.pk, index=INCIDENT_INDEX)
    _wrongful_transfer(
        number, to=newcomer, requester=users["agent_b"], approver=supervisor, reason=INCIDENT_TRANSFER_REASON
    )
    number.refresh_from_db()

    complaint = services.complaint_create(
        complainant=holder,
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        severity=Severity.CRITICAL,
        channel=Channel.BRANCH,
        description=INCIDENT_DESCRIPTION,
        numbers=[number],
        actor=handler,
        reason="Demo data: the holder came to branch A with her ID card",
    )
    services.complaint_block_number(
        complaint=complaint,
        number=number,
        actor=handler,
        reason="Demo data: stop the new holder using the number while we check",
    )
    services.complaint_acknowledge(
        complaint=complaint, actor=handler, reason="Demo data: told the holder her number is frozen"
    )
    services.complaint_note(
        complaint=complaint,
        actor=handler,
        reason="Demo data: the ledger shows a transfer requested by agent_b, the holder's consent by a code "
        "read back at the counter; the holder was not in the branch that day and her phone had been stolen",
    )
    restoration = services.restoration_request(
        complaint=complaint,
        number=number,
        actor=handler,
        reason="Demo data: the holder never consented; give the number back to her",
    )
    services.restoration_approve(
        restoration=restoration,
        actor=supervisor,
        reason="Demo data: the holder's ID checked in person; the transfer was wrongful",
    )
    for offer in INCIDENT_DECLINED_OFFERS:
        proposed = _propose(complaint, offer, actor=handler)
        services.offer_make(offer=proposed, channel=ResponseChannel.PHONE, actor=handler, reason="Demo data: called")
        services.offer_record_response(
            offer=proposed,
            accepted=False,
            channel=ResponseChannel.PHONE,
            actor=handler,
            reason="Demo data: not enough for a week without her number",
        )
    _propose(complaint, INCIDENT_PENDING_OFFER, actor=handler)
    today = timezone.localdate()
    case = services.regulator_case_record(
        complaint=complaint,
        regulator=Regulator.TRC,
        case_number=INCIDENT_CASE_NUMBER,
        notified_on=today,
        actor=handler,
        reason="Demo data: the TRC forwarded the holder's complaint",
        note="Demo data: the TRC asks for the timeline and the steps taken",
    )
    services.regulator_response_record(
        case=case,
        responded_on=today,
        summary="Demo data: number blocked at once, restored to the holder with a supervisor's approval; "
        "the employee concerned is under review",
        actor=handler,
        reason="Demo data: answer sent to the TRC",
    )
    agent_b = users["agent_b"].get_username()
    keys = [
        key
        for key, summary in flaggable_changes(complaint)
        if key.startswith("numbers.transferrequest:") and f"by {agent_b}:" in summary
    ]
    if not keys:
        raise ValidationError("The incident's transfer by agent_b is not among the number's changes.")
    services.employee_flag(
        complaint=complaint,
        change=keys[-1],  # the oldest: the request agent_b made
        actor=handler,
        reason="Demo data: took the holder's consent from a code read back by somebody who was not her",
    )
    return "created"


def _seed_try_it(*, users: dict, subscribers: list[Subscriber]) -> str:
    if Complaint.objects.filter(description=TRY_IT_DESCRIPTION).exists():
        return "present"
    handler = users[HANDLER]
    number = _number(TRY_IT_INDEX)
    holder = _holder(number)
    relative = _someone_else(subscribers, not_pk=holder.pk, index=TRY_IT_INDEX)
    _wrongful_transfer(
        number, to=relative, requester=users["agent_a"], approver=users["supervisor_a"], reason=TRY_IT_TRANSFER_REASON
    )
    number.refresh_from_db()
    complaint = services.complaint_create(
        complainant=holder,
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        severity=Severity.CRITICAL,
        channel=Channel.PHONE,
        description=TRY_IT_DESCRIPTION,
        numbers=[number],
        actor=users["agent_a"],
        reason="Demo data: the holder called the branch",
    )
    complaint = services.complaint_assign(
        complaint=complaint, assignee=handler, actor=users["supervisor_a"], reason="Demo data: urgent, to handler_a"
    )
    services.complaint_block_number(
        complaint=complaint, number=number, actor=handler, reason="Demo data: frozen until we know who holds it"
    )
    services.complaint_acknowledge(complaint=complaint, actor=handler, reason="Demo data: called the holder back")
    services.restoration_request(
        complaint=complaint,
        number=number,
        actor=handler,
        reason="Demo data: the holder was abroad on the day of the transfer (passport stamps seen)",
    )
    _propose(complaint, TRY_IT_PENDING_OFFER, actor=handler)
    return "created"


def _refresh_pending_offer(description: str, offer: tuple[str, str, str], *, users: dict, now) -> str:
    """The offer left awaiting approval, proposed again once it went stale unanswered
    (past its validity, or expired by the job); never after a supervisor decided it."""
    complaint = Complaint.objects.filter(description=description).first()
    if complaint is None or not complaint.is_open:
        return "present"
    handler = users[HANDLER]
    live = complaint.offers.filter(state__in=LIVE_OFFER_STATES).first()
    if live is not None:
        if live.state != OfferState.AWAITING_APPROVAL or live.valid_until > now:
            return "present"
        services.offer_withdraw(offer=live, actor=handler, reason=DEMO_REFRESH_REASON)
    else:
        latest = complaint.offers.order_by("-proposed_at", "-id").first()
        went_stale = latest is not None and (
            latest.state == OfferState.EXPIRED
            or (latest.state == OfferState.WITHDRAWN and latest.close_reason == DEMO_REFRESH_REASON)
        )
        if not went_stale:
            return "present"
    _propose(complaint, offer, actor=handler)
    return "refreshed"


# --- Everything ------------------------------------------------------------------------


def seed_complaints(*, users: dict, subscribers: list[Subscriber]) -> dict[str, str]:
    """Every demo complaint, through the services; each scenario in its own savepoint,
    so one that cannot be made (its number was changed by hand) is skipped with why."""
    now = timezone.now()
    outcome: dict[str, str] = {}
    steps = [
        (f"{demo_msisdn(plan.index)} {plan.state}", lambda plan=plan: _seed_complaint(plan, users=users, now=now))
        for plan in DEMO_COMPLAINTS
    ]
    steps += [
        ("due soon", lambda: _seed_due_soon(users=users, now=now)),
        (f"{demo_msisdn(INCIDENT_INDEX)} incident", lambda: _seed_incident(users=users, subscribers=subscribers)),
        (
            f"{demo_msisdn(TRY_IT_INDEX)} restoration to approve",
            lambda: _seed_try_it(users=users, subscribers=subscribers),
        ),
        (
            "incident offer awaiting approval",
            lambda: _refresh_pending_offer(INCIDENT_DESCRIPTION, INCIDENT_PENDING_OFFER, users=users, now=now),
        ),
        (
            "offer to approve",
            lambda: _refresh_pending_offer(TRY_IT_DESCRIPTION, TRY_IT_PENDING_OFFER, users=users, now=now),
        ),
    ]
    for label, step in steps:
        try:
            with transaction.atomic():
                outcome[label] = step()
        except (ValidationError, PermissionDenied) as exc:
            outcome[label] = "skipped: " + " ".join(getattr(exc, "messages", [str(exc)]))
    # What the SLA job would have recorded by now (clocks that ran out since the last seeding).
    services.complaint_record_breaches(now=timezone.now())
    return outcome


def demo_walkthrough(site: str) -> list[str]:
    """Where a newcomer tries the complaint flow on the seeded demo."""
    incident = Complaint.objects.filter(description=INCIDENT_DESCRIPTION).first()
    try_it = Complaint.objects.filter(description=TRY_IT_DESCRIPTION).first()
    lines = [f"as handler_a:    {site}/complaints/  the queue of branch A, with SLA clocks"]
    if incident is not None:
        lines.append(
            f"as handler_a:    {site}/complaints/{incident.pk}/  {incident.reference}, the incident: block, "
            "restoration, offers, TRC case, flag"
        )
    if try_it is not None:
        lines.append(
            f"as supervisor_a: {site}/complaints/{try_it.pk}/  {try_it.reference}: approve the restoration "
            "and the offer awaiting approval (both also listed on /approvals/)"
        )
    lines.append(f"as auditor:      {site}/admin/complaints/complaint/  every complaint, read-only, with history")
    return lines
