"""What the complaints app does when the apps below it announce something."""

from __future__ import annotations

from .choices import Channel, ComplaintCategory, Severity
from .services.handling import complaint_create


def open_complaint_for_dispute(sender, *, dispute, text: str, **kwargs) -> None:
    """The holder replied NO to a transfer notice: a complaint of unauthorised
    transfer, new and unassigned, for the number's branch to pick up. Taken in by
    the portal itself (the gateway's job scope), in the dispute's transaction."""
    request = dispute.request
    complaint_create(
        complainant=request.from_holder,
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        severity=Severity.CRITICAL,
        channel=Channel.SMS,
        description=(
            f"The holder replied {text.strip()!r} by SMS from {dispute.sender} to the notice of transfer request "
            f"{request.reference} ({request.get_state_display().lower()}): they did not ask for this transfer."
        ),
        numbers=[request.number],
        actor=None,
        reason=f"Opened from the holder's SMS reply disputing {request.reference}.",
    )


def complaint_regrant_refusal(complaint, user) -> str | None:
    """A suspended employee's grant on a complaint comes back at reinstatement only
    while the complaint is still assigned to them (asked by staff.services)."""
    if complaint.assigned_to_id != user.pk:
        return "the complaint was reassigned while they were suspended"
    return None
