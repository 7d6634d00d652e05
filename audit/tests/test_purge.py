"""Nothing purges history: simple-history's cleaning commands are replaced by refusals,
and its admin "revert" neither shows nor saves."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command, get_commands
from django.core.management.base import CommandError

from audit.chain import chained_models, verify_table
from numbers.models import Branch
from numbers.services import number_create

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
PURGES = [
    ("clean_old_history", ["--days", "1"]),
    ("clean_old_history", ["--days", "1", "--auto"]),
    ("clean_old_history", ["numbers.MobileNumber", "--days", "0"]),
    ("clean_duplicate_history", ["--auto"]),
    ("clean_duplicate_history", ["numbers.MobileNumber", "--minutes", "100000"]),
]


def counts() -> dict[str, int]:
    return {m._meta.db_table: m._base_manager.count() for m in chained_models()}


@pytest.fixture
def duplicates(admin_user, branch_a):
    """History that simple-history's commands would delete: old records and exact duplicates."""
    number = number_create(msisdn="+85512996001", branch=branch_a, actor=admin_user, reason="Stock")
    for _ in range(2):
        number._change_reason = "Saved again, nothing changed"
        number._history_user = admin_user
        number.save()  # a duplicate history record, what clean_duplicate_history removes
    assert number.history.count() == 3
    return number


def test_the_cleaning_commands_are_the_portals_refusals():
    commands = get_commands()
    assert commands["clean_old_history"] == "audit"
    assert commands["clean_duplicate_history"] == "audit"


@pytest.mark.parametrize(("name", "args"), PURGES, ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_a_history_purge_is_refused_and_deletes_nothing(duplicates, name, args):
    before = counts()
    with pytest.raises(CommandError, match="Refused: history records are evidence"):
        call_command(name, *args)
    assert counts() == before
    assert duplicates.history.count() == 3
    for model in chained_models():
        assert verify_table(model)[1] is None


def test_a_purge_from_the_shell_exits_non_zero(tmp_path):
    """As an operator runs it; pointed at an empty database, so even a purge that ran could harm nothing."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "backoffice.settings",
    }
    result = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "clean_old_history", "--days", "1", "--auto"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Refused: history records are evidence" in result.stderr


# --- The admin's revert --------------------------------------------------------------------


def test_revert_is_disabled_in_settings(settings):
    assert settings.SIMPLE_HISTORY_REVERT_DISABLED is True


def test_the_admin_shows_an_old_version_but_will_not_restore_it(client, admin_user, branch_a):
    """Even the superuser: the old version is shown read-only; posting it back is refused."""
    client.force_login(admin_user)
    change = f"/admin/numbers/branch/{branch_a.pk}/change/"
    response = client.post(change, {"code": branch_a.code, "name": "Renamed", "is_active": "on", "change_reason": "x"})
    assert response.status_code == 302
    old = branch_a.history.order_by("history_id").first()
    history_count = branch_a.history.count()

    url = f"/admin/numbers/branch/{branch_a.pk}/history/{old.history_id}/"
    page = client.get(url)
    assert page.status_code == 200
    assert b"Revert" not in page.content and old.name.encode() in page.content

    response = client.post(url, {"code": old.code, "name": old.name, "is_active": "on", "change_reason": "revert"})
    assert response.status_code == 403
    assert Branch.objects.get(pk=branch_a.pk).name == "Renamed"
    assert branch_a.history.count() == history_count
