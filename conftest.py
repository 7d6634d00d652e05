"""Shared test setup: personas, service gates and the browser.

REQUIRE_SERVICES=1 makes tests that need PostgreSQL or Redis fail when those are
missing instead of being left out; REQUIRE_BROWSER=1 does the same for Chromium.
Without them, such tests are deselected (services) or skipped (browser) so a
newcomer's `make test` runs on a bare machine.
"""

from __future__ import annotations

import os
import shutil
from io import StringIO

import pytest

pytest_plugins = ["tests.celery_worker"]  # the Celery worker fixture, for the audit and jobs tests

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def pytest_configure(config):
    _sqlite_migrations_skip_trigger_state()


def _sqlite_migrations_skip_trigger_state() -> None:
    """On SQLite, django-pgtrigger's AddTrigger/RemoveTrigger write nothing to the
    database, yet each re-renders its model and the models around it in the migration
    state: about half of the ~80 s of CPU that migrating the test database takes (and
    each migration test that goes back and forth). Here they only record the trigger in
    the model's state, which is all a later operation reads on SQLite (the rendered
    model picks it up on its next reload). PostgreSQL keeps pgtrigger's own: its schema
    editor reads the triggers of the rendered model."""
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3":
        return
    from pgtrigger import migrations

    def add_trigger_state(self, app_label, state):
        model_state = state.models[app_label, self.model_name_lower]
        model_state.options["triggers"] = [*model_state.options.get("triggers", []), self.trigger]

    def remove_trigger_state(self, app_label, state):
        model_state = state.models[app_label, self.model_name_lower]
        triggers = model_state.options.get("triggers", [])
        model_state.options["triggers"] = [trigger for trigger in triggers if trigger.name != self.name]

    migrations.AddTrigger.state_forwards = add_trigger_state
    migrations.RemoveTrigger.state_forwards = remove_trigger_state


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


def _database_is_postgresql() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Services gate tests (below); the demo's readers go last (``_demo_last``).
    Runs after pytest-django's grouping and pytest-randomly's shuffle."""
    _gate_services(config, items)
    _demo_last(items)


def _gate_services(config, items) -> None:
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


@pytest.fixture(scope="session")
def django_db_setup(request, django_test_environment, django_db_blocker, tmp_path_factory):
    """pytest-django's, but migrated once per run and copied to each worker
    (tests/template_db.py says why and how)."""
    from tests.template_db import cloned_test_database

    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if "PYTEST_XDIST_WORKER" in os.environ else base  # this run's, seen by every worker
    verbosity = request.config.option.verbose
    with django_db_blocker.unblock():
        teardown = cloned_test_database(shared=shared, worker=worker, verbosity=verbosity, populate=_seed_test_world)
    yield
    with django_db_blocker.unblock():
        teardown()


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
    settings.PASSWORD_HASHERS = FAST_PASSWORD_HASHERS


FAST_PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    # Still verifies a PBKDF2 hash a test makes on purpose under its own settings.
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


def _seed_migration_data() -> None:
    """What the data migrations write (the SLA presets, beat's default schedules),
    written again where a transactional test's flush emptied it."""
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    from complaints.models import SlaTable

    if not SlaTable.objects.filter(is_active=True).exists():
        importlib.import_module("complaints.migrations.0002_sla_presets").seed(apps, None)
    if not PeriodicTask.objects.exists():
        for migration in ("0001_default_schedules", "0002_audit_checkpoint_schedule"):
            importlib.import_module(f"jobs.migrations.{migration}").seed(apps, None)


def _seed_test_world() -> None:
    """The test database as every test starts on it: as migrated, with the personas
    (and their branches) made through the services, on the tests' fast hasher."""
    from django.test.utils import override_settings

    from staff.personas import ensure_personas

    _seed_migration_data()
    with override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS):
        ensure_personas()


@pytest.fixture(autouse=True, scope="session")
def _test_world_survives_a_flush():
    """A transactional test ends by emptying every table, the data migrations' rows
    and the personas included; Django's flush then sends post_migrate, and here that
    puts them back, so the next test on the worker, whatever the random order, finds
    the database as the run's template holds it (tests/template_db.py)."""
    from django.apps import apps
    from django.db.models.signals import post_migrate

    # Once per flush, after the last app's: every app's permissions are back by then.
    last = [config for config in apps.get_app_configs() if config.models_module][-1]

    def reseed(sender, **kwargs):
        if sender is last:
            _seed_test_world()

    post_migrate.connect(reseed, dispatch_uid="tests-reseed-migration-data")
    yield
    post_migrate.disconnect(dispatch_uid="tests-reseed-migration-data")


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


# --- The demo, seeded once --------------------------------------------------------

DEMO_SUBSCRIBERS = 20


@pytest.fixture(scope="session")
def seeded_demo(django_db_setup, django_db_blocker):
    """``seed_demo`` once for the session (once per xdist worker), in a transaction
    rolled back at its end; each test that asks for it runs in a savepoint of it, so
    it reads the demo and what it changes goes. Its value is what the command printed.

    The tests that ask for it run last (``pytest_collection_modifyitems`` below): a
    test running after them would otherwise find the demo there. By then a
    transactional test's flush may have emptied the data migrations' rows: they are
    put back first, as ``migrate`` leaves them for ``make demo``."""
    from django.core.management import call_command
    from django.db import transaction
    from django.test.utils import override_settings

    with django_db_blocker.unblock(), transaction.atomic():
        _seed_test_world()
        out = StringIO()
        with override_settings(DEBUG=True, PASSWORD_HASHERS=FAST_PASSWORD_HASHERS):
            call_command("seed_demo", subscribers=DEMO_SUBSCRIBERS, stdout=out)
        yield out.getvalue()
        transaction.set_rollback(True)


def _demo_last(items) -> None:
    """Tests that read the demo (``seeded_demo``) go last, in the order they had (after
    pytest-django's grouping and pytest-randomly's shuffle), so the demo's
    session-long transaction holds no other test. xdist hands each worker its tests
    in this order, so on each worker too they come last."""
    demo = [item for item in items if "seeded_demo" in getattr(item, "fixturenames", ())]
    for item in demo:
        if {"transactional_db", "live_server"} & set(item.fixturenames) or _is_transactional(item):
            raise pytest.UsageError(f"{item.nodeid}: a transactional test cannot read the session's demo")
    if demo:
        rest = [item for item in items if "seeded_demo" not in getattr(item, "fixturenames", ())]
        items[:] = rest + demo


def _is_transactional(item) -> bool:
    marker = item.get_closest_marker("django_db")
    return bool(marker and (marker.kwargs.get("transaction") or marker.kwargs.get("reset_sequences")))


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
    """The run's template database goes (tests/template_db.py); with NO_SKIPS=1 (set by
    .ci/run) a skipped test fails the run."""
    if not hasattr(session.config, "workerinput"):  # the run's first process, after every worker
        from pytest_django.plugin import blocking_manager_key

        from tests.template_db import drop_template

        with session.config.stash[blocking_manager_key].unblock():
            drop_template()
    if not _flag("NO_SKIPS"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(f"NO_SKIPS=1: {len(skipped)} test(s) skipped; every test must run in CI.", red=True)
        session.exitstatus = 1
