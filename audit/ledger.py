"""The holding ledger check that ``manage.py verify_audit`` runs after the chain.

The check reads numbers' tables, so numbers owns it (numbers/ledger.py) and
registers it here at start-up; audit, on the floor below, runs what is registered
and imports no app above it.
"""

from __future__ import annotations

from collections.abc import Callable

_ledger_check: list[Callable[..., list]] = []


def register_ledger_check(check: Callable[..., list]) -> None:
    """``check(limit=)`` returns the problems found, each with an ``msisdn``."""
    _ledger_check[:] = [check]


def verify_ledger(*, limit: int = 1000) -> list:
    """Every problem the registered check finds (up to ``limit`` of each kind); none without one."""
    return [problem for check in _ledger_check for problem in check(limit=limit)]
