"""Migration helpers: chain the history rows written before the chain existed, and
re-link every chain with the keyed hash (audit/0008)."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db.migrations import RunPython


def seal_existing(app_label: str) -> RunPython:
    """Chain an app's existing history rows in key order (runs before the append-only triggers).

    With the unkeyed hash of the time: audit/0008 verifies and re-keys what this wrote.
    """

    def run(apps, schema_editor):
        from audit.chain import GENESIS
        from audit.chain import unkeyed_record_hash as record_hash

        head_model = apps.get_model("audit", "ChainHead")
        for model in apps.get_app_config(app_label).get_models():
            names = {field.name for field in model._meta.fields}
            table = model._meta.db_table
            if not {"prev_hash", "record_hash"} <= names or head_model.objects.filter(table=table).exists():
                continue
            prev, last = GENESIS, None
            for record in model._base_manager.order_by("pk").iterator(chunk_size=2000):
                digest = record_hash(prev, record)
                model._base_manager.filter(pk=record.pk).update(prev_hash=prev, record_hash=digest)
                prev, last = digest, record
            if last is not None:
                head_model.objects.create(table=table, last_pk=str(last.pk), last_hash=prev)

    return RunPython(run, RunPython.noop)


@contextmanager
def triggers_off(schema_editor, table: str) -> Iterator[None]:
    """Lift a table's own triggers (the append-only guard) for the migration's transaction,
    as its owner may (ALTER TABLE ... DISABLE TRIGGER), and put each back as it was.

    Not ``session_replication_role`` (superusers only) nor ``pgtrigger.ignore`` (the
    application's role must not be able to use it); SQLite's audit tables have no triggers.
    """
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        yield
        return
    quoted = schema_editor.quote_name(table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal "
            "AND tgenabled <> 'D'",
            [quoted],
        )
        enabled = cursor.fetchall()
        for name, _ in enabled:
            cursor.execute(f"ALTER TABLE {quoted} DISABLE TRIGGER {schema_editor.quote_name(name)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for name, mode in enabled:
                how = {"A": "ENABLE ALWAYS", "R": "ENABLE REPLICA"}.get(mode, "ENABLE")
                cursor.execute(f"ALTER TABLE {quoted} {how} TRIGGER {schema_editor.quote_name(name)}")


def _chained_tables(apps) -> Iterator[type]:
    """The chained models as the migration state has them, each knowing its ``added_later``
    fields from the real model (the state's models do not carry that attribute)."""
    from django.apps import apps as registry

    real = {model._meta.db_table: model for model in registry.get_models()}
    for model in apps.get_models():
        if {"prev_hash", "record_hash"} <= {field.name for field in model._meta.fields}:
            model.chain_added_later = getattr(real.get(model._meta.db_table), "chain_added_later", frozenset())
            yield model


def _first_break(model, head, link: Callable) -> str | None:
    """Where the table's chain, computed with ``link``, stops verifying (None if it verifies)."""
    from audit.chain import GENESIS

    prev, last = GENESIS, None
    for record in model._base_manager.order_by("pk").iterator(chunk_size=2000):
        if record.prev_hash != prev or link(prev, record) != record.record_hash:
            return f"record {record.pk} does not verify"
        prev, last = record.record_hash, record
    if last is None:
        return f"the head names record {head.last_pk}, but the table is empty" if head else None
    if head is None or (head.last_pk, head.last_hash) != (str(last.pk), last.record_hash):
        return f"the chain head does not name its last record {last.pk}"
    return None


def relink_chains(*, old: Callable, new: Callable, old_name: str, new_name: str) -> Callable:
    """A RunPython function: verify every chain with ``old`` and re-link it with ``new``.

    A chain that does not verify stops the migration (re-linking it would launder the
    tampering); one that already verifies with ``new`` is left alone.
    """

    def run(apps, schema_editor):
        from audit.chain import GENESIS

        head_model = apps.get_model("audit", "ChainHead")
        for model in _chained_tables(apps):
            table = model._meta.db_table
            head = head_model.objects.filter(table=table).first()
            problem = _first_break(model, head, old)
            if problem is None and head is None:
                continue  # empty
            if problem is not None:
                if _first_break(model, head, new) is None:
                    continue  # already linked with the new hash
                raise RuntimeError(
                    f"{table}: {problem} with the {old_name} hash, so its chain is not re-linked with the "
                    f"{new_name} one (that would launder the tampering). Run verify_audit with the previous "
                    "release, resolve the break, then migrate again."
                )
            with triggers_off(schema_editor, table):
                prev, batch = GENESIS, []
                for record in model._base_manager.order_by("pk").iterator(chunk_size=2000):
                    record.prev_hash, record.record_hash = prev, new(prev, record)
                    prev = record.record_hash
                    batch.append(record)
                    if len(batch) >= 500:
                        model._base_manager.bulk_update(batch, ["prev_hash", "record_hash"])
                        batch = []
                if batch:
                    model._base_manager.bulk_update(batch, ["prev_hash", "record_hash"])
            head_model.objects.filter(table=table).update(last_hash=prev)

    return run
