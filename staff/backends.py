"""Sign-in for people who may work: Django's model backend, refusing a suspended employee.

Django already refuses an inactive account; an employee whose record says
suspended (by a case, the Employee admin, the command, or a write that went
around all of them) is refused as well, at sign-in and on every request that
reloads the user from the session.
"""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend

from .selectors import is_working


class WorkingEmployeeBackend(ModelBackend):
    def user_can_authenticate(self, user) -> bool:
        return super().user_can_authenticate(user) and is_working(user)
