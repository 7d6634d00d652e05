"""Demo inventory: subscribers, a thousand numbers in every lifecycle state and
transfer requests for the approval queue, built through the services so the
demo's history looks like real work."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from audit.context import audited_transaction, job_scope
from numbers import services
from numbers.choices import (
    ConsentMethod,
    ConsentParty,
    IdentityDocumentType,
    NumberStatus,
    TransferState,
    WithdrawalGround,
)
from numbers.identity import unseal_document
from numbers.models import (
    Branch,
    MobileNumber,
    Subscriber,
    TransferConsent,
    TransferDispute,
    TransferLock,
    TransferRequest,
    WithdrawalRequest,
)
from numbers.selectors import subscriber_by_document
from numbers.services.inventory import apply_move
from sms.choices import SmsPurpose
from sms.models import SmsMessage
from sms.services import handset_text, inbound_sms_receive

FIRST_NAMES = ["Sokha", "Dara", "Vanna", "Sophea", "Pisey", "Rithy", "Kunthea", "Vibol", "Chantha", "Sreyleak"]
LAST_NAMES = ["Chan", "Sok", "Kim", "Lim", "Heng", "Chea", "Prak", "Meas", "Ouk", "Seng"]

# How the thousand demo numbers are spread over the lifecycle (state, how many).
STATE_PLAN: list[tuple[str, int]] = [
    (NumberStatus.AVAILABLE, 380),
    (NumberStatus.RESERVED, 20),
    (NumberStatus.ACTIVE, 440),
    (NumberStatus.SUSPENDED, 40),
    (NumberStatus.BLOCKED, 15),
    (NumberStatus.WITHDRAWN, 35),
    (NumberStatus.AGING, 70),
]

# The moves that bring a fresh number to each state (after a sale where needed).
PATH_TO: dict[str, list[str]] = {
    NumberStatus.AVAILABLE: [],
    NumberStatus.RESERVED: [NumberStatus.RESERVED],
    NumberStatus.ACTIVE: ["sale"],
    NumberStatus.SUSPENDED: ["sale", NumberStatus.SUSPENDED],
    NumberStatus.BLOCKED: ["sale", NumberStatus.BLOCKED],
    NumberStatus.WITHDRAWN: ["sale", NumberStatus.WITHDRAWN],
    NumberStatus.AGING: ["sale", NumberStatus.WITHDRAWN, NumberStatus.AGING],
}


def withdraw_as_lifecycle(number: MobileNumber, *, actor, reason: str, at=None) -> MobileNumber:
    """Seeding and test set-up only: withdraw a held number the way the lifecycle job
    does (apply_move after its own checks). No screen, command or employee reaches
    this; by hand a held number is withdrawn only by an approved withdrawal request."""
    with audited_transaction(actor=actor, reason=reason):
        current = MobileNumber.objects.select_for_update().get(pk=number.pk)
        return apply_move(
            current, to_status=NumberStatus.WITHDRAWN, actor=actor, reason=reason, now=at or timezone.now()
        )


def demo_msisdn(index: int) -> str:
    """+855 12 1xx xxx: a block of Cambodian mobile numbers for the demo."""
    return f"+8551210{index:04d}"


def seed_subscribers(*, actor, branches: list[Branch], count: int = 300) -> list[Subscriber]:
    rng = random.Random(7)
    subscribers = []
    for index in range(count):
        document = f"DEMO{index:06d}"
        existing = subscriber_by_document(document_type=IdentityDocumentType.NATIONAL_ID, document_number=document)
        if existing is not None:
            subscribers.append(existing)
            continue
        subscribers.append(
            services.subscriber_create(
                full_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
                id_document_type=IdentityDocumentType.NATIONAL_ID,
                id_document_number=document,
                contact_msisdn=f"+8559250{index:04d}",
                registered_branch=branches[index % len(branches)],
                actor=actor,
                reason="Demo data: customer registered at the counter",
            )
        )
    return subscribers


def seed_numbers(*, actor, branches: list[Branch], subscribers: list[Subscriber]) -> dict[str, int]:
    """Create the demo numbers that are missing and drive each to its planned state."""
    rng = random.Random(11)
    now = timezone.now()
    created: dict[str, int] = {}
    index = 0
    for state, how_many in STATE_PLAN:
        for _ in range(how_many):
            msisdn = demo_msisdn(index)
            branch = branches[0] if index % 5 < 3 else branches[1]
            subscriber = subscribers[index % len(subscribers)]
            index += 1
            if MobileNumber.objects.filter(msisdn=msisdn).exists():
                continue
            number = services.number_create(msisdn=msisdn, branch=branch, actor=actor, reason="Demo data: inventory")
            sold_days_ago = rng.randint(100, 900)
            at = now - timedelta(days=sold_days_ago)
            for step in PATH_TO[state]:
                at += timedelta(days=rng.randint(1, 20))
                if step == "sale":
                    number = services.number_transition(
                        number=number,
                        to_status=NumberStatus.ACTIVE,
                        subscriber=subscriber,
                        actor=actor,
                        reason="Demo data: new sale",
                        at=at,
                    )
                    topup = now - timedelta(days=rng.randint(0, 95))
                    number = services.number_record_topup(
                        number=number, actor=actor, reason="Demo data: top-up", at=max(topup, at)
                    )
                elif step == NumberStatus.WITHDRAWN:
                    number = withdraw_as_lifecycle(
                        number, actor=actor, reason="Demo data: withdrawn under the inactivity policy", at=min(at, now)
                    )
                else:
                    number = services.number_transition(
                        number=number, to_status=step, actor=actor, reason=f"Demo data: {step}", at=min(at, now)
                    )
            created[state] = created.get(state, 0) + 1
    return created


# --- Transfers ------------------------------------------------------------------


@dataclass(frozen=True)
class ConsentStep:
    """One party's consent in a demo: how, by whom, and who confirmed the holder's check."""

    party: str
    method: str  # ConsentMethod.SMS_CODE (holder only) or ConsentMethod.IN_PERSON
    by: str  # persona username
    confirmed_by: str = ""


@dataclass(frozen=True)
class DemoTransfer:
    """One demo transfer request, on one demo number, taken as far as ``outcome``."""

    index: int  # the demo number (see demo_msisdn); it must be active in the plan
    requester: str  # persona usernames
    consents: tuple[ConsentStep, ...]
    outcome: str  # a TransferState: awaiting_consent, awaiting_approval, executed or rejected
    reason: str
    decided_by: str = ""
    decision: str = ""


def by_code_and_counter(agent: str) -> tuple[ConsentStep, ...]:
    """The everyday transfer: the holder reads back the code sent to the number, the
    new subscriber shows their document at the counter."""
    return (
        ConsentStep(ConsentParty.CURRENT_HOLDER, ConsentMethod.SMS_CODE, agent),
        ConsentStep(ConsentParty.NEW_SUBSCRIBER, ConsentMethod.IN_PERSON, agent),
    )


# Indices 400-839 are active; index % 5 < 3 is branch A, the rest branch B.
DEMO_TRANSFERS: tuple[DemoTransfer, ...] = (
    DemoTransfer(
        400,
        "agent_a",
        by_code_and_counter("agent_a"),
        TransferState.AWAITING_APPROVAL,
        "Demo data: the holder gives the number to her son",
    ),
    # The holder's SIM is broken: in person, photo of her document, agent_a confirms
    # the check; the cooling-off runs and two supervisors must approve.
    DemoTransfer(
        401,
        "agent_b",
        (
            ConsentStep(ConsentParty.CURRENT_HOLDER, ConsentMethod.IN_PERSON, "agent_b", confirmed_by="agent_a"),
            ConsentStep(ConsentParty.NEW_SUBSCRIBER, ConsentMethod.IN_PERSON, "agent_a"),
        ),
        TransferState.AWAITING_APPROVAL,
        "Demo data: a shop number moves to its new owner",
    ),
    DemoTransfer(
        402,
        "agent_a",
        (ConsentStep(ConsentParty.NEW_SUBSCRIBER, ConsentMethod.IN_PERSON, "agent_a"),),
        TransferState.AWAITING_CONSENT,
        "Demo data: the holder will confirm by SMS code",
    ),
    DemoTransfer(
        405,
        "agent_b",
        by_code_and_counter("agent_b"),
        TransferState.EXECUTED,
        "Demo data: the holder moves abroad and hands the number to his sister",
        decided_by="supervisor_a",
        decision="Demo data: the holder read back the code sent to the number; approved",
    ),
    DemoTransfer(
        406,
        "agent_a",
        (ConsentStep(ConsentParty.NEW_SUBSCRIBER, ConsentMethod.IN_PERSON, "agent_a"),),
        TransferState.REJECTED,
        "Demo data: a caller says the holder agreed by phone",
        decided_by="supervisor_a",
        decision="Demo data: the holder called 1777: she never asked for this transfer",
    ),
    DemoTransfer(
        403,
        "agent_c",
        by_code_and_counter("agent_c"),
        TransferState.AWAITING_APPROVAL,
        "Demo data: a family number changes hands",
    ),
)
# A held number of branch B whose holder replied NO to the request's SMS notice: the
# request is cancelled, disputed, and an unauthorised-transfer complaint waits there.
DEMO_DISPUTED_INDEX = 408
DEMO_DISPUTED_REASON = "Demo data: a caller says he bought the number from its holder"
# A held number of branch A whose holder asked for a transfer lock.
DEMO_LOCKED_INDEX = 407
DEMO_LOCK_REASON = "Demo data: the holder asked for a transfer lock after a suspicious call"
# A held number of branch A whose withdrawal on a legal order awaits its second approval:
# asked by supervisor_a, to be decided by supervisor_a2 (four eyes).
DEMO_WITHDRAWAL_INDEX = 430
DEMO_WITHDRAWAL_REASON = "Demo data: court order 41/2026 to withdraw a line used for fraud"


def _demo_request_is_stale(request: TransferRequest, now) -> bool:
    """Open but past its expiry, or holding a lapsed consent: a week-old demo cannot be approved."""
    if request.expires_at <= now:
        return True
    return request.consents.lapsed(now).exists()


def _new_subscriber_for(number: MobileNumber, subscribers: list[Subscriber], index: int) -> Subscriber | None:
    for step in range(len(subscribers)):
        candidate = subscribers[(index * 7 + 3 + step) % len(subscribers)]
        if candidate.pk != number.holder_id:
            return candidate
    return None


# A stand-in for the photo of the document shown: the smallest PNG the services accept.
DEMO_DOCUMENT_PHOTO = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _consent_in_person(request: TransferRequest, party: str, *, actor) -> TransferConsent:
    subscriber = request.from_holder if party == ConsentParty.CURRENT_HOLDER else request.to_subscriber
    photo = ContentFile(DEMO_DOCUMENT_PHOTO, name="document.png") if party == ConsentParty.CURRENT_HOLDER else None
    return services.consent_record_in_person(
        request=request,
        party=party,
        document_type=subscriber.id_document_type,
        # The demo plays the customer showing their card: it knows the number, staff do not.
        document_number=unseal_document(subscriber.id_document_sealed),
        document_photo=photo,
        actor=actor,
        reason="Demo data: identity document checked at the counter",
    )


def holder_reads_code(request: TransferRequest, *, actor) -> TransferConsent:
    """The holder's consent by the code sent to the number. The demo plays the
    holder's handset: it reads the code from the message the number received."""
    services.consent_code_send(request=request, actor=actor, reason="Demo data: the holder has her SIM with her")
    message = (
        SmsMessage.objects.filter(to_msisdn=request.number.msisdn, purpose=SmsPurpose.CONSENT_CODE)
        .order_by("-pk")
        .first()
    )
    code = next(word for word in handset_text(message).split() if word.isdigit() and len(word) == 6)
    return services.consent_code_verify(
        request=request, code=code, actor=actor, reason="Demo data: the holder read back the code"
    )


def _take_consent(request: TransferRequest, step: ConsentStep, *, users: dict) -> None:
    if step.method == ConsentMethod.SMS_CODE:
        holder_reads_code(request, actor=users[step.by])
        return
    consent = _consent_in_person(request, step.party, actor=users[step.by])
    if step.confirmed_by:
        services.transfer_confirm_consent(
            consent=consent,
            actor=users[step.confirmed_by],
            reason="Demo data: saw the holder and her document at the counter myself",
        )


def _seed_transfer(plan: DemoTransfer, *, users: dict, subscribers: list[Subscriber], now) -> str:
    number = MobileNumber.objects.get(msisdn=demo_msisdn(plan.index))
    latest = TransferRequest.objects.filter(number=number, reason=plan.reason).order_by("-created_at", "-id").first()
    requester = users[plan.requester]
    if latest is not None:
        if latest.is_open and _demo_request_is_stale(latest, now):
            services.transfer_cancel(
                request=latest, actor=requester, reason="Demo data: replaced by a fresh demo request"
            )
        elif latest.state != TransferState.EXPIRED:
            return "present"
    to_subscriber = _new_subscriber_for(number, subscribers, plan.index)
    if to_subscriber is None:
        return "skipped: no other subscriber to transfer to"
    request = services.transfer_create(number=number, new_subscriber=to_subscriber, actor=requester, reason=plan.reason)
    for step in plan.consents:
        _take_consent(request, step, users=users)
    if plan.outcome == TransferState.EXECUTED:
        services.transfer_approve(request=request, actor=users[plan.decided_by], reason=plan.decision)
    elif plan.outcome == TransferState.REJECTED:
        services.transfer_reject(request=request, actor=users[plan.decided_by], reason=plan.decision)
    return "created"


def seed_transfers(*, users: dict, subscribers: list[Subscriber]) -> dict[str, str]:
    """The transfer requests, the lock and the withdrawal of the demo, through the services.

    Idempotent: a scenario already on its number is left alone, except an open
    request gone stale (expired, or a consent lapsed) which is replaced, so
    ``make demo`` a week later still has requests a supervisor can approve.
    A scenario whose number was changed by hand since is skipped with why.
    """
    now = timezone.now()
    outcome: dict[str, str] = {}
    for plan in DEMO_TRANSFERS:
        label = f"{demo_msisdn(plan.index)} {plan.outcome.replace('_', ' ')}"
        try:
            with transaction.atomic():
                outcome[label] = _seed_transfer(plan, users=users, subscribers=subscribers, now=now)
        except (ValidationError, PermissionDenied) as exc:
            outcome[label] = "skipped: " + " ".join(getattr(exc, "messages", [str(exc)]))
    outcome.update(_seed_withdrawal(users=users))
    label = f"{demo_msisdn(DEMO_DISPUTED_INDEX)} disputed by the holder"
    try:
        with transaction.atomic():
            outcome[label] = _seed_dispute(users=users, subscribers=subscribers)
    except (ValidationError, PermissionDenied) as exc:
        outcome[label] = "skipped: " + " ".join(getattr(exc, "messages", [str(exc)]))
    locked = MobileNumber.objects.get(msisdn=demo_msisdn(DEMO_LOCKED_INDEX))
    label = f"{locked.msisdn} transfer lock"
    if TransferLock.objects.filter(number=locked).exists():
        outcome[label] = "present"
    else:
        try:
            with transaction.atomic():
                services.transfer_lock_place(number=locked, actor=users["agent_a"], reason=DEMO_LOCK_REASON)
            outcome[label] = "created"
        except (ValidationError, PermissionDenied) as exc:
            outcome[label] = "skipped: " + " ".join(getattr(exc, "messages", [str(exc)]))
    return outcome


def _seed_withdrawal(*, users: dict) -> dict[str, str]:
    number = MobileNumber.objects.get(msisdn=demo_msisdn(DEMO_WITHDRAWAL_INDEX))
    label = f"{number.msisdn} withdrawal awaiting approval"
    if WithdrawalRequest.objects.filter(number=number, reason=DEMO_WITHDRAWAL_REASON).exists():
        return {label: "present"}
    order = ContentFile(b"%PDF-1.4\n% Demo data: a court order, not a real one\n", name="order.pdf")
    try:
        with transaction.atomic():
            services.withdrawal_request(
                number=number,
                ground=WithdrawalGround.LEGAL_ORDER,
                document=order,
                actor=users["supervisor_a"],
                reason=DEMO_WITHDRAWAL_REASON,
            )
    except (ValidationError, PermissionDenied) as exc:
        return {label: "skipped: " + " ".join(getattr(exc, "messages", [str(exc)]))}
    return {label: "created"}


def _seed_dispute(*, users: dict, subscribers: list[Subscriber]) -> str:
    """A request agent_c made in branch B, and the holder's "NO <ref>" by SMS as the
    gateway would post it (the same path: the router, the dispute, the complaint)."""
    number = MobileNumber.objects.get(msisdn=demo_msisdn(DEMO_DISPUTED_INDEX))
    request = (
        TransferRequest.objects.filter(number=number, reason=DEMO_DISPUTED_REASON)
        .order_by("-created_at", "-id")
        .first()
    )
    if request is not None and TransferDispute.objects.filter(request=request).exists():
        return "present"
    if request is None or not request.is_open:
        to_subscriber = _new_subscriber_for(number, subscribers, DEMO_DISPUTED_INDEX)
        if to_subscriber is None:
            return "skipped: no other subscriber to transfer to"
        request = services.transfer_create(
            number=number, new_subscriber=to_subscriber, actor=users["agent_c"], reason=DEMO_DISPUTED_REASON
        )
    with job_scope("sms.inbound"):
        reply = inbound_sms_receive(
            message_id=f"demo-dispute-{request.pk}", sender=number.msisdn, text=f"NO {request.reference}"
        )
    if not TransferDispute.objects.filter(request=request).exists():
        raise ValidationError(f"The holder's reply was not taken: {reply.answer}")
    return "created"
