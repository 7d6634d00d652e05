"""Database triggers: the ledger refuses a hand-over by raw SQL.

1. A new holding for a number whose last holding ended less than the minimum
   quarantine before it starts goes to that same subscriber (they get it back), or
   is opened by an executed transfer request for that number and subscriber, or
   by a restoration (which complaints' trigger, complaints 0003, requires to be an
   executed restoration for that number and subscriber). Closing the open
   holding, inserting a ``sale`` holding for somebody else and setting
   ``holder_id`` is refused at the INSERT.
2. A holding's number, subscriber, start and start reason never change after it
   is written, and its end is written once: rewriting a history of who held what
   is refused at the UPDATE.

The minimum quarantine is ``settings.NUMBER_LIFECYCLE["MIN_QUARANTINE_DAYS"]`` as it
was when this migration ran: it is baked into the trigger's SQL. Changing the
setting later changes the services, not the database: a new migration re-creates
these triggers with the new value.

What a trigger cannot see is a DBA who turns triggers off (``session_replication_role
= replica``) or back-dates the end of the holding they close: ``verify_audit`` then
names the number, as every holding and every end of one has its history record
written by a service (audit.ledger).
"""

from django.conf import settings
from django.db import migrations

MIN_QUARANTINE_DAYS = int(settings.NUMBER_LIFECYCLE["MIN_QUARANTINE_DAYS"])

QUARANTINE_MESSAGE = (
    "A number whose last holding ended less than the minimum quarantine ago goes back to that holder, "
    "or to another subscriber only by an approved transfer or restoration."
)
FIXED_MESSAGE = "The number, subscriber, start and start reason of a holding never change; its end is written once."

_EXECUTED_TRANSFER = """
    NEW.start_reason = 'transfer' AND EXISTS (
        SELECT 1 FROM numbers_transferrequest t
        WHERE t.id = NEW.transfer_request_id AND t.state = 'executed'
          AND t.number_id = NEW.number_id AND t.to_subscriber_id = NEW.subscriber_id)
"""

POSTGRESQL_FORWARD = f"""
CREATE OR REPLACE FUNCTION numbers_holding_after_quarantine() RETURNS trigger AS $$
DECLARE
    last_subscriber bigint;
    last_end timestamptz;
BEGIN
    SELECT h.subscriber_id, h.ended_at INTO last_subscriber, last_end
    FROM numbers_holding h
    WHERE h.number_id = NEW.number_id AND h.ended_at IS NOT NULL
    ORDER BY h.ended_at DESC, h.id DESC
    LIMIT 1;
    -- {MIN_QUARANTINE_DAYS} days: settings.NUMBER_LIFECYCLE["MIN_QUARANTINE_DAYS"] when the migration ran.
    IF last_end IS NOT NULL
       AND NEW.started_at < last_end + interval '{MIN_QUARANTINE_DAYS} days'
       AND NEW.subscriber_id <> last_subscriber
       AND NEW.start_reason <> 'restoration'
       AND NOT ({_EXECUTED_TRANSFER}) THEN
        RAISE EXCEPTION '{QUARANTINE_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER numbers_holding_after_quarantine
    BEFORE INSERT ON numbers_holding
    FOR EACH ROW EXECUTE FUNCTION numbers_holding_after_quarantine();

CREATE OR REPLACE FUNCTION numbers_holding_fixed() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '{FIXED_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER numbers_holding_fixed
    BEFORE UPDATE ON numbers_holding
    FOR EACH ROW WHEN (
        NEW.number_id IS DISTINCT FROM OLD.number_id
        OR NEW.subscriber_id IS DISTINCT FROM OLD.subscriber_id
        OR NEW.started_at IS DISTINCT FROM OLD.started_at
        OR NEW.start_reason IS DISTINCT FROM OLD.start_reason
        OR (OLD.ended_at IS NOT NULL AND NEW.ended_at IS DISTINCT FROM OLD.ended_at))
    EXECUTE FUNCTION numbers_holding_fixed();
"""

POSTGRESQL_REVERSE = """
DROP TRIGGER IF EXISTS numbers_holding_after_quarantine ON numbers_holding;
DROP FUNCTION IF EXISTS numbers_holding_after_quarantine();
DROP TRIGGER IF EXISTS numbers_holding_fixed ON numbers_holding;
DROP FUNCTION IF EXISTS numbers_holding_fixed();
"""

SQLITE_FORWARD = [
    # {MIN_QUARANTINE_DAYS} days: settings.NUMBER_LIFECYCLE["MIN_QUARANTINE_DAYS"] when the migration ran.
    f"""
CREATE TRIGGER numbers_holding_after_quarantine BEFORE INSERT ON numbers_holding FOR EACH ROW
BEGIN
    SELECT RAISE(ABORT, '{QUARANTINE_MESSAGE}')
    FROM (SELECT h.subscriber_id, h.ended_at FROM numbers_holding h
          WHERE h.number_id = NEW.number_id AND h.ended_at IS NOT NULL
          ORDER BY h.ended_at DESC, h.id DESC LIMIT 1) AS last
    WHERE julianday(NEW.started_at) - julianday(last.ended_at) < {MIN_QUARANTINE_DAYS}
      AND NEW.subscriber_id <> last.subscriber_id
      AND NEW.start_reason <> 'restoration'
      AND NOT ({_EXECUTED_TRANSFER});
END;
""",
    f"""
CREATE TRIGGER numbers_holding_fixed BEFORE UPDATE ON numbers_holding FOR EACH ROW
WHEN NEW.number_id IS NOT OLD.number_id
  OR NEW.subscriber_id IS NOT OLD.subscriber_id
  OR NEW.started_at IS NOT OLD.started_at
  OR NEW.start_reason IS NOT OLD.start_reason
  OR (OLD.ended_at IS NOT NULL AND NEW.ended_at IS NOT OLD.ended_at)
BEGIN
    SELECT RAISE(ABORT, '{FIXED_MESSAGE}');
END;
""",
]

SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS numbers_holding_after_quarantine;",
    "DROP TRIGGER IF EXISTS numbers_holding_fixed;",
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
    dependencies = [("numbers", "0015_consent_second_check")]

    operations = [migrations.RunPython(forward, reverse)]
