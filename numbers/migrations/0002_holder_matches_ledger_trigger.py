"""A database trigger: a number's holder can only become the subscriber of its open holding.

This is the rule the portal exists for, held where no code path can skip it: a raw
``UPDATE numbers_mobilenumber SET holder_id = ...`` fails unless the ledger already
says so. On SQLite, a later migration that rebuilds the numbers table drops this
trigger; tests/test_db_triggers.py fails if that ever happens.
"""

from django.db import migrations

POSTGRESQL_FORWARD = """
CREATE OR REPLACE FUNCTION numbers_holder_matches_ledger() RETURNS trigger AS $$
BEGIN
    IF NEW.holder_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM numbers_holding h
        WHERE h.number_id = NEW.id AND h.ended_at IS NULL AND h.subscriber_id = NEW.holder_id
    ) THEN
        RAISE EXCEPTION 'The holder of % must be the subscriber of its open holding.', NEW.msisdn
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF NEW.holder_id IS NULL AND EXISTS (
        SELECT 1 FROM numbers_holding h WHERE h.number_id = NEW.id AND h.ended_at IS NULL
    ) THEN
        RAISE EXCEPTION '% has an open holding: close it before clearing the holder.', NEW.msisdn
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER numbers_holder_matches_ledger
    BEFORE UPDATE OF holder_id ON numbers_mobilenumber
    FOR EACH ROW WHEN (NEW.holder_id IS DISTINCT FROM OLD.holder_id)
    EXECUTE FUNCTION numbers_holder_matches_ledger();
"""

POSTGRESQL_REVERSE = """
DROP TRIGGER IF EXISTS numbers_holder_matches_ledger ON numbers_mobilenumber;
DROP FUNCTION IF EXISTS numbers_holder_matches_ledger();
"""

SQLITE_FORWARD = """
CREATE TRIGGER numbers_holder_matches_ledger
    BEFORE UPDATE OF holder_id ON numbers_mobilenumber
    FOR EACH ROW WHEN NEW.holder_id IS NOT OLD.holder_id
BEGIN
    SELECT RAISE(ABORT, 'The holder of a number must be the subscriber of its open holding.')
    WHERE (NEW.holder_id IS NOT NULL AND NOT EXISTS (
              SELECT 1 FROM numbers_holding
              WHERE number_id = NEW.id AND ended_at IS NULL AND subscriber_id = NEW.holder_id))
       OR (NEW.holder_id IS NULL AND EXISTS (
              SELECT 1 FROM numbers_holding WHERE number_id = NEW.id AND ended_at IS NULL));
END;
"""

SQLITE_REVERSE = "DROP TRIGGER IF EXISTS numbers_holder_matches_ledger;"


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_FORWARD, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_FORWARD)


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_REVERSE, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("numbers", "0001_initial")]

    operations = [migrations.RunPython(forward, reverse)]
