"""Refusals every app raises. They are ValidationErrors so that forms and the admin
show their message as it is; nothing is changed when one is raised."""

from django.core.exceptions import ValidationError


class GuardedFieldChange(ValidationError):
    """A write to a field that only the service layer may change."""


class DeletionRefused(ValidationError):
    """Evidence (numbers, subscribers, holdings, complaints, history) is never deleted."""
