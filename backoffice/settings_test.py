"""Settings of the test suite (pyproject's DJANGO_SETTINGS_MODULE), `make benchmark`
and `make migrations-check`: the production settings, DEBUG off, with throwaway keys
of their own and served over plain HTTP.

The only place test keys live. They are put in the environment before
backoffice.settings reads it (pytest-django loads settings before any conftest.py),
so processes a test starts (manage.py, a Celery worker) get them too. A variable
already set wins. Never use these keys anywhere else: they are public.
"""

import os

TEST_KEYS = {
    "DJANGO_SECRET_KEY": "test-only-secret-key-published-in-the-repository-0123456789",
    "IDENTITY_HASH_KEY": "test-only-identity-hash-key-published-0123456789",
    "IDENTITY_ENCRYPTION_KEY": "dGVzdC1vbmx5LWlkZW50aXR5LXNlYWxpbmcta2V5ISE=",  # base64 of 32 bytes
    "SMS_SEAL_KEY": "test-only-sms-seal-key-published-0123456789",
    "AUDIT_CHAIN_KEY": "test-only-audit-chain-key-published-0123456789",
}
for _name, _value in TEST_KEYS.items():
    os.environ.setdefault(_name, _value)

from backoffice.settings import *  # noqa: E402, F403
from backoffice.settings import DATABASES  # noqa: E402 - named, for the PostgreSQL options below

# Django's live server and test client speak plain HTTP: no redirect to HTTPS, no
# HSTS, cookies sent without TLS. The production defaults are tested by running
# `manage.py check --deploy` on backoffice.settings (backoffice/tests/test_settings.py).
SECURE_SSL_REDIRECT = False
SECURE_HSTS_SECONDS = 0
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False

# pytest-xdist runs the suite in several processes (gw0, gw1, ...) that share one Redis:
# each sends its tasks to a queue of its own, so a real worker started by one test
# process never takes (or purges) another's. A worker a test starts inherits the
# variable and listens on the same queue. Unset outside xdist: Celery's default queue.
if _xdist_worker := os.environ.get("PYTEST_XDIST_WORKER"):
    CELERY_TASK_DEFAULT_QUEUE = f"celery-{_xdist_worker}"

# PostgreSQL: the test database is thrown away, so a commit need not wait for its WAL
# to reach the disk (synchronous_commit=off: a crash may lose the last commits, never
# corrupts). Migrating the test database, each transactional test's commits and its
# flush (TRUNCATE of every table) are commits. Per connection, for this database only.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    _options = DATABASES["default"]["OPTIONS"]
    _options["options"] = f"{_options.get('options', '')} -c synchronous_commit=off".strip()
