"""A database trigger: a holding opened by a transfer references an executed transfer
request for that number and that new subscriber.

The check constraint ``holding_transfer_has_request`` makes the reference
mandatory; this makes it truthful. Together with the holder trigger (0002), a
raw SQL write cannot hand an active number to someone without an approved request.
"""

from django.db import migrations

POSTGRESQL_FORWARD = """
CREATE OR REPLACE FUNCTION numbers_transfer_holding_approved() RETURNS trigger AS $$
BEGIN
    IF NEW.start_reason = 'transfer' AND NOT EXISTS (
        SELECT 1 FROM numbers_transferrequest t
        WHERE t.id = NEW.transfer_request_id AND t.state = 'executed'
          AND t.number_id = NEW.number_id AND t.to_subscriber_id = NEW.subscriber_id
    ) THEN
        RAISE EXCEPTION 'A holding opened by a transfer must reference an approved transfer request.'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER numbers_transfer_holding_approved
    BEFORE INSERT OR UPDATE OF start_reason, transfer_request_id, number_id, subscriber_id ON numbers_holding
    FOR EACH ROW EXECUTE FUNCTION numbers_transfer_holding_approved();
"""

POSTGRESQL_REVERSE = """
DROP TRIGGER IF EXISTS numbers_transfer_holding_approved ON numbers_holding;
DROP FUNCTION IF EXISTS numbers_transfer_holding_approved();
"""

_SQLITE_CHECK = """
BEGIN
    SELECT RAISE(ABORT, 'A holding opened by a transfer must reference an approved transfer request.')
    WHERE NEW.start_reason = 'transfer' AND NOT EXISTS (
        SELECT 1 FROM numbers_transferrequest t
        WHERE t.id = NEW.transfer_request_id AND t.state = 'executed'
          AND t.number_id = NEW.number_id AND t.to_subscriber_id = NEW.subscriber_id);
END;
"""

SQLITE_FORWARD = [
    "CREATE TRIGGER numbers_transfer_holding_approved_insert BEFORE INSERT ON numbers_holding FOR EACH ROW"
    + _SQLITE_CHECK,
    "CREATE TRIGGER numbers_transfer_holding_approved_update BEFORE UPDATE OF start_reason, transfer_request_id, "
    "number_id, subscriber_id ON numbers_holding FOR EACH ROW" + _SQLITE_CHECK,
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS numbers_transfer_holding_approved_insert;",
    "DROP TRIGGER IF EXISTS numbers_transfer_holding_approved_update;",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_REVERSE, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("numbers", "0007_transfers")]

    operations = [migrations.RunPython(forward, reverse)]
