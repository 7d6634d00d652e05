"""Errors the number services raise. They are ValidationErrors so that forms and
the admin show their message as it is; nothing is changed when one is raised."""

from django.core.exceptions import ValidationError


class IllegalMove(ValidationError):
    """A lifecycle move that the table in numbers/choices.py does not allow."""


class GuardedFieldChange(ValidationError):
    """A write to a field that only the service layer may change."""


class HolderChangeRefused(GuardedFieldChange):
    """An attempt to give a held number to somebody else outside a transfer."""


class DeletionRefused(ValidationError):
    """Numbers, subscribers and holdings are never deleted: they are evidence."""
