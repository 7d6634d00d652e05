"""What every complaint-case row shares: written only by the complaint services."""

from __future__ import annotations

from numbers.models import ServiceWrittenQuerySet

WRITTEN_BY = "the complaint services"


class ComplaintWrittenQuerySet(ServiceWrittenQuerySet):
    pass
