"""The test database, migrated once per run and copied to each pytest-xdist worker.

Migrating takes most of a minute of CPU: the migration state re-renders the models
around the user model at each operation. With one migration per worker, every worker
paid it at the same moment at the start of a run (in CI, four at once on two cores).
Here the first worker to take the lock migrates a template; then each worker copies
it: PostgreSQL's ``CREATE DATABASE … TEMPLATE`` (Django's own ``clone_test_db``), or
SQLite's backup API from the template file into the worker's in-memory database.
The copy is the migrated database, seed rows and triggers included: nothing is
built another way than ``migrate`` builds it. The template also holds what every test
may ask for (the personas and their branches, made by ``populate`` through the
services, history and all), as Zulip's test database does: made once, not once a test.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

MARKER = "template-db"
# This worker's copy: the template (a database name on PostgreSQL, a file on SQLite),
# the worker's name and the verbosity, for restore_from_template.
_copy: dict[str, object] = {}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cloned_test_database(
    *, shared: Path, worker: str, verbosity: int, populate: Callable[[], None]
) -> Callable[[], None]:
    """Give this worker its copy of the run's migrated and populated template; return
    its teardown.

    ``shared`` is a folder of this run that every worker sees (and no other run)."""
    from django.db import connection

    original_name = connection.settings_dict["NAME"]
    with _locked(shared / f"{MARKER}.lock"):
        marker = shared / MARKER
        if not marker.exists():
            marker.write_text(_migrate_template(connection, shared, verbosity, populate))
        template = marker.read_text()
    _copy.update(template=template, worker=worker, verbosity=verbosity)
    _install(connection, template, worker, verbosity)

    def teardown() -> None:
        if connection.vendor != "postgresql":
            connection.creation.destroy_test_db(original_name, verbosity=verbosity, keepdb=False)
            return
        clone = connection.settings_dict["NAME"]
        _use(connection, original_name)
        _drop(connection, clone)

    return teardown


def _install(connection, template: str, worker: str, verbosity: int) -> None:
    """This worker's database, copied from the template (again, when restoring)."""
    if connection.vendor == "sqlite":
        _copy_into_memory(connection, template)
    else:
        _clone(connection, template, worker, verbosity)


def _drop(connection, name: str) -> None:
    """PostgreSQL: FORCE, so a connection a test left open (a live server's thread, a
    worker process) does not keep the database alive after the run."""
    with connection.creation._nodb_cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {connection.ops.quote_name(name)} WITH (FORCE)")


def _migrate_template(connection, shared: Path, verbosity: int, populate: Callable[[], None]) -> str:
    """Migrate the template as ``setup_databases`` would migrate a test database, then populate it."""
    from django.db import transaction

    test = connection.settings_dict["TEST"]
    configured = test.get("NAME")
    test["NAME"] = str(shared / "template.sqlite3") if connection.vendor == "sqlite" else template_name(connection)
    try:
        name = connection.creation.create_test_db(verbosity=verbosity, autoclobber=True, serialize=False)
        with transaction.atomic():
            populate()
    finally:
        test["NAME"] = configured
    connection.close()
    return name


def template_name(connection) -> str:
    """PostgreSQL's template: the test database's name, with ``_template``."""
    return f"{connection.creation._get_test_db_name()}_template"


def _use(connection, name: str) -> None:
    from django.conf import settings

    connection.close()
    settings.DATABASES[connection.alias]["NAME"] = name
    connection.settings_dict["NAME"] = name


def _clone(connection, template: str, worker: str, verbosity: int) -> None:
    """PostgreSQL: a database copied from the template, named after the worker (an
    earlier copy under that name, when restoring, goes first)."""
    _use(connection, template)
    clone = connection.creation.get_test_db_clone_settings(worker)["NAME"]
    _drop(connection, clone)
    connection.creation.clone_test_db(suffix=worker, verbosity=verbosity, keepdb=False)
    _use(connection, clone)


def _copy_into_memory(connection, template: str) -> None:
    """SQLite: the worker's shared-cache in-memory database, filled from the template file."""
    _use(connection, connection.creation._get_test_db_name())
    connection.ensure_connection()
    source = sqlite3.connect(template)
    try:
        source.backup(connection.connection)
    finally:
        source.close()


def restore_from_template() -> None:
    """Put this worker's database back as the run's template holds it: for a test
    that leaves it half-migrated on purpose (a migration refusing a broken chain),
    a copy costs a second where migrating forward costs most of a minute."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    _install(connection, _copy["template"], _copy["worker"], _copy["verbosity"])
    ContentType.objects.clear_cache()  # ids read from the database that was replaced


def drop_template() -> None:
    """At the end of the run (in the process that started the workers): PostgreSQL's
    template goes; SQLite's file goes with pytest's temporary folders."""
    from django.db import connection

    if connection.vendor == "postgresql":
        _drop(connection, template_name(connection))
