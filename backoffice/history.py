"""Who and why, for every write: the two things simple-history records beside what."""

from django.core.exceptions import ValidationError


def require_reason(reason: str) -> str:
    """Every change carries a why; blank is not a reason."""
    if not reason or not reason.strip():
        raise ValidationError("A reason is required for this change.", code="reason_required")
    return reason.strip()


def stamp_change(instance, *, actor, reason: str) -> None:
    """Set what simple-history records as the change's user and reason on the next save."""
    instance._history_user = actor
    instance._change_reason = reason
