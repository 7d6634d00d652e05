"""The Celery worker fixture (a real worker process over Redis) and ``run_on``, for every app's tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from celery.backends.redis import RedisBackend
from celery.result import AsyncResult

# Loaded with the root conftest (its pytest_plugins): like the conftest, this imports the
# project's modules inside the functions that use them.


@pytest.fixture
def worker():
    """A real worker process on the configured broker and the test database; results in Redis.

    Tasks other tests queued (SMS deliveries after their commits) are purged first."""
    from audit.tests.chain_helpers import ROOT, database_url
    from backoffice.celery import app

    broker = os.environ["CELERY_BROKER_URL"]
    app.control.purge()
    env = {**os.environ, "CELERY_RESULT_BACKEND": broker, "DATABASE_URL": database_url()}
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "--pool", "solo", "--loglevel", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def run_on(worker, task) -> tuple[str, object]:
    """Send ``task`` through Redis, wait for the worker's answer; return its id and result."""
    from backoffice.celery import app

    backend = RedisBackend(app=app, url=os.environ["CELERY_BROKER_URL"])
    started = time.monotonic()
    result = AsyncResult(task.delay().id, app=app, backend=backend)
    try:
        return result.id, result.get(timeout=60)
    except Exception:
        worker.terminate()
        output = worker.communicate(timeout=20)[0].decode(errors="replace")
        pytest.fail(f"worker did not answer within {time.monotonic() - started:.0f}s:\n{output[-3000:]}")
