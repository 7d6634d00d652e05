"""The branches staff grants authority on, named in this one place.

``Branch`` and guardian's permission tables on it are models of numbers (their
tables have been numbers' since its first migration, and ``Employee.branches``
names ``"numbers.Branch"`` the same way). staff sits below numbers and never
imports it: it looks these models up in Django's app registry when it runs.
"""

from __future__ import annotations

from django.apps import apps
from django.db.models import Model

BRANCH = "numbers.Branch"
BRANCH_USER_PERMISSION = "numbers.BranchUserObjectPermission"
BRANCH_GROUP_PERMISSION = "numbers.BranchGroupObjectPermission"


def branch_model() -> type[Model]:
    return apps.get_model(BRANCH)


def branch_user_permission_model() -> type[Model]:
    """guardian's direct table of users' branch permissions (what staff.services derives)."""
    return apps.get_model(BRANCH_USER_PERMISSION)


def branch_group_permission_model() -> type[Model]:
    return apps.get_model(BRANCH_GROUP_PERMISSION)
