"""Path converters shared by every app's URLs.

``<id:pk>`` is ``<int:pk>`` bounded to what a BigAutoField can hold: an id of 40
digits is no record of ours, so the resolver answers 404 before a view or the
database sees a number the driver cannot bind (SQLite raises OverflowError,
PostgreSQL "out of range for type bigint").
"""

from __future__ import annotations

from django.urls import register_converter

MAX_OBJECT_ID = 2**63 - 1


class ObjectIdConverter:
    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_OBJECT_ID:
            raise ValueError("beyond any id")  # the resolver treats it as no match: 404
        return number

    def to_url(self, value) -> str:
        return str(int(value))


# Imported by each app's urls.py (and once only, as a module), before its patterns.
register_converter(ObjectIdConverter, "id")
