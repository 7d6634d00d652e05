"""What numbers asks a higher floor, answered by what that floor registers at start-up.

The approval queue's risk flags ask "is there an open complaint about this number,
or by its holder?" The complaints app answers in its ``AppConfig.ready()``; with no
complaints app installed the answer is always no.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import BooleanField, Expression, Value

ComplaintQuery = Callable[[object], Expression]

_open_complaint: dict[str, ComplaintQuery] = {}


def register_open_complaint(*, on_number: ComplaintQuery, by_subscriber: ComplaintQuery) -> None:
    """Each callable takes an ``OuterRef`` and returns a boolean expression (an Exists)."""
    _open_complaint["number"] = on_number
    _open_complaint["subscriber"] = by_subscriber


def _never(_ref) -> Expression:
    return Value(False, output_field=BooleanField())


def open_complaint_on_number(number_ref) -> Expression:
    return _open_complaint.get("number", _never)(number_ref)


def open_complaint_by_subscriber(subscriber_ref) -> Expression:
    return _open_complaint.get("subscriber", _never)(subscriber_ref)
