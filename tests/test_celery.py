"""The Celery app: eager in process without a broker, a real worker over Redis with one."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery.backends.redis import RedisBackend
from celery.result import AsyncResult
from django.conf import settings

from backoffice.celery import app
from backoffice.tasks import ping

ROOT = Path(__file__).resolve().parent.parent


def _settings_in_subprocess(env: dict[str, str]) -> str:
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.CELERY_TASK_ALWAYS_EAGER, s.CELERY_BROKER_URL)"
    )
    env = {**env, "DJANGO_SETTINGS_MODULE": "backoffice.settings"}
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_without_a_broker_tasks_run_eagerly_in_process():
    env = {k: v for k, v in os.environ.items() if k != "CELERY_BROKER_URL"}
    assert _settings_in_subprocess(env) == "True memory://localhost/"
    with_broker = {**env, "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}
    assert _settings_in_subprocess(with_broker) == "False redis://127.0.0.1:6379/0"


def test_eager_task_runs_in_process(settings):
    app.conf.task_always_eager, previous = True, app.conf.task_always_eager
    try:
        assert ping.delay("demo").get(timeout=1) == "pong:demo"
    finally:
        app.conf.task_always_eager = previous


@pytest.fixture
def redis_worker():
    """A real worker process on the configured broker, results in Redis too.

    Tasks other tests queued (SMS deliveries after their commits) are purged first:
    this worker has no test database to run them against."""
    broker = os.environ["CELERY_BROKER_URL"]
    app.control.purge()
    env = {**os.environ, "CELERY_RESULT_BACKEND": broker}
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "celery", "-A", "backoffice", "worker", "--pool", "solo", "--loglevel", "WARNING"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


@pytest.mark.redis
def test_a_real_worker_answers_through_redis(redis_worker):
    assert settings.CELERY_TASK_ALWAYS_EAGER is False
    app.connection_for_write().ensure_connection(max_retries=3)
    started = time.monotonic()
    # The worker stores results in Redis; read them with a backend of our own.
    backend = RedisBackend(app=app, url=os.environ["CELERY_BROKER_URL"])
    result = AsyncResult(ping.delay("through-redis").id, app=app, backend=backend)
    try:
        assert result.get(timeout=60) == "pong:through-redis"
    except Exception:
        redis_worker.terminate()
        output = redis_worker.communicate(timeout=20)[0].decode(errors="replace")
        pytest.fail(f"worker did not answer within {time.monotonic() - started:.0f}s:\n{output[-3000:]}")
