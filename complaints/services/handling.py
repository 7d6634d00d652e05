"""A complaint from intake to closure: its clocks, its handler and its states."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from audit.context import acting, audited, audited_transaction, current_job
from backoffice.history import require_reason
from numbers.models import Branch, MobileNumber, Subscriber
from sms.choices import SmsPurpose
from staff.selectors import branch_supervisors, display_name, has_branch_perm, is_working
from staff.services import notice_send

from .. import sla
from ..choices import (
    COMPLAINT_MOVES,
    LIVE_OFFER_STATES,
    OPEN_COMPLAINT_STATES,
    Channel,
    ComplaintCategory,
    ComplaintState,
    EventKind,
    RestorationState,
    Severity,
)
from ..models import Complaint, ComplaintNumber, ComplaintSequence, EmergencyBlock, SlaRule, SlaTable
from ._common import (
    HANDLE_PERM,
    local,
    locked_complaint,
    record_event,
    require_handler,
    require_handler_or_supervisor,
    require_open,
    require_working,
    save,
    tell_complainant,
)

INTAKE_PERMS = ("operate_branch", "handle_branch_complaints", "supervise_branch")


# --- The SLA clocks -------------------------------------------------------------------


def sla_rule_for(*, category: str, severity: str) -> SlaRule:
    """The active table's most specific rule: category and severity, then either, then the default."""
    table = SlaTable.objects.filter(is_active=True).select_related("calendar").first()
    if table is None:
        raise ValidationError("No SLA table is active; an administrator must activate one.", code="no_sla_table")
    rules = {(rule.category, rule.severity): rule for rule in table.rules.all()}
    for key in ((category, severity), (category, ""), ("", severity), ("", "")):
        if key in rules:
            rule = rules[key]
            rule.table = table
            return rule
    raise ValidationError(
        "The SLA table %(table)s has no rule for this complaint and no default rule.",
        params={"table": table.name},
        code="no_sla_rule",
    )


def _clocks(rule: SlaRule, start: datetime, *, include_acknowledge: bool = True) -> dict[str, datetime]:
    calendar = rule.table.calendar.as_calendar(around=start)
    warn = rule.table.warn_percent
    clocks = {}
    try:
        if include_acknowledge:
            due = sla.deadline(calendar, start, rule.acknowledge_within, rule.acknowledge_unit)
            clocks |= {"acknowledge_due_at": due, "acknowledge_warn_at": sla.warning_time(start, due, warn)}
        due = sla.deadline(calendar, start, rule.resolve_within, rule.resolve_unit)
    except ValueError as exc:  # a calendar without working days, an unknown unit: configuration, not input
        raise ValidationError(
            "The SLA table %(table)s cannot set a deadline (%(error)s); an administrator must fix its calendar.",
            params={"table": rule.table.name, "error": str(exc).rstrip(".")},
            code="sla_misconfigured",
        ) from exc
    return clocks | {"resolve_due_at": due, "resolve_warn_at": sla.warning_time(start, due, warn)}


def _record_breaches(complaint: Complaint, now: datetime) -> list[str]:
    """Mark every clock that has run out; a breach, once recorded, is never cleared."""
    breached = []
    for name, _, due in complaint.pending_clocks():
        field = f"{name}_breached_at"
        if due <= now and getattr(complaint, field) is None:
            setattr(complaint, field, due)
            breached.append(name)
    if complaint.pk is not None:  # a new complaint escalates once it is saved
        for name in breached:
            _escalate_breach(complaint, name)
    return breached


def _escalate_breach(complaint: Complaint, clock: str) -> None:
    """Tell the branch's supervisors, once per breach, after the breach commits."""
    due = getattr(complaint, f"{clock}_due_at")
    notice_send(
        recipients=branch_supervisors(complaint.branch_id),
        dedupe_key=f"sla-breach:{complaint.pk}:{clock}",
        subject=f"SLA breached: complaint {complaint.reference} ({clock} deadline)",
        body=(
            f"Complaint {complaint.reference} passed its {clock} deadline "
            f"({timezone.localtime(due):%d %b %Y %H:%M}) and is still {complaint.get_state_display().lower()}.\n"
            f"Assigned to: {display_name(complaint.assigned_to) if complaint.assigned_to_id else 'nobody'}.\n"
            f"Open it: {settings.PORTAL_BASE_URL}{reverse('complaints:complaint_detail', args=[complaint.pk])}"
        ),
    )


def _next_reference(year: int) -> str:
    sequence, _ = ComplaintSequence.objects.select_for_update().get_or_create(year=year)
    sequence.last += 1
    sequence.save(update_fields=["last"])
    return f"C-{year}-{sequence.last:06d}"


# --- Intake ---------------------------------------------------------------------------


@audited
def complaint_create(
    *,
    complainant: Subscriber,
    category: str,
    severity: str,
    channel: str,
    description: str,
    actor,
    reason: str = "",
    branch: Branch | None = None,
    numbers: Sequence[MobileNumber] = (),
    received_at: datetime | None = None,
) -> Complaint:
    """Take a complaint in and start its clocks. An unauthorised transfer is critical
    and its number must be blocked within 24 hours. A handler who takes it in owns it."""
    now = timezone.now()
    # The portal takes a complaint in by itself (no employee) only inside a job's
    # scope, which history names: the holder's SMS reply disputing a transfer.
    by_portal = actor is None and current_job() is not None
    if not by_portal:
        require_working(actor)
        if not actor.has_perm("complaints.add_complaint"):
            raise PermissionDenied("You may not take complaints in.")
    if category not in ComplaintCategory.values:
        raise ValidationError("Choose a complaint category.", code="category")
    if channel not in Channel.values:
        raise ValidationError("Choose how the complaint came in.", code="channel")
    if category == ComplaintCategory.UNAUTHORISED_TRANSFER:
        severity = Severity.CRITICAL
    if severity not in Severity.values:
        raise ValidationError("Choose a severity.", code="severity")
    description = (description or "").strip()
    if not description:
        raise ValidationError("Describe the complaint in the customer's words.", code="description")
    numbers = list(dict.fromkeys(numbers))
    if category == ComplaintCategory.UNAUTHORISED_TRANSFER and not numbers:
        raise ValidationError("An unauthorised-transfer complaint names the number concerned.", code="number_needed")
    if branch is None:
        if not numbers:
            raise ValidationError("Choose the branch that handles this complaint.", code="branch")
        branch = numbers[0].branch
    for number in numbers:
        _check_number_branch(number, branch)
    if not by_portal and not any(has_branch_perm(actor, perm, branch.pk) for perm in INTAKE_PERMS):
        raise PermissionDenied("You have no authority to take complaints in for this branch.")
    received_at = received_at or now
    if received_at > now:
        raise ValidationError("The complaint cannot have been received in the future.", code="received_future")
    if received_at < now - timedelta(days=90):
        raise ValidationError(
            "A complaint is entered within 90 days of its receipt; older ones go to the regulator's process.",
            code="old",
        )
    reason = require_reason(reason or f"Complaint received ({Channel(channel).label.lower()})")

    rule = sla_rule_for(category=category, severity=severity)
    # The decorator stamps the reason it was given, none here: the worded one goes on
    # what is recorded from the context (the reference sequence, the handler's grant).
    with acting(actor=actor, reason=reason):
        reference = _next_reference(timezone.localtime(received_at).year)
    complaint = Complaint(
        reference=reference,
        complainant=complainant,
        category=category,
        severity=severity,
        channel=channel,
        description=description,
        branch=branch,
        received_at=received_at,
        created_by=actor,
        sla_rule=rule,
        **_clocks(rule, received_at),
    )
    if category == ComplaintCategory.UNAUTHORISED_TRANSFER:
        complaint.block_due_at = received_at + timedelta(hours=settings.COMPLAINTS_BLOCK_WITHIN_HOURS)
        complaint.block_warn_at = sla.warning_time(received_at, complaint.block_due_at, rule.table.warn_percent)
    if not by_portal and has_branch_perm(actor, "handle_branch_complaints", branch.pk) and not actor.is_superuser:
        complaint.assigned_to = actor
    late = _record_breaches(complaint, now)  # entered late: a clock may already have run out
    save(complaint, actor=actor, reason=reason)
    for clock in late:
        _escalate_breach(complaint, clock)
    if complaint.assigned_to_id:
        with acting(actor=actor, reason=reason):
            assign_perm(HANDLE_PERM, actor, complaint)
    record_event(
        complaint,
        kind=EventKind.RECEIVED,
        actor=actor,
        at=received_at,
        text=f"{complaint.get_category_display()}, {complaint.get_severity_display().lower()}, "
        f"via {complaint.get_channel_display().lower()}. {reason}",
    )
    for number in numbers:
        _link_number(complaint, number, actor=actor, reason="Named at intake", now=now)
    if complaint.assigned_to_id:
        record_event(complaint, kind=EventKind.ASSIGNED, actor=actor, text=f"Taken by {display_name(actor)} at intake.")
    tell_complainant(
        complainant,
        f"We have received your complaint, reference {complaint.reference}. We will reply by "
        f"{local(complaint.acknowledge_due_at)} and aim to resolve it by {local(complaint.resolve_due_at)}.",
        SmsPurpose.COMPLAINT,
    )
    return complaint


def _check_number_branch(number: MobileNumber, branch: Branch) -> None:
    if number.branch_id != branch.pk:
        raise ValidationError(
            "%(msisdn)s belongs to %(other)s, not %(branch)s: its complaint is handled there.",
            params={"msisdn": number.msisdn, "other": number.branch, "branch": branch},
            code="number_other_branch",
        )


def _link_number(complaint: Complaint, number: MobileNumber, *, actor, reason: str, now: datetime) -> ComplaintNumber:
    link = ComplaintNumber(complaint=complaint, number=number, added_at=now, added_by=actor)
    save(link, actor=actor, reason=reason)
    record_event(complaint, kind=EventKind.NUMBER_ADDED, actor=actor, number=number, text=reason)
    return link


@audited
def complaint_add_number(*, complaint: Complaint, number: MobileNumber, actor, reason: str) -> ComplaintNumber:
    reason = require_reason(reason)
    # The number first, as blocking does: adding and blocking it at once queue instead of deadlocking.
    number = MobileNumber.objects.select_for_update().get(pk=number.pk)
    complaint = locked_complaint(complaint)
    require_handler(actor, complaint, "add numbers to it")
    require_open(complaint, "add numbers")
    _check_number_branch(number, complaint.branch)
    if ComplaintNumber.objects.filter(complaint=complaint, number=number).exists():
        raise ValidationError("%(msisdn)s is already on this complaint.", params={"msisdn": number.msisdn})
    return _link_number(complaint, number, actor=actor, reason=reason, now=timezone.now())


# --- Assignment -----------------------------------------------------------------------


@audited
def complaint_assign(*, complaint: Complaint, assignee, actor, reason: str) -> Complaint:
    """Give the complaint to a handler of its branch; the handler's object permission
    moves with it. Supervisors assign; a handler may take an unassigned complaint;
    the assigned handler may hand it over."""
    reason = require_reason(reason)
    complaint = locked_complaint(complaint)
    require_working(actor)
    previous = complaint.assigned_to
    is_supervisor = has_branch_perm(actor, "supervise_branch", complaint.branch_id)
    taking = previous is None and assignee.pk == actor.pk
    handing_over = previous is not None and previous.pk == actor.pk
    if not (is_supervisor or taking or handing_over):
        raise PermissionDenied(
            "Only a supervisor of the branch assigns complaints; a handler may take an unassigned one "
            "or hand over their own."
        )
    if complaint.state == ComplaintState.CLOSED:
        raise ValidationError("Complaint %(ref)s is closed.", params={"ref": complaint.reference})
    if not is_working(assignee) or not has_branch_perm(assignee, "handle_branch_complaints", complaint.branch_id):
        raise ValidationError(
            "%(name)s does not handle complaints for %(branch)s.",
            params={"name": display_name(assignee), "branch": complaint.branch},
            code="not_a_handler",
        )
    if previous is not None and previous.pk == assignee.pk:
        raise ValidationError("The complaint is already assigned to %(name)s.", params={"name": display_name(assignee)})
    if previous is not None:
        remove_perm(HANDLE_PERM, previous, complaint)
    assign_perm(HANDLE_PERM, assignee, complaint)
    complaint.assigned_to = assignee
    save(complaint, actor=actor, reason=reason)
    was = f" (was {display_name(previous)})" if previous else ""
    record_event(
        complaint, kind=EventKind.ASSIGNED, actor=actor, text=f"Assigned to {display_name(assignee)}{was}: {reason}"
    )
    return complaint


# --- Moves ------------------------------------------------------------------------------


def _move(complaint: Complaint, to_state: str) -> None:
    _check_move(complaint, to_state)
    complaint.state = to_state


def _check_move(complaint: Complaint, to_state: str) -> None:
    if to_state not in COMPLAINT_MOVES.get(complaint.state, ()):
        raise ValidationError(
            "Complaint %(ref)s is %(state)s and cannot become %(to)s.",
            params={
                "ref": complaint.reference,
                "state": complaint.get_state_display().lower(),
                "to": ComplaintState(to_state).label.lower(),
            },
            code="illegal_move",
        )


@audited
def complaint_acknowledge(*, complaint: Complaint, actor, reason: str) -> Complaint:
    reason = require_reason(reason)
    now = timezone.now()
    complaint = locked_complaint(complaint)
    require_handler(actor, complaint, "acknowledge it")
    _record_breaches(complaint, now)
    _move(complaint, ComplaintState.ACKNOWLEDGED)
    complaint.acknowledged_at = now
    complaint.acknowledged_by = actor
    save(complaint, actor=actor, reason=reason)
    late = " (after the deadline)" if complaint.acknowledge_breached_at else ""
    record_event(complaint, kind=EventKind.ACKNOWLEDGED, actor=actor, text=f"Acknowledged{late}: {reason}")
    tell_complainant(
        complaint.complainant,
        f"Your complaint {complaint.reference} is being handled. We aim to resolve it by "
        f"{local(complaint.resolve_due_at)}.",
        SmsPurpose.COMPLAINT,
    )
    return complaint


@audited
def complaint_investigate(*, complaint: Complaint, actor, reason: str) -> Complaint:
    reason = require_reason(reason)
    complaint = locked_complaint(complaint)
    require_handler(actor, complaint, "investigate it")
    _record_breaches(complaint, timezone.now())
    _move(complaint, ComplaintState.INVESTIGATING)
    save(complaint, actor=actor, reason=reason)
    record_event(complaint, kind=EventKind.INVESTIGATING, actor=actor, text=reason)
    return complaint


@audited
def complaint_note(*, complaint: Complaint, actor, reason: str):
    """A note on the record; ``reason`` is the note itself."""
    reason = require_reason(reason)
    complaint = locked_complaint(complaint)
    require_handler_or_supervisor(actor, complaint, "add notes")
    return record_event(complaint, kind=EventKind.NOTE, actor=actor, text=reason)


@audited
def complaint_resolve(*, complaint: Complaint, actor, reason: str) -> Complaint:
    """Resolve with a summary of what was done (``reason``). Nothing may be left
    hanging: no standing block, no restoration awaiting approval, no offer on the table."""
    reason = require_reason(reason)
    now = timezone.now()
    complaint = locked_complaint(complaint)
    require_handler(actor, complaint, "resolve it")
    _check_move(complaint, ComplaintState.RESOLVED)
    hanging = []
    if EmergencyBlock.objects.filter(complaint=complaint, lifted_at__isnull=True).exists():
        hanging.append("a number is still blocked (restore it or lift the block)")
    if complaint.restorations.filter(state=RestorationState.AWAITING_APPROVAL).exists():
        hanging.append("a restoration awaits approval")
    if complaint.offers.filter(state__in=LIVE_OFFER_STATES).exists():
        hanging.append("an offer is on the table (record the answer or withdraw it)")
    if hanging:
        raise ValidationError(
            "Complaint %(ref)s cannot be resolved yet: %(what)s.",
            params={"ref": complaint.reference, "what": "; ".join(hanging)},
            code="not_resolvable",
        )
    _record_breaches(complaint, now)
    _move(complaint, ComplaintState.RESOLVED)
    complaint.resolved_at = now
    complaint.resolved_by = actor
    complaint.resolution = reason
    save(complaint, actor=actor, reason=reason)
    late = " (after the deadline)" if complaint.resolve_breached_at else ""
    record_event(complaint, kind=EventKind.RESOLVED, actor=actor, text=f"Resolved{late}: {reason}")
    tell_complainant(
        complaint.complainant,
        f"Your complaint {complaint.reference} is resolved. Not satisfied? Reply or visit a branch within 30 days.",
        SmsPurpose.COMPLAINT,
    )
    return complaint


@audited
def complaint_close(*, complaint: Complaint, actor, reason: str) -> Complaint:
    reason = require_reason(reason)
    complaint = locked_complaint(complaint)
    require_handler_or_supervisor(actor, complaint, "close it")
    _move(complaint, ComplaintState.CLOSED)
    complaint.closed_at = timezone.now()
    complaint.closed_by = actor
    save(complaint, actor=actor, reason=reason)
    record_event(complaint, kind=EventKind.CLOSED, actor=actor, text=reason)
    return complaint


@audited
def complaint_reopen(*, complaint: Complaint, actor, reason: str) -> Complaint:
    """The customer is not satisfied: the resolution clock starts again from now.
    Breaches already recorded stay."""
    reason = require_reason(reason)
    now = timezone.now()
    complaint = locked_complaint(complaint)
    require_handler_or_supervisor(actor, complaint, "reopen it")
    _move(complaint, ComplaintState.REOPENED)
    rule = SlaRule.objects.select_related("table__calendar").get(pk=complaint.sla_rule_id)
    for field, value in _clocks(rule, now, include_acknowledge=False).items():
        setattr(complaint, field, value)
    # The previous resolution stays in history; the complaint is open again.
    complaint.resolved_at = complaint.resolved_by = complaint.closed_at = complaint.closed_by = None
    complaint.resolution = ""
    complaint.reopen_count += 1
    save(complaint, actor=actor, reason=reason)
    record_event(
        complaint,
        kind=EventKind.REOPENED,
        actor=actor,
        text=f"Reopened (time {complaint.reopen_count}); to resolve by {local(complaint.resolve_due_at)}: {reason}",
    )
    return complaint


# --- The breach sweep (run by the SLA job) -------------------------------------------


def complaint_record_breaches(*, now: datetime | None = None, batch: int = 1000) -> int:
    """Record every clock that ran out on an open complaint, once; returns how many
    complaints got a new breach. Each complaint is its own transaction."""
    now = now or timezone.now()
    due = Q(acknowledged_at__isnull=True, acknowledge_due_at__lte=now, acknowledge_breached_at__isnull=True)
    due |= Q(resolve_due_at__lte=now, resolve_breached_at__isnull=True)
    due |= Q(first_blocked_at__isnull=True, block_due_at__lte=now, block_breached_at__isnull=True)
    candidates = Q(state__in=OPEN_COMPLAINT_STATES) & due
    done = 0
    for pk in list(Complaint.objects.filter(candidates).values_list("pk", flat=True)[:batch]):
        with audited_transaction(reason="An SLA clock ran out."):
            complaint = (
                Complaint.objects.select_for_update(skip_locked=True, of=("self",)).filter(candidates, pk=pk).first()
            )
            if complaint is None:
                continue
            breached = _record_breaches(complaint, now)
            if not breached:
                continue
            text = "SLA breached: " + ", ".join(f"{name} deadline passed" for name in breached) + "."
            save(complaint, actor=None, reason=text)
            record_event(complaint, kind=EventKind.SLA_BREACHED, actor=None, text=text)
            done += 1
    return done
