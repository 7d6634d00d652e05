"""The audit demo (seeded by seed_demo after the complaints): the auditor opens a
disciplinary case on ``agent_b``, on the grounds of the handler's flag on the
incident's wrongful transfer, and notes what to check. ``agent_b`` is left at work:
suspending pending review is for the visitor to try on the review screens.

Built through review.services, and idempotent: a case already holding the flag
(in any state, the visitor may have closed it) is left alone.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import transaction

from audit.models import DisciplinaryCase
from complaints.models import EmployeeFlag
from demo.complaints_seed import INCIDENT_DESCRIPTION
from review import services

REVIEWER = "auditor"
EMPLOYEE = "agent_b"
CASE_LABEL = "disciplinary case on agent_b"
CASE_SUMMARY = (
    "Unauthorised transfer: agent_b handed an active subscriber's number to another customer, recording the "
    "holder's consent 'in person' on a day the holder was not at the branch. Company policy forbids selling or "
    "transferring an active number without the explicit consent of both subscribers."
)
CASE_REASON = "Demo data: the complaint handler flagged agent_b's transfer on the incident complaint"
CASE_NOTE = (
    "Demo data: to check: the branch's visitor log and CCTV for the day of the transfer, and agent_b's other "
    "transfers with both consents taken 'in person'."
)
CASE_NOTE_REASON = "Demo data: first review of the evidence"


def _incident_flags():
    """The handler's flags on agent_b for the incident's transfer, standing or withdrawn."""
    return (
        EmployeeFlag.objects.select_related("complaint", "employee")
        .filter(complaint__description=INCIDENT_DESCRIPTION, employee__username=EMPLOYEE)
        .order_by("flagged_at", "id")
    )


def incident_flag() -> EmployeeFlag | None:
    """The standing flag on agent_b for the incident's transfer, if the complaints demo made it."""
    return _incident_flags().filter(withdrawn_at__isnull=True).first()


def demo_case() -> DisciplinaryCase | None:
    """The case the demo opened (whatever became of it since)."""
    return DisciplinaryCase.objects.filter(flags__in=_incident_flags()).order_by("opened_at", "id").first()


def _seed_case(*, users: dict) -> str:
    if demo_case() is not None:
        return "present"
    flag = incident_flag()
    if flag is None:
        return "skipped: the incident's flag on agent_b is missing (the complaint demo did not make it)"
    auditor = users[REVIEWER]
    case = services.case_open(
        employee=flag.employee,
        summary=CASE_SUMMARY,
        complaints=[flag.complaint],
        flags=[flag],
        actor=auditor,
        reason=CASE_REASON,
    )
    services.case_add_note(case=case, text=CASE_NOTE, actor=auditor, reason=CASE_NOTE_REASON)
    return "created"


def seed_audit(*, users: dict) -> dict[str, str]:
    """The demo's disciplinary case, in its own savepoint: one that cannot be made
    (agent_b already has another open case) is skipped with why."""
    try:
        with transaction.atomic():
            outcome = _seed_case(users=users)
    except (ValidationError, PermissionDenied) as exc:
        outcome = "skipped: " + " ".join(getattr(exc, "messages", [str(exc)]))
    return {CASE_LABEL: outcome}


def demo_walkthrough(site: str) -> list[str]:
    """Where a newcomer tries the audit review on the seeded demo."""
    case = demo_case()
    agent_b = get_user_model()._default_manager.filter(username=EMPLOYEE).first()
    review = f"{site}/review/?employee={agent_b.pk}" if agent_b else f"{site}/review/"
    lines = [
        f"as auditor:      {review}  agent_b's changes with before/after, reason and request id, the "
        "wrongful transfer among them (or open /review/ and pick agent_b); export them as CSV or a PDF dossier",
    ]
    if case is not None:
        lines.append(
            f"as auditor:      {site}/review/cases/{case.pk}/  {case.reference}, the case on agent_b: its grounds "
            "(the flag and the incident complaint); suspend agent_b pending review, then try signing in as agent_b"
        )
    lines += [
        f"as auditor:      {site}/admin/audit/accessevent/  the access log: sign-ins, failed sign-ins, sign-outs",
        f"as auditor:      {site}/admin/audit/refusedattempt/  what the portal refused, to whom, on which rule",
        "on the server:   python manage.py verify_audit  recompute the audit chain and check the holding ledger "
        "against its history (-v 2 lists every table)",
    ]
    return lines


def seed_checkpoint() -> list[str]:
    """Sign the demo's chains once (a development key pair is made under var/ if missing),
    so ``verify_audit --checkpoints`` has something to check; beat signs hourly after."""
    from audit.checkpoints import checkpoint_sign, ensure_dev_keypair

    made = ensure_dev_keypair()
    try:
        entry = checkpoint_sign()["checkpoint"]
    except ImproperlyConfigured as error:
        return [f"No audit checkpoint signed: {error}"]
    lines = [
        f"Signed audit checkpoint #{entry['seq']} ({len(entry['tables'])} tables) to {settings.AUDIT_CHECKPOINT_STORE}."
    ]
    if made:
        lines.append(f"  (made a development signing key pair: {settings.AUDIT_CHECKPOINT_SIGNING_KEY})")
    return lines
