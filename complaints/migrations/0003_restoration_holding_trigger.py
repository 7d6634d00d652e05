"""A database trigger: a holding opened by a restoration needs an executed
restoration for that number and that subscriber which has not opened one yet.

With the holder trigger (numbers 0002) and the transfer trigger (numbers 0008),
no raw SQL can hand a number to anyone except by a sale, an approved transfer or
an approved restoration.
"""

from django.db import migrations

CHECK = """
    NEW.start_reason = 'restoration' AND NOT EXISTS (
        SELECT 1 FROM complaints_restoration r
        WHERE r.number_id = NEW.number_id AND r.to_subscriber_id = NEW.subscriber_id
          AND r.state = 'executed' AND r.opened_holding_id IS NULL)
"""
MESSAGE = "A holding opened by a restoration must follow an approved restoration."

POSTGRESQL_FORWARD = f"""
CREATE OR REPLACE FUNCTION complaints_restoration_holding_approved() RETURNS trigger AS $$
BEGIN
    IF {CHECK} THEN
        RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER complaints_restoration_holding_approved
    BEFORE INSERT OR UPDATE OF start_reason, number_id, subscriber_id ON numbers_holding
    FOR EACH ROW EXECUTE FUNCTION complaints_restoration_holding_approved();
"""

POSTGRESQL_REVERSE = """
DROP TRIGGER IF EXISTS complaints_restoration_holding_approved ON numbers_holding;
DROP FUNCTION IF EXISTS complaints_restoration_holding_approved();
"""

_SQLITE_CHECK = f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}') WHERE {CHECK}; END;"

SQLITE_FORWARD = [
    "CREATE TRIGGER complaints_restoration_holding_insert BEFORE INSERT ON numbers_holding FOR EACH ROW "
    + _SQLITE_CHECK,
    "CREATE TRIGGER complaints_restoration_holding_update BEFORE UPDATE OF start_reason, number_id, subscriber_id "
    "ON numbers_holding FOR EACH ROW " + _SQLITE_CHECK,
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS complaints_restoration_holding_insert;",
    "DROP TRIGGER IF EXISTS complaints_restoration_holding_update;",
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
    dependencies = [("complaints", "0002_sla_presets"), ("numbers", "0009_transfer_list_indexes")]

    operations = [migrations.RunPython(forward, reverse)]
