"""What numbers asks a higher floor, answered by what that floor registers at start-up.

numbers sits below complaints and never imports it. Where it must know about
complaints, the complaints app answers in its ``AppConfig.ready()`` (as
``django.contrib.admin`` discovers ``admin.py`` modules):

- the approval queue's risk flags: "is there an open complaint about this number,
  or by its holder?";
- the lifecycle: "is this number frozen by a complaint's emergency block, or under
  an open complaint?" (moves and the lifecycle job leave such a number alone);
- the number and subscriber admin pages: "which complaints match this condition?";
- the approval queue: "which of the complaints' four-eyes decisions wait?".

With no complaints app installed the answers are no, nothing and none.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db.models import BooleanField, Expression, Q, QuerySet, Value

ComplaintQuery = Callable[[object], Expression]

_open_complaint: dict[str, ComplaintQuery] = {}
_freeze: dict[str, Callable] = {}
_complaints: dict[str, Callable] = {}


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


# --- Numbers frozen by a complaint ------------------------------------------------------


def register_number_freeze(
    *,
    block_reference: Callable[[object], str | None],
    blocked_among: Callable[[list[int]], set[int]],
    complained_among: Callable[[list[int]], set[int]],
) -> None:
    """``block_reference(number)``: the reference of the complaint whose emergency block
    holds the number, or None; ``blocked_among(ids)`` / ``complained_among(ids)``: which
    of these numbers are under an open emergency block / an open complaint (one query each)."""
    _freeze.update(block_reference=block_reference, blocked_among=blocked_among, complained_among=complained_among)


def emergency_block_reference(number) -> str | None:
    answer = _freeze.get("block_reference")
    return None if answer is None else answer(number)


def blocked_among(ids: Iterable[int]) -> set[int]:
    answer = _freeze.get("blocked_among")
    return set() if answer is None else answer(list(ids))


def complained_among(ids: Iterable[int]) -> set[int]:
    answer = _freeze.get("complained_among")
    return set() if answer is None else answer(list(ids))


# --- The complaints shown on numbers' pages ---------------------------------------------


def register_complaints(
    *,
    matching: Callable[[Q], QuerySet],
    restorations_awaiting: Callable[..., QuerySet],
    offers_awaiting: Callable[..., QuerySet],
) -> None:
    """``matching(condition)``: the complaints matching a Q on the complaint model (the
    admin's "complaints" field); ``restorations_awaiting(user=)`` / ``offers_awaiting(user=)``:
    the complaints' four-eyes decisions the approval queue lists beside the transfers."""
    _complaints.update(matching=matching, restorations_awaiting=restorations_awaiting, offers_awaiting=offers_awaiting)


def complaints_matching(condition: Q) -> QuerySet:
    answer = _complaints.get("matching")
    if answer is None:
        raise LookupError("No app registered the complaints (numbers.registry.register_complaints).")
    return answer(condition)


def restorations_awaiting(*, user) -> QuerySet | list:
    answer = _complaints.get("restorations_awaiting")
    return [] if answer is None else answer(user=user)


def offers_awaiting(*, user) -> QuerySet | list:
    answer = _complaints.get("offers_awaiting")
    return [] if answer is None else answer(user=user)
