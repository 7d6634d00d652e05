"""A job run on a real Celery worker over Redis: what it changes names the job as its
actor and shares the task's id as its request id, on the chain like everything else.

The worker is another process, so it needs the test database on a server: PostgreSQL
(the test database, committed: transaction=True) and Redis (CELERY_BROKER_URL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from audit.chain import chained_models, verify_table
from numbers.choices import TransferState
from numbers.models import TransferRequest
from numbers.tasks import expire_transfer_requests
from tests.celery_worker import run_on
from tests.helpers import back_date

pytestmark = [pytest.mark.redis, pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

JOB = "numbers.expire_transfer_requests"


def marks() -> dict:
    return {m: m._base_manager.order_by("-pk").values_list("pk", flat=True).first() or 0 for m in chained_models()}


def test_a_job_on_a_real_worker_is_recorded_as_the_job_with_the_task_id(worker, open_request):
    assert settings.CELERY_TASK_ALWAYS_EAGER is False
    now = timezone.now()
    back_date(
        TransferRequest, open_request.pk, created_at=now - timedelta(days=8), expires_at=now - timedelta(minutes=1)
    )
    mark = marks()

    task_id, expired = run_on(worker, expire_transfer_requests)
    assert expired == 1
    open_request.refresh_from_db()
    assert open_request.state == TransferState.EXPIRED

    record = open_request.history.latest("history_id")
    assert (record.history_user, record.actor_label) == (None, f"job:{JOB}")
    assert record.history_request_id == task_id.replace("-", "")
    assert record.history_change_reason.startswith("Expired: not approved by")
    written = [r for m, last in mark.items() for r in m._base_manager.filter(pk__gt=last)]
    # The SMS it stored is delivered by its own task (its own id) once the job commits.
    written = [r for r in written if getattr(r, "actor_label", "") != "job:sms.deliver"]
    tables = {r._meta.db_table for r in written}
    assert {"numbers_historicaltransferrequest", "sms_historicalsmsmessage"} <= tables  # the SMS after commit too
    assert {r.history_request_id for r in written} == {task_id.replace("-", "")}
    assert {r.actor_label for r in written if hasattr(r, "actor_label")} == {f"job:{JOB}"}
    for model in chained_models():
        assert verify_table(model)[1] is None

    # A second run is another id, and has nothing to do.
    second_id, expired = run_on(worker, expire_transfer_requests)
    assert expired == 0 and second_id != task_id
    assert open_request.history.latest("history_id").history_request_id == task_id.replace("-", "")


@pytest.fixture
def checkpoint_files(tmp_path, monkeypatch, settings):
    """A signing pair and a checkpoint file, given to this process and to the worker (its environment)."""
    from audit.checkpoints import generate_keypair

    generate_keypair(tmp_path / "signing.pem", tmp_path / "verify.pub")
    values = {
        "AUDIT_CHECKPOINT_SIGNING_KEY": str(tmp_path / "signing.pem"),
        "AUDIT_CHECKPOINT_VERIFY_KEY": str(tmp_path / "verify.pub"),
        "AUDIT_CHECKPOINT_BACKEND": "audit.checkpoints.JsonLinesStore",
        "AUDIT_CHECKPOINT_STORE": str(tmp_path / "audit-checkpoints.jsonl"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
        setattr(settings, name, value)
    return tmp_path / "audit-checkpoints.jsonl"


def test_the_checkpoint_job_signs_every_chain_head_on_a_real_worker(checkpoint_files, worker, open_request):
    """What beat sends every hour (jobs.checkpoint), run by a worker: the worker holds the
    signing key, the database does not; the checkpoint lands in the store outside it."""
    from io import StringIO

    from django.core.management import call_command

    from audit.checkpoints import store
    from audit.models import ChainHead
    from jobs.tasks import checkpoint

    _, lines = run_on(worker, checkpoint)
    assert lines[0].startswith("Audit checkpoint #1 signed at")
    entries = store().read()
    assert len(entries) == 1
    signed = {head["table"]: head for head in entries[0]["checkpoint"]["tables"]}
    assert signed.keys() == set(ChainHead.objects.values_list("table", flat=True))
    head = ChainHead.objects.get(table="numbers_historicaltransferrequest")
    assert (signed[head.table]["last_pk"], signed[head.table]["hash"]) == (head.last_pk, head.last_hash)
    out = StringIO()
    call_command("verify_audit", "--checkpoints", stdout=out)
    assert "Every table holds what 1 signed checkpoints say" in out.getvalue()
