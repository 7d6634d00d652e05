"""What "nothing changed" means for a number, shared by the tests that assert it."""

from numbers.models import Holding, MobileNumber


def number_snapshot(number: MobileNumber) -> dict:
    """Every guarded field, the history count and the ledger rows, read fresh."""
    fresh = MobileNumber.objects.get(pk=number.pk)
    return {
        "status": fresh.status,
        "holder_id": fresh.holder_id,
        "status_changed_at": fresh.status_changed_at,
        "activated_at": fresh.activated_at,
        "last_topup_at": fresh.last_topup_at,
        "history": fresh.history.count(),
        "holdings": list(
            Holding.objects.filter(number=fresh)
            .order_by("pk")
            .values_list("pk", "subscriber_id", "ended_at", "end_reason")
        ),
    }
