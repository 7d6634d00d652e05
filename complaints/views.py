"""Staff screens for complaint handlers: the queue, intake, and a complaint's page
with its timeline and one form per action.

Views read through ``complaints.selectors`` and write only by calling services.
Staff of other branches get a 403; staff of the branch who may not act see the
page read-only. A refusal by a service (ValidationError or PermissionDenied)
becomes a message and changes nothing. Every action is a POST to its own URL that
redirects back to the complaint (post/redirect/get).
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from audit.signals import record_subscriber_view
from backoffice.adminkit import report_service_error
from backoffice.msisdn import format_msisdn
from backoffice.screens import RowPaginator, render_screen, report_form_errors
from numbers import services as number_services
from staff.reauth import reauth_required
from staff.selectors import branch_scope, display_name

from . import selectors, services
from .choices import (
    LIVE_OFFER_STATES,
    ComplaintCategory,
    ComplaintState,
    Currency,
    OfferState,
    RestorationState,
    SlaStatus,
)
from .filtersets import OPEN, QUEUE_BRANCH, QUEUE_MINE, QUEUES, ComplaintFilterForm
from .forms import (
    AddNumberForm,
    AssignForm,
    ComplaintCreateForm,
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
    can_take_complaints_in,
)
from .models import Complaint
from .money import format_money
from .sla import format_duration

PER_PAGE = 50
DETAIL = "complaints:complaint_detail"

# Form prefixes: the page shows many forms, each with its own "reason".
ACKNOWLEDGE, INVESTIGATE, NOTE, ASSIGN, TAKE = "ack", "investigate", "note", "assign", "take"
ADD_NUMBER, BLOCK, RESTORE, PROPOSE, REGULATOR, FLAG = "addnumber", "block", "restore", "propose", "regcase", "flag"
RESOLVE, CLOSE, REOPEN = "resolve", "close", "reopen"
# One form per row: the prefix carries the row's id.
LIFT, R_APPROVE, R_REJECT, R_CANCEL = "lift", "rapprove", "rreject", "rcancel"
O_APPROVE, O_REFUSE, O_MAKE, O_RESPOND, O_WITHDRAW = "oapprove", "orefuse", "omake", "orespond", "owithdraw"
REG_RESPONSE, UNFLAG = "regresp", "unflag"

ACKNOWLEDGEABLE = (ComplaintState.NEW,)
INVESTIGABLE = (ComplaintState.ACKNOWLEDGED, ComplaintState.REOPENED)
RESOLVABLE = (ComplaintState.ACKNOWLEDGED, ComplaintState.INVESTIGATING, ComplaintState.REOPENED)
REOPENABLE = (ComplaintState.RESOLVED, ComplaintState.CLOSED)


def row_prefix(kind: str, pk: int) -> str:
    return f"{kind}{pk}"


# --- Helpers --------------------------------------------------------------------


def _complaint_or_403(request, pk: int) -> Complaint:
    """404 for an unknown id, 403 for a complaint of a branch the user does not work in."""
    complaint = selectors.complaint_detail(pk=pk)
    if complaint is None:
        raise Http404("No such complaint.")
    if not selectors.complaint_can_view(request.user, complaint):
        raise PermissionDenied
    return complaint


def _part_or_404(part):
    if part is None:
        raise Http404("No such record on this complaint.")
    return part


def _post_action(
    request, complaint: Complaint, form: forms.Form, perform: Callable[[dict], str], *, what: str
) -> HttpResponseRedirect:
    """Validate, call the service, say what happened, redirect back to the complaint.
    A service's refusal (invalid, or not allowed) is a message: nothing changed."""
    if form.is_valid():
        try:
            success = perform(form.cleaned_data)
        except (ValidationError, PermissionDenied) as exc:
            report_service_error(request, exc, prefix=f"{what} refused, nothing changed: ")
        else:
            messages.success(request, success)
    else:
        report_form_errors(request, form, what)
    return redirect(DETAIL, pk=complaint.pk)


# --- The queue ---------------------------------------------------------------------


@login_required
def complaint_list(request):
    """My queue (assigned to me) or the branch queue (every complaint I may see)."""
    user = request.user
    if not selectors.complaint_scope(user).anywhere:
        raise PermissionDenied
    handles = branch_scope(user, "handle_branch_complaints").anywhere
    data = request.GET.copy()
    data.setdefault("state", OPEN)
    if data.get("queue") not in (QUEUE_MINE, QUEUE_BRANCH):
        data["queue"] = QUEUE_MINE if handles else QUEUE_BRANCH
    filters = ComplaintFilterForm(data)
    chosen = {"queue": data["queue"], "state": OPEN, "sla": "", "category": "", "q": ""}
    if filters.is_valid():
        chosen.update(filters.cleaned_data)
    now = timezone.now()
    queryset = selectors.complaint_list(
        user=user,
        mine=chosen["queue"] == QUEUE_MINE,
        state=chosen["state"],
        sla=chosen["sla"],
        category=chosen["category"],
        q=chosen["q"],
        now=now,
    )
    paginator = RowPaginator(queryset, PER_PAGE)
    page = paginator.get_page(request.GET.get("page"))
    rows = list(page.object_list)
    for row in rows:
        row.sla = SlaStatus(row.sla_status(now))
        row.deadline = row.next_deadline()
    filtered = any(chosen[name] for name in ("sla", "category", "q")) or chosen["state"] != OPEN
    return render_screen(
        request,
        "complaints/list.html",
        {
            "title": "Complaints",
            "filters": filters,
            "queue": chosen["queue"],
            "queues": QUEUES,
            "page": page,
            "paginator": paginator,
            "rows": rows,
            "filtered": filtered,
            "can_create": can_take_complaints_in(user),
        },
    )


# --- Intake -------------------------------------------------------------------------


@login_required
def complaint_create(request):
    """Take a complaint in, registering the complainant in the same step if needed."""
    if not can_take_complaints_in(request.user):
        raise PermissionDenied
    form = ComplaintCreateForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            complaint = _create_with_subscriber(form, actor=request.user)
        except ValidationError as exc:
            form.add_error(None, exc.messages)
        except PermissionDenied as exc:
            form.add_error(None, str(exc) or "You have no authority to take this complaint in.")
        else:
            critical = ""
            if complaint.block_due_at:
                critical = f" It is critical: block the number by {timezone.localtime(complaint.block_due_at):%H:%M}."
            messages.success(
                request, f"Complaint {complaint.reference} taken in for {complaint.complainant.full_name}.{critical}"
            )
            return redirect(DETAIL, pk=complaint.pk)
    return render_screen(
        request,
        "complaints/create.html",
        {
            "title": "New complaint",
            "form": form,
            "block_hours": settings.COMPLAINTS_BLOCK_WITHIN_HOURS,
            "unauthorised": ComplaintCategory.UNAUTHORISED_TRANSFER.label,
        },
    )


def _create_with_subscriber(form: ComplaintCreateForm, *, actor) -> Complaint:
    """One transaction: a refused complaint leaves no stray subscriber behind."""
    data = form.cleaned_data
    with transaction.atomic():
        complainant = form.subscriber
        if form.registers_subscriber:
            complainant = number_services.subscriber_create(
                full_name=data["full_name"],
                id_document_type=data["document_type"],
                id_document_number=data["document_number"],
                contact_msisdn=data.get("contact_msisdn") or "",
                registered_branch=form.chosen_branch,
                actor=actor,
                reason=f"Registered as a complainant: {data['reason']}",
            )
        return services.complaint_create(
            complainant=complainant,
            category=data["category"],
            severity=data["severity"],
            channel=data["channel"],
            description=data["description"],
            actor=actor,
            reason=data["reason"],
            branch=data.get("branch"),
            numbers=form.numbers,
            received_at=data.get("received_at"),
        )


# --- A complaint's page ----------------------------------------------------------------


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
    complaint = _complaint_or_403(request, pk)
    context = {**_detail_context(request, complaint), "title": f"Complaint {complaint.reference}"}
    # The page shows the complainant's identity (masked) and contact number: the access log names who looked.
    record_subscriber_view(request=request, subscriber=complaint.complainant)
    return render_screen(request, "complaints/detail.html", context)


# --- The complaint's own moves (POST, redirect back) -----------------------------------


def _simple_action(request, pk: int, *, prefix: str, form_class, what: str, perform) -> HttpResponseRedirect:
    complaint = _complaint_or_403(request, pk)
    form = form_class(request.POST, prefix=prefix)
    return _post_action(request, complaint, form, lambda data: perform(complaint, data), what=what)


@login_required
@require_POST
def complaint_acknowledge(request, pk: int):
    def perform(complaint, data):
        services.complaint_acknowledge(complaint=complaint, actor=request.user, reason=data["reason"])
        return f"Complaint {complaint.reference} acknowledged; the customer has been told by SMS."

    return _simple_action(
        request, pk, prefix=ACKNOWLEDGE, form_class=ComplaintReasonForm, what="Acknowledgement", perform=perform
    )


@login_required
@require_POST
def complaint_investigate(request, pk: int):
    def perform(complaint, data):
        services.complaint_investigate(complaint=complaint, actor=request.user, reason=data["reason"])
        return f"Investigation of {complaint.reference} started."

    return _simple_action(
        request, pk, prefix=INVESTIGATE, form_class=ComplaintReasonForm, what="Investigation", perform=perform
    )


@login_required
@require_POST
def complaint_note(request, pk: int):
    def perform(complaint, data):
        services.complaint_note(complaint=complaint, actor=request.user, reason=data["reason"])
        return "Note added to the timeline."

    return _simple_action(request, pk, prefix=NOTE, form_class=NoteForm, what="Note", perform=perform)


@login_required
@require_POST
def complaint_resolve(request, pk: int):
    def perform(complaint, data):
        services.complaint_resolve(complaint=complaint, actor=request.user, reason=data["reason"])
        return f"Complaint {complaint.reference} resolved; the customer has been told by SMS."

    return _simple_action(request, pk, prefix=RESOLVE, form_class=ResolveForm, what="Resolution", perform=perform)


@login_required
@require_POST
def complaint_close(request, pk: int):
    def perform(complaint, data):
        services.complaint_close(complaint=complaint, actor=request.user, reason=data["reason"])
        return f"Complaint {complaint.reference} closed."

    return _simple_action(request, pk, prefix=CLOSE, form_class=ComplaintReasonForm, what="Closure", perform=perform)


@login_required
@require_POST
def complaint_reopen(request, pk: int):
    def perform(complaint, data):
        done = services.complaint_reopen(complaint=complaint, actor=request.user, reason=data["reason"])
        return (
            f"Complaint {done.reference} reopened; to resolve by "
            f"{timezone.localtime(done.resolve_due_at):%d %b %Y %H:%M}."
        )

    return _simple_action(request, pk, prefix=REOPEN, form_class=ComplaintReasonForm, what="Reopening", perform=perform)


@login_required
@require_POST
def complaint_assign(request, pk: int):
    complaint = _complaint_or_403(request, pk)
    form = AssignForm(request.POST, prefix=ASSIGN, handlers=selectors.complaint_handlers(complaint))

    def perform(data):
        services.complaint_assign(
            complaint=complaint, assignee=data["assignee"], actor=request.user, reason=data["reason"]
        )
        return f"Complaint {complaint.reference} assigned to {display_name(data['assignee'])}."

    return _post_action(request, complaint, form, perform, what="Assignment")


@login_required
@require_POST
def complaint_take(request, pk: int):
    def perform(complaint, data):
        services.complaint_assign(complaint=complaint, assignee=request.user, actor=request.user, reason=data["reason"])
        return f"You now handle complaint {complaint.reference}."

    return _simple_action(request, pk, prefix=TAKE, form_class=ComplaintReasonForm, what="Taking", perform=perform)


# --- Numbers, blocks and restorations ------------------------------------------------------


@login_required
@require_POST
def complaint_add_number(request, pk: int):
    complaint = _complaint_or_403(request, pk)
    form = AddNumberForm(request.POST, prefix=ADD_NUMBER, complaint=complaint)

    def perform(data):
        services.complaint_add_number(
            complaint=complaint, number=form.chosen_number, actor=request.user, reason=data["reason"]
        )
        return f"{format_msisdn(form.chosen_number.msisdn)} added to the complaint."

    return _post_action(request, complaint, form, perform, what="Adding a number")


@login_required
@require_POST
def complaint_block(request, pk: int):
    complaint = _complaint_or_403(request, pk)
    form = NumberChoiceForm(request.POST, prefix=BLOCK, numbers=selectors.complaint_numbers(complaint))

    def perform(data):
        block = services.complaint_block_number(
            complaint=complaint, number=form.chosen_number, actor=request.user, reason=data["reason"]
        )
        taken = format_duration(block.blocked_at - complaint.received_at)
        return f"{format_msisdn(form.chosen_number.msisdn)} blocked, {taken} after the complaint was received."

    return _post_action(request, complaint, form, perform, what="Block")


@login_required
@require_POST
def complaint_lift_block(request, pk: int, block_id: int):
    complaint = _complaint_or_403(request, pk)
    block = _part_or_404(selectors.complaint_block(complaint=complaint, pk=block_id))
    form = ComplaintReasonForm(request.POST, prefix=row_prefix(LIFT, block.pk))

    def perform(data):
        services.complaint_lift_block(block=block, actor=request.user, reason=data["reason"])
        return f"Block on {format_msisdn(block.number.msisdn)} lifted; the holder is unchanged."

    return _post_action(request, complaint, form, perform, what="Lifting the block")


@login_required
@require_POST
def restoration_request(request, pk: int):
    complaint = _complaint_or_403(request, pk)
    form = NumberChoiceForm(request.POST, prefix=RESTORE, numbers=selectors.complaint_numbers(complaint))

    def perform(data):
        restoration = services.restoration_request(
            complaint=complaint, number=form.chosen_number, actor=request.user, reason=data["reason"]
        )
        return (
            f"Restoration {restoration.reference} requested: {format_msisdn(form.chosen_number.msisdn)} back to "
            f"{restoration.to_subscriber.full_name}. A supervisor who did not ask must approve it."
        )

    return _post_action(request, complaint, form, perform, what="Restoration request")


def _restoration_action(request, pk: int, restoration_id: int, *, kind: str, what: str, perform):
    complaint = _complaint_or_403(request, pk)
    restoration = _part_or_404(selectors.complaint_restoration(complaint=complaint, pk=restoration_id))
    form = ComplaintReasonForm(request.POST, prefix=row_prefix(kind, restoration.pk))
    return _post_action(request, complaint, form, lambda data: perform(restoration, data), what=what)


@login_required
@require_POST
@reauth_required
def restoration_approve(request, pk: int, restoration_id: int):
    def perform(restoration, data):
        done = services.restoration_approve(restoration=restoration, actor=request.user, reason=data["reason"])
        return (
            f"Restoration {done.reference} approved: {format_msisdn(restoration.number.msisdn)} is held by "
            f"{done.to_subscriber.full_name} again and unblocked."
        )

    return _restoration_action(request, pk, restoration_id, kind=R_APPROVE, what="Approval", perform=perform)


@login_required
@require_POST
def restoration_reject(request, pk: int, restoration_id: int):
    def perform(restoration, data):
        services.restoration_reject(restoration=restoration, actor=request.user, reason=data["reason"])
        return f"Restoration {restoration.reference} rejected."

    return _restoration_action(request, pk, restoration_id, kind=R_REJECT, what="Rejection", perform=perform)


@login_required
@require_POST
def restoration_cancel(request, pk: int, restoration_id: int):
    def perform(restoration, data):
        services.restoration_cancel(restoration=restoration, actor=request.user, reason=data["reason"])
        return f"Restoration {restoration.reference} cancelled."

    return _restoration_action(request, pk, restoration_id, kind=R_CANCEL, what="Cancellation", perform=perform)


# --- Compensation offers --------------------------------------------------------------------


@login_required
@require_POST
def offer_propose(request, pk: int):
    complaint = _complaint_or_403(request, pk)
    form = OfferProposeForm(request.POST, prefix=PROPOSE)

    def perform(data):
        offer = services.offer_propose(
            complaint=complaint,
            kind=data["kind"],
            amount=data["amount"],
            currency=data["currency"],
            description=data["description"],
            valid_days=data["valid_days"],
            actor=request.user,
            reason=data["reason"],
        )
        if offer.state == OfferState.AWAITING_APPROVAL:
            return f"Offer of {offer.amount_display} proposed; it is above your limit and awaits a supervisor."
        return f"Offer of {offer.amount_display} proposed; make it to the customer next."

    return _post_action(request, complaint, form, perform, what="Offer")


def _offer_action(request, pk: int, offer_id: int, *, kind: str, form_class, what: str, perform):
    complaint = _complaint_or_403(request, pk)
    offer = _part_or_404(selectors.complaint_offer(complaint=complaint, pk=offer_id))
    form = form_class(request.POST, prefix=row_prefix(kind, offer.pk))
    return _post_action(request, complaint, form, lambda data: perform(offer, data), what=what)


@login_required
@require_POST
@reauth_required
def offer_approve(request, pk: int, offer_id: int):
    def perform(offer, data):
        services.offer_approve(offer=offer, actor=request.user, reason=data["reason"])
        return f"Offer of {offer.amount_display} approved; the handler may now make it."

    return _offer_action(
        request, pk, offer_id, kind=O_APPROVE, form_class=ComplaintReasonForm, what="Approval", perform=perform
    )


@login_required
@require_POST
def offer_refuse(request, pk: int, offer_id: int):
    def perform(offer, data):
        services.offer_refuse(offer=offer, actor=request.user, reason=data["reason"])
        return f"Offer of {offer.amount_display} refused: it is withdrawn."

    return _offer_action(
        request, pk, offer_id, kind=O_REFUSE, form_class=ComplaintReasonForm, what="Refusal", perform=perform
    )


@login_required
@require_POST
def offer_make(request, pk: int, offer_id: int):
    def perform(offer, data):
        done = services.offer_make(offer=offer, channel=data["channel"], actor=request.user, reason=data["reason"])
        return f"Offer of {done.amount_display} made to the customer; record their answer when it comes."

    return _offer_action(
        request, pk, offer_id, kind=O_MAKE, form_class=OfferMakeForm, what="Making the offer", perform=perform
    )


@login_required
@require_POST
def offer_respond(request, pk: int, offer_id: int):
    def perform(offer, data):
        done = services.offer_record_response(
            offer=offer,
            accepted=data["answer"] == "accepted",
            channel=data["channel"],
            responded_at=data["responded_at"],
            actor=request.user,
            reason=data["reason"],
        )
        return f"Offer of {done.amount_display} {done.get_state_display().lower()} by the customer."

    return _offer_action(
        request, pk, offer_id, kind=O_RESPOND, form_class=OfferResponseForm, what="Customer's answer", perform=perform
    )


@login_required
@require_POST
def offer_withdraw(request, pk: int, offer_id: int):
    def perform(offer, data):
        services.offer_withdraw(offer=offer, actor=request.user, reason=data["reason"])
        return f"Offer of {offer.amount_display} withdrawn."

    return _offer_action(
        request, pk, offer_id, kind=O_WITHDRAW, form_class=ComplaintReasonForm, what="Withdrawal", perform=perform
    )


# --- The regulator and employee flags ---------------------------------------------------------


@login_required
@require_POST
def regulator_case_record(request, pk: int):
    complaint = _complaint_or_403(request, pk)
    form = RegulatorCaseForm(request.POST, prefix=REGULATOR)

    def perform(data):
        case = services.regulator_case_record(
            complaint=complaint,
            regulator=data["regulator"],
            case_number=data["case_number"],
            notified_on=data["notified_on"],
            note=data["note"],
            actor=request.user,
            reason=data["reason"],
        )
        return f"{case.regulator} case {case.case_number} recorded."

    return _post_action(request, complaint, form, perform, what="Regulator case")


@login_required
@require_POST
def regulator_response_record(request, pk: int, case_id: int):
    complaint = _complaint_or_403(request, pk)
    case = _part_or_404(selectors.complaint_regulator_case(complaint=complaint, pk=case_id))
    form = RegulatorResponseForm(request.POST, prefix=row_prefix(REG_RESPONSE, case.pk))

    def perform(data):
        services.regulator_response_record(
            case=case,
            responded_on=data["responded_on"],
            summary=data["summary"],
            actor=request.user,
            reason=data["reason"],
        )
        return f"Response to {case.regulator} case {case.case_number} recorded."

    return _post_action(request, complaint, form, perform, what="Regulator response")


@login_required
@require_POST
def employee_flag(request, pk: int):
    complaint = _complaint_or_403(request, pk)
    form = EmployeeFlagForm(request.POST, prefix=FLAG, changes=selectors.flaggable_changes(complaint))

    def perform(data):
        flag = services.employee_flag(
            complaint=complaint, change=data["change"], actor=request.user, reason=data["reason"]
        )
        return f"{display_name(flag.employee)} ({flag.employee.get_username()}) flagged for review."

    return _post_action(request, complaint, form, perform, what="Employee flag")


@login_required
@require_POST
def employee_flag_withdraw(request, pk: int, flag_id: int):
    complaint = _complaint_or_403(request, pk)
    flag = _part_or_404(selectors.complaint_flag(complaint=complaint, pk=flag_id))
    form = ComplaintReasonForm(request.POST, prefix=row_prefix(UNFLAG, flag.pk))

    def perform(data):
        services.employee_flag_withdraw(flag=flag, actor=request.user, reason=data["reason"])
        return f"Flag on {display_name(flag.employee)} ({flag.employee.get_username()}) withdrawn."

    return _post_action(request, complaint, form, perform, what="Withdrawing the flag")
