"""Demo inventory: subscribers and a thousand numbers in every lifecycle state,
built through the services so the demo's history looks like real work."""

from __future__ import annotations

import random
from datetime import timedelta

from django.utils import timezone

from . import services
from .choices import IdentityDocumentType, NumberStatus
from .models import Branch, MobileNumber, Subscriber

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


def demo_msisdn(index: int) -> str:
    """+855 12 1xx xxx: a block of Cambodian mobile numbers for the demo."""
    return f"+8551210{index:04d}"


def seed_subscribers(*, actor, branches: list[Branch], count: int = 300) -> list[Subscriber]:
    rng = random.Random(7)
    subscribers = []
    for index in range(count):
        document = f"DEMO{index:06d}"
        existing = Subscriber.objects.filter(
            id_document_type=IdentityDocumentType.NATIONAL_ID, id_document_number=document
        ).first()
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
                else:
                    number = services.number_transition(
                        number=number, to_status=step, actor=actor, reason=f"Demo data: {step}", at=min(at, now)
                    )
            created[state] = created.get(state, 0) + 1
    return created
