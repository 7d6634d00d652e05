"""The named people of the demo and of the tests: one list, so a test about
``agent_a`` means the same person a newcomer logs in as in ``make demo``."""

from __future__ import annotations

import os
from base64 import b32decode
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.history import stamp_change

from .branches import branch_model
from .choices import Role
from .twofactor import PRIVILEGED_ROLES, TOTP_DEVICE_NAME

DEFAULT_DEMO_PASSWORD = "backoffice-demo"
# The demo's authenticator key (base32, as an app takes it), the same for every demo
# persona that needs a second factor: published in the README, so DEBUG/demo only
# (seed_demo refuses to run without DEBUG). ``manage.py otp_code <user>`` prints a code.
DEMO_TOTP_KEY_BASE32 = "BACKOFFICEDEMOTOTPKEYDEMOONLYAAA"

BRANCHES: dict[str, str] = {
    "branch-a": "Branch A, Phnom Penh Central",
    "branch-b": "Branch B, Siem Reap",
}


@dataclass(frozen=True)
class Persona:
    username: str
    role: str
    branches: tuple[str, ...]
    first_name: str
    last_name: str
    superuser: bool = False


PERSONAS: tuple[Persona, ...] = (
    Persona("admin", Role.ADMINISTRATOR, (), "Ada", "Admin", superuser=True),
    Persona("agent_a", Role.AGENT, ("branch-a",), "Anan", "Agent"),
    Persona("agent_b", Role.AGENT, ("branch-a",), "Bopha", "Agent"),
    Persona("agent_c", Role.AGENT, ("branch-b",), "Chenda", "Agent"),
    Persona("supervisor_a", Role.SUPERVISOR, ("branch-a",), "Sok", "Supervisor"),
    # A second supervisor of branch A: four eyes (withdrawals, transfers) needs two.
    Persona("supervisor_a2", Role.SUPERVISOR, ("branch-a",), "Sophal", "Supervisor"),
    Persona("supervisor_b", Role.SUPERVISOR, ("branch-b",), "Sreymom", "Supervisor"),
    Persona("handler_a", Role.COMPLAINT_HANDLER, ("branch-a",), "Heng", "Handler"),
    Persona("auditor", Role.AUDITOR, (), "Audrey", "Auditor"),
)
PERSONAS_BY_NAME = {persona.username: persona for persona in PERSONAS}


def demo_password() -> str:
    return os.environ.get("DEMO_PASSWORD") or DEFAULT_DEMO_PASSWORD


def ensure_branches() -> dict:
    Branch = branch_model()
    branches = {}
    for code, name in BRANCHES.items():
        branch = Branch.objects.filter(code=code).first()
        if branch is None:
            branch = Branch(code=code, name=name)
            branch._change_reason = "Demo and test branch"
            branch.save()
        branches[code] = branch
    return branches


@transaction.atomic
def ensure_persona(username: str, *, password: str | None = None):
    """Create the persona's account, employee record and authority if missing."""
    from .services import employee_create

    User = get_user_model()
    persona = PERSONAS_BY_NAME[username]
    existing = User.objects.filter(username=username).first()
    if existing is not None:
        return existing
    password = password or demo_password()
    branches = ensure_branches()
    if persona.superuser:
        user = User.objects.create_superuser(
            username=username,
            password=password,
            email=f"{username}@backoffice.invalid",
            first_name=persona.first_name,
            last_name=persona.last_name,
        )
        from .models import Employee
        from .services import roles_ensure_groups

        user.groups.add(roles_ensure_groups()[persona.role])
        employee = Employee(user=user, employee_code=f"E-{username.upper()}")
        stamp_change(employee, actor=user, reason="Bootstrap administrator")
        employee.save()
        return user
    actor = ensure_persona("admin", password=password)
    employee = employee_create(
        username=username,
        password=password,
        first_name=persona.first_name,
        last_name=persona.last_name,
        email=f"{username}@backoffice.invalid",
        employee_code=f"E-{username.upper()}",
        roles=[persona.role],
        branches=[branches[code] for code in persona.branches],
        actor=actor,
        reason="Demo and test persona",
    )
    return employee.user


def ensure_personas(*, password: str | None = None) -> list:
    return [ensure_persona(persona.username, password=password) for persona in PERSONAS]


def persona_needs_second_factor(persona: Persona) -> bool:
    return persona.superuser or persona.role in PRIVILEGED_ROLES


def ensure_demo_device(user):
    """Give a demo persona the published demo authenticator key (seed_demo only, DEBUG only)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(
            user=user, name=TOTP_DEVICE_NAME, key=b32decode(DEMO_TOTP_KEY_BASE32).hex(), confirmed=True
        )
    return device
