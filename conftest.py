"""Shared test setup: personas, service gates and the browser.

REQUIRE_SERVICES=1 makes tests that need PostgreSQL or Redis fail when those are
missing instead of being left out; REQUIRE_BROWSER=1 does the same for Chromium.
Without them, such tests are deselected (services) or skipped (browser) so a
newcomer's `make test` runs on a bare machine.
"""

from __future__ import annotations

import os
import shutil

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


def _database_is_postgresql() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


def pytest_collection_modifyitems(config, items):
    require = _flag("REQUIRE_SERVICES")
    available = {"postgresql": _database_is_postgresql(), "redis": bool(os.environ.get("CELERY_BROKER_URL"))}
    keep, drop = [], []
    for item in items:
        missing = [name for name, ok in available.items() if item.get_closest_marker(name) and not ok]
        if not missing:
            keep.append(item)
        elif require:
            item.add_marker(
                pytest.mark.usefixtures("_fail_missing_service"),
            )
            item.user_properties.append(("missing_services", missing))
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
def _fail_missing_service(request):
    missing = dict(request.node.user_properties).get("missing_services", [])
    pytest.fail(
        f"REQUIRE_SERVICES=1 but this test needs {', '.join(missing)}: "
        "set DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://..."
    )


@pytest.fixture(autouse=True, scope="session")
def _flush_past_append_only_triggers():
    """A transactional test ends by emptying every table (TRUNCATE); on PostgreSQL the
    audit tables refuse TRUNCATE, whoever asks. The test database, and only it, is
    emptied with triggers off, as a DBA would. A no-op on SQLite."""
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        return original(self, ["SET LOCAL session_replication_role = replica", *sql_list])

    DatabaseOperations.execute_sql_flush = execute_sql_flush
    try:
        yield
    finally:
        DatabaseOperations.execute_sql_flush = original


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Evidence uploaded by a test (consent forms, document photos) goes to the test's
    own directory, never into the checkout's media/."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


# --- The test sign-in shortcut ------------------------------------------------


@pytest.fixture(autouse=True, scope="session")
def _force_login_passes_second_factor():
    """``client.force_login(user)`` skips the password, and here the second factor too:
    the session is marked verified (``django_otp.login``'s session key) with the user's
    authenticator, made as a TOTP device named "test" if they have none. Tests of the
    second factor itself sign in through the forms (staff/tests/test_twofactor.py)."""
    from django.test import Client

    original = Client.force_login

    def force_login(self, user, backend=None):
        from django_otp import DEVICE_ID_SESSION_KEY
        from django_otp.plugins.otp_totp.models import TOTPDevice

        original(self, user, backend)
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
        if device is None:
            device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        session = self.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()

    Client.force_login = force_login
    try:
        yield
    finally:
        Client.force_login = original


# --- Personas ---------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Every persona hashes a password; PBKDF2 costs ~0.3 s a user and no test here
    is about hashing strength (login and check_password work the same with MD5)."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        # Still verifies hashes made before the switch (module-scoped seeding).
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]


def _persona_fixture(username: str):
    @pytest.fixture
    def persona(db):
        from staff.personas import ensure_persona

        return ensure_persona(username)

    persona.__name__ = username
    return persona


admin_user = _persona_fixture("admin")
agent_a = _persona_fixture("agent_a")
agent_b = _persona_fixture("agent_b")
agent_c = _persona_fixture("agent_c")
supervisor_a = _persona_fixture("supervisor_a")
supervisor_a2 = _persona_fixture("supervisor_a2")
supervisor_b = _persona_fixture("supervisor_b")
handler_a = _persona_fixture("handler_a")
auditor = _persona_fixture("auditor")


@pytest.fixture
def branches(db):
    from staff.personas import ensure_branches

    return ensure_branches()


@pytest.fixture
def branch_a(branches):
    return branches["branch-a"]


@pytest.fixture
def branch_b(branches):
    return branches["branch-b"]


# --- A holder, a newcomer and the number between them ---------------------------


@pytest.fixture
def holder(db):
    from numbers.choices import IdentityDocumentType
    from tests.factories import SubscriberFactory

    return SubscriberFactory(
        full_name="Rightful Holder", id_document_type=IdentityDocumentType.NATIONAL_ID, id_document_number="N0123456"
    )


@pytest.fixture
def newcomer(db):
    from numbers.choices import IdentityDocumentType
    from tests.factories import SubscriberFactory

    return SubscriberFactory(
        full_name="New Subscriber", id_document_type=IdentityDocumentType.PASSPORT, id_document_number="P7654321"
    )


@pytest.fixture
def active(agent_a, branch_a, holder):
    """An active number of branch A held by ``holder``, sold by agent_a."""
    from numbers.choices import NumberStatus
    from tests.factories import number_in_state

    return number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=holder)


@pytest.fixture
def open_request(agent_a, active, newcomer):
    """Requested by agent_a; no consent yet."""
    from numbers import services

    return services.transfer_create(number=active, new_subscriber=newcomer, actor=agent_a, reason="sold to a friend")


@pytest.fixture
def sla_presets(db):
    """The SLA presets as migration complaints 0002 seeds them. A transactional test's
    flush empties every table, the migrations' seed data included (serialized_rollback
    cannot bring it back: the role groups made on post_migrate collide), so
    transactional tests that take complaints in ask for this."""
    import importlib

    from django.apps import apps

    from complaints.models import SlaTable

    if not SlaTable.objects.filter(is_active=True).exists():
        importlib.import_module("complaints.migrations.0002_sla_presets").seed(apps, None)
    return SlaTable.objects.get(is_active=True)


# --- Jobs and delivery ------------------------------------------------------------


@pytest.fixture
def eager():
    """Tasks run in process at .delay(), also where a broker is configured: for
    tests of what happens after commit, not of the broker (tests marked redis)."""
    from backoffice.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


@pytest.fixture
def locmem_sms(settings):
    """The in-memory SMS gateway: what was handed over, and failures on demand."""
    from sms.backends.locmem import LocmemBackend

    settings.SMS_BACKEND = "sms.backends.locmem.LocmemBackend"
    LocmemBackend.sent = []
    LocmemBackend.fail_next = 0
    yield LocmemBackend
    LocmemBackend.sent = []
    LocmemBackend.fail_next = 0


@pytest.fixture
def handset(settings, tmp_path):
    """The development phone as the gateway: a test reads a one-time code as the
    holder's handset shows it (tests.helpers.code_sent_to), never from the outbox."""
    settings.SMS_BACKEND = "sms.backends.devphone.DevPhoneBackend"
    settings.SMS_DEV_PHONE_FILE = tmp_path / "dev-phone.jsonl"
    return settings.SMS_DEV_PHONE_FILE


# --- Browser ----------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's Chromium: Playwright's own browser download cannot work here."""
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if _flag("REQUIRE_BROWSER"):
            pytest.fail(f"REQUIRE_BROWSER=1: {message}")
        pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    }


# --- CI: no skips -------------------------------------------------------------


def pytest_sessionfinish(session, exitstatus):
    """With NO_SKIPS=1 (set by .ci/run) a skipped test fails the run."""
    if not _flag("NO_SKIPS"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"NO_SKIPS=1: {len(skipped)} test(s) skipped; every test must run in CI.", red=True)
        session.exitstatus = 1
