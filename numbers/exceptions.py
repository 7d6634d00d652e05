"""Errors the number services raise. They are ValidationErrors so that forms and
the admin show their message as it is; nothing is changed when one is raised."""

from django.core.exceptions import ValidationError

from backoffice.exceptions import DeletionRefused, GuardedFieldChange  # noqa: F401  (numbers' own names)


class IllegalMove(ValidationError):
    """A lifecycle move that the table in numbers/choices.py does not allow."""


class HolderChangeRefused(GuardedFieldChange):
    """An attempt to give a held number to somebody else outside a transfer."""
