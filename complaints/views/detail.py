"""A complaint's page: its clocks, timeline and one form per action the user may take."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.utils import timezone

from audit.signals import record_subscriber_view
from backoffice.screens import render_screen

from .. import selectors, services
from ..choices import LIVE_OFFER_STATES, ComplaintState, Currency, OfferState, RestorationState, SlaStatus
from ..forms import (
    AddNumberForm,
    AssignForm,
    ComplaintReasonForm,
    EmployeeFlagForm,
    NoteForm,
    NumberChoiceForm,
    OfferMakeForm,
    OfferProposeForm,
    OfferResponseForm,
    RegulatorCaseForm,
    RegulatorResponseForm,
    ResolveForm,
)
from ..models import Complaint
from ..money import format_money
from ..sla import format_duration
from .common import (
    ACKNOWLEDGE,
    ACKNOWLEDGEABLE,
    ADD_NUMBER,
    ASSIGN,
    BLOCK,
    CLOSE,
    FLAG,
    INVESTIGABLE,
    INVESTIGATE,
    LIFT,
    NOTE,
    O_APPROVE,
    O_MAKE,
    O_REFUSE,
    O_RESPOND,
    O_WITHDRAW,
    PROPOSE,
    R_APPROVE,
    R_CANCEL,
    R_REJECT,
    REG_RESPONSE,
    REGULATOR,
    REOPEN,
    REOPENABLE,
    RESOLVABLE,
    RESOLVE,
    RESTORE,
    TAKE,
    UNFLAG,
    complaint_or_403,
    row_prefix,
)


def _clocks(complaint: Complaint, now) -> list[dict]:
    """Each SLA clock: when it is due, when it was met, and how it stands."""
    c = complaint
    clocks = [("acknowledge", "Acknowledge", c.acknowledge_warn_at, c.acknowledge_due_at, c.acknowledged_at)]
    if c.block_due_at is not None:
        clocks.append(("block", "Block the number", c.block_warn_at, c.block_due_at, c.first_blocked_at))
    clocks.append(("resolve", "Resolve", c.resolve_warn_at, c.resolve_due_at, c.resolved_at))
    rows = []
    for name, label, warn, due, done in clocks:
        breached = getattr(c, f"{name}_breached_at")
        if done is not None:
            status = "met late" if breached or done > due else "met"
        elif breached is not None or (complaint.is_open and due <= now):
            status = "breached"
        elif not complaint.is_open:
            status = "stopped"
        elif warn <= now:
            status = "due soon"
        else:
            status = "on time"
        rows.append({"name": name, "label": label, "due": due, "done": done, "breached": breached, "status": status})
    return rows


def _offer_blockers(offer, user) -> list[str]:
    blockers = []
    if user.is_superuser:
        blockers.append("Superuser accounts do not approve offers: approval is a named supervisor's duty.")
    if offer.proposed_by_id == user.pk:
        blockers.append("You proposed this offer: another supervisor must approve it.")
    return blockers


def _detail_context(request, complaint: Complaint) -> dict:
    user = request.user
    now = timezone.now()
    perms = selectors.complaint_permissions(user, complaint)
    act, supervise = perms.act, perms.supervise
    manage = act or supervise
    is_open = complaint.is_open

    numbers = selectors.complaint_numbers(complaint)
    blocks = list(selectors.complaint_blocks(complaint))
    restorations = list(selectors.complaint_restorations(complaint))
    offers = list(selectors.complaint_offers(complaint))
    cases = selectors.complaint_regulator_cases(complaint)
    flags = list(selectors.complaint_flags(complaint))
    timeline = selectors.complaint_timeline(complaint)

    awaiting = {r.number_id for r in restorations if r.state == RestorationState.AWAITING_APPROVAL}
    for block in blocks:
        block.lift_form = None
        if manage and block.is_active and block.number_id not in awaiting:
            block.lift_form = ComplaintReasonForm(prefix=row_prefix(LIFT, block.pk))
        block.awaits_restoration = block.is_active and block.number_id in awaiting
    for restoration in restorations:
        restoration.approve_form = restoration.reject_form = restoration.cancel_form = None
        restoration.blockers = []
        if restoration.state != RestorationState.AWAITING_APPROVAL:
            continue
        if supervise:
            restoration.blockers = services.restoration_approval_blockers(restoration=restoration, actor=user)
            restoration.approve_form = ComplaintReasonForm(prefix=row_prefix(R_APPROVE, restoration.pk))
            restoration.reject_form = ComplaintReasonForm(prefix=row_prefix(R_REJECT, restoration.pk))
        if act:
            restoration.cancel_form = ComplaintReasonForm(prefix=row_prefix(R_CANCEL, restoration.pk))
    for offer in offers:
        offer.approve_form = offer.refuse_form = offer.make_form = offer.respond_form = offer.withdraw_form = None
        offer.blockers = []
        if offer.state == OfferState.AWAITING_APPROVAL and supervise:
            offer.blockers = _offer_blockers(offer, user)
            offer.approve_form = ComplaintReasonForm(prefix=row_prefix(O_APPROVE, offer.pk))
            offer.refuse_form = ComplaintReasonForm(prefix=row_prefix(O_REFUSE, offer.pk))
        if act and offer.state == OfferState.PROPOSED:
            offer.make_form = OfferMakeForm(prefix=row_prefix(O_MAKE, offer.pk))
        if act and offer.state == OfferState.OFFERED:
            offer.respond_form = OfferResponseForm(prefix=row_prefix(O_RESPOND, offer.pk))
        if act and offer.state in LIVE_OFFER_STATES:
            offer.withdraw_form = ComplaintReasonForm(prefix=row_prefix(O_WITHDRAW, offer.pk))
    for case in cases:
        case.response_form = RegulatorResponseForm(prefix=row_prefix(REG_RESPONSE, case.pk)) if manage else None
    for flag in flags:
        flag.withdraw_form = None
        if manage and flag.withdrawn_at is None:
            flag.withdraw_form = ComplaintReasonForm(prefix=row_prefix(UNFLAG, flag.pk))

    unblocked = [number for number in numbers if number.active_block is None]
    restorable = [
        number
        for number in numbers
        if number.active_block is not None
        and number.active_block.complaint_id == complaint.pk
        and number.pk not in awaiting
    ]
    live = any(offer.state in LIVE_OFFER_STATES for offer in offers)
    handlers = None
    if (supervise or act) and complaint.state != ComplaintState.CLOSED:
        handlers = selectors.complaint_handlers(complaint)
        if complaint.assigned_to_id:
            handlers = handlers.exclude(pk=complaint.assigned_to_id)
        if not handlers.exists():
            handlers = None  # nobody else to give it to
    # What flaggable_changes returns (an employee's change to one of the numbers, newest
    # first), taken from the timeline's entries: the same history records, read once.
    changes = [(entry.change_key, entry.text) for entry in reversed(timeline) if entry.change_key] if manage else []
    state = complaint.state

    def shown(condition: bool, make):
        return make() if condition else None

    return {
        "complaint": complaint,
        "now": now,
        "perms": perms,
        "read_only": perms.read_only,
        "clocks": _clocks(complaint, now),
        "sla": SlaStatus(complaint.sla_status(now)),
        "breaches": complaint.breaches_on_record,
        "time_to_block": format_duration(complaint.time_to_block),
        "block_within": format_duration(complaint.block_due_at - complaint.received_at)
        if complaint.block_due_at
        else "",
        "numbers": numbers,
        "blocks": blocks,
        "restorations": restorations,
        "offers": offers,
        "cases": cases,
        "flags": flags,
        "timeline": timeline,
        "acknowledge_form": shown(act and state in ACKNOWLEDGEABLE, lambda: ComplaintReasonForm(prefix=ACKNOWLEDGE)),
        "investigate_form": shown(act and state in INVESTIGABLE, lambda: ComplaintReasonForm(prefix=INVESTIGATE)),
        "note_form": shown(manage, lambda: NoteForm(prefix=NOTE)),
        "assign_form": shown(handlers is not None, lambda: AssignForm(prefix=ASSIGN, handlers=handlers)),
        "take_form": shown(perms.take and state != ComplaintState.CLOSED, lambda: ComplaintReasonForm(prefix=TAKE)),
        "add_number_form": shown(act and is_open, lambda: AddNumberForm(prefix=ADD_NUMBER, complaint=complaint)),
        "block_form": shown(
            act and is_open and bool(unblocked), lambda: NumberChoiceForm(prefix=BLOCK, numbers=unblocked)
        ),
        "restore_form": shown(
            act and is_open and bool(restorable), lambda: NumberChoiceForm(prefix=RESTORE, numbers=restorable)
        ),
        "propose_form": shown(act and is_open and not live, lambda: OfferProposeForm(prefix=PROPOSE)),
        "offer_limits": ", ".join(format_money(services.offer_limit(c), c) for c in Currency.values),
        "regulator_form": shown(manage, lambda: RegulatorCaseForm(prefix=REGULATOR)),
        "flag_form": shown(manage and bool(changes), lambda: EmployeeFlagForm(prefix=FLAG, changes=changes)),
        "resolve_form": shown(act and state in RESOLVABLE, lambda: ResolveForm(prefix=RESOLVE)),
        "close_form": shown(manage and state == ComplaintState.RESOLVED, lambda: ComplaintReasonForm(prefix=CLOSE)),
        "reopen_form": shown(manage and state in REOPENABLE, lambda: ComplaintReasonForm(prefix=REOPEN)),
    }


@login_required
def complaint_detail(request, pk: int):
    complaint = complaint_or_403(request, pk)
    context = {**_detail_context(request, complaint), "title": f"Complaint {complaint.reference}"}
    # The page shows the complainant's identity (masked) and contact number: the access log names who looked.
    record_subscriber_view(request=request, subscriber=complaint.complainant)
    return render_screen(request, "complaints/detail.html", context)
