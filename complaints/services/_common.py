"""What every complaint service shares: locking, authority, the event record, SMS."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from backoffice.evidence import service_write_scope
from backoffice.history import stamp_change
from numbers.models import MobileNumber, Subscriber
from sms.services import sms_send
from staff.selectors import has_branch_perm, is_working

from ..choices import OPEN_COMPLAINT_STATES
from ..models import Complaint, ComplaintEvent

HANDLE_PERM = "complaints.handle_complaint"


def locked_complaint(complaint: Complaint) -> Complaint:
    """The complaint row, locked: two people acting at once queue, and nothing is lost."""
    return Complaint.objects.select_for_update(of=("self",)).select_related("complainant").get(pk=complaint.pk)


def save(instance, *, actor, reason: str, **kwargs) -> None:
    stamp_change(instance, actor=actor, reason=reason)
    with service_write_scope():
        instance.save(**kwargs)


def record_event(
    complaint: Complaint, *, kind: str, actor, text: str, number: MobileNumber | None = None, at=None
) -> ComplaintEvent:
    event = ComplaintEvent(complaint=complaint, kind=kind, actor=actor, text=text, number=number)
    event.at = at or timezone.now()
    save(event, actor=actor, reason=text[:200])
    return event


def require_working(actor) -> None:
    if not is_working(actor):
        raise PermissionDenied("This account is not allowed to act: it is inactive or suspended.")


def is_assigned_handler(actor, complaint: Complaint) -> bool:
    """The assigned handler holds the guardian permission on the complaint and still
    handles complaints for its branch."""
    return (
        is_working(actor)
        # A superuser holds every permission: it is the handler only of what is assigned to it.
        and (not actor.is_superuser or complaint.assigned_to_id == actor.pk)
        and actor.has_perm(HANDLE_PERM, complaint)
        and has_branch_perm(actor, "handle_branch_complaints", complaint.branch_id)
    )


def is_branch_supervisor(actor, complaint: Complaint) -> bool:
    return is_working(actor) and has_branch_perm(actor, "supervise_branch", complaint.branch_id)


def require_handler(actor, complaint: Complaint, what: str) -> None:
    require_working(actor)
    if not is_assigned_handler(actor, complaint):
        raise PermissionDenied(
            f"Only the handler assigned to {complaint.reference} may {what}; others in the branch see it read-only."
        )


def require_handler_or_supervisor(actor, complaint: Complaint, what: str) -> None:
    require_working(actor)
    if not (is_assigned_handler(actor, complaint) or is_branch_supervisor(actor, complaint)):
        raise PermissionDenied(
            f"Only the handler assigned to {complaint.reference} or a supervisor of its branch may {what}."
        )


def require_four_eyes_approver(actor, complaint: Complaint, *, requested_by_id: int, what: str) -> None:
    """A named supervisor of the branch who did not ask: never the requester, never a superuser."""
    require_working(actor)
    if not is_branch_supervisor(actor, complaint):
        raise PermissionDenied(f"You have no authority to approve {what} for this branch.")
    if actor.is_superuser:
        raise PermissionDenied(f"Superuser accounts do not approve {what}: approval is a named supervisor's duty.")
    if actor.pk == requested_by_id:
        raise ValidationError(f"You asked for this {what}: another supervisor must decide it.", code="four_eyes")


def require_open(complaint: Complaint, what: str) -> None:
    if complaint.state not in OPEN_COMPLAINT_STATES:
        raise ValidationError(
            "Complaint %(ref)s is %(state)s: reopen it to %(what)s.",
            params={"ref": complaint.reference, "state": complaint.get_state_display().lower(), "what": what},
            code="complaint_not_open",
        )


def tell_complainant(complainant: Subscriber, body: str, purpose: str) -> None:
    to = complainant.contact_msisdn or complainant.alternate_msisdn
    if to:
        sms_send(to=to, body=body, purpose=purpose)


def local(at: datetime) -> str:
    return timezone.localtime(at).strftime("%d %b %Y %H:%M")
