"""Withdrawal requests, the reinstatement holding reason, and two database triggers on
numbers_mobilenumber (PostgreSQL and SQLite):

- quarantine: a number cannot go from withdrawn or aging to available (or reserved)
  while a holding of it ended less than MIN_QUARANTINE_DAYS ago, counted on the
  database's own clock. The number of days is read from settings'
  NUMBER_LIFECYCLE["MIN_QUARANTINE_DAYS"] when this migration runs and baked into the
  trigger: changing the setting later does not change the trigger (write a migration).
- transfer lock: a held number cannot leave the held states while its holder's
  transfer lock stands (only its own consented lift ends a lock).

Changing holding_start_reason_valid rebuilds numbers_holding on SQLite, which drops
the triggers on that table: the holding triggers of numbers 0008 and complaints 0003
are created again here (SQLite only; PostgreSQL alters the table in place).
"""

import importlib

import django.db.models.deletion
import django.utils.timezone
import pgtrigger.compiler
import pgtrigger.migrations
import simple_history.models
from django.conf import settings
from django.db import migrations, models

HELD = "('active', 'suspended', 'blocked')"


def _postgresql_forward(days: int) -> str:
    return f"""
CREATE OR REPLACE FUNCTION numbers_quarantine_before_reuse() RETURNS trigger AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM numbers_holding h
        WHERE h.number_id = NEW.id AND h.ended_at > now() - interval '{days} days'
    ) THEN
        RAISE EXCEPTION '% is in quarantine: a holding of it ended less than {days} days ago.', NEW.msisdn
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER numbers_quarantine_before_reuse
    BEFORE UPDATE OF status ON numbers_mobilenumber
    FOR EACH ROW WHEN (OLD.status IN ('withdrawn', 'aging') AND NEW.status IN ('available', 'reserved'))
    EXECUTE FUNCTION numbers_quarantine_before_reuse();

CREATE OR REPLACE FUNCTION numbers_transfer_lock_keeps_number() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM numbers_transferlock l WHERE l.number_id = NEW.id AND l.lifted_at IS NULL) THEN
        RAISE EXCEPTION '% is locked against transfers by its holder: it cannot be withdrawn.', NEW.msisdn
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER numbers_transfer_lock_keeps_number
    BEFORE UPDATE OF status ON numbers_mobilenumber
    FOR EACH ROW WHEN (OLD.status IN {HELD} AND NEW.status NOT IN {HELD})
    EXECUTE FUNCTION numbers_transfer_lock_keeps_number();
"""


POSTGRESQL_REVERSE = """
DROP TRIGGER IF EXISTS numbers_quarantine_before_reuse ON numbers_mobilenumber;
DROP FUNCTION IF EXISTS numbers_quarantine_before_reuse();
DROP TRIGGER IF EXISTS numbers_transfer_lock_keeps_number ON numbers_mobilenumber;
DROP FUNCTION IF EXISTS numbers_transfer_lock_keeps_number();
"""


def _sqlite_forward(days: int) -> list[str]:
    return [
        f"""CREATE TRIGGER numbers_quarantine_before_reuse
    BEFORE UPDATE OF status ON numbers_mobilenumber
    FOR EACH ROW WHEN OLD.status IN ('withdrawn', 'aging') AND NEW.status IN ('available', 'reserved')
BEGIN
    SELECT RAISE(ABORT, 'The number is in quarantine: a holding of it ended less than {days} days ago.')
    WHERE EXISTS (
        SELECT 1 FROM numbers_holding h
        WHERE h.number_id = NEW.id AND h.ended_at > strftime('%Y-%m-%d %H:%M:%f', 'now', '-{days} days'));
END;""",
        f"""CREATE TRIGGER numbers_transfer_lock_keeps_number
    BEFORE UPDATE OF status ON numbers_mobilenumber
    FOR EACH ROW WHEN OLD.status IN {HELD} AND NEW.status NOT IN {HELD}
BEGIN
    SELECT RAISE(ABORT, 'The number is locked against transfers by its holder: it cannot be withdrawn.')
    WHERE EXISTS (SELECT 1 FROM numbers_transferlock l WHERE l.number_id = NEW.id AND l.lifted_at IS NULL);
END;""",
    ]


SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS numbers_quarantine_before_reuse;",
    "DROP TRIGGER IF EXISTS numbers_transfer_lock_keeps_number;",
]

_holder_trigger = importlib.import_module("numbers.migrations.0002_holder_matches_ledger_trigger")


def _drop_holder_trigger_on_sqlite(apps, schema_editor):
    """SQLite rebuilds numbers_holding below; a trigger naming it would break the rebuild (as in 0007)."""
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(_holder_trigger.SQLITE_REVERSE)


def _create_holder_trigger_on_sqlite(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(_holder_trigger.SQLITE_FORWARD)


# The holding triggers that the SQLite rebuild of numbers_holding dropped.
HOLDING_TRIGGER_MIGRATIONS = (
    "numbers.migrations.0008_transfer_holding_trigger",
    "complaints.migrations.0003_restoration_holding_trigger",
)


def _recreate_holding_triggers(schema_editor) -> None:
    for name in HOLDING_TRIGGER_MIGRATIONS:
        module = importlib.import_module(name)
        for statement in module.SQLITE_REVERSE + module.SQLITE_FORWARD:
            schema_editor.execute(statement)


def forward(apps, schema_editor):
    # Baked in now, on purpose: see the module docstring.
    days = int(settings.NUMBER_LIFECYCLE["MIN_QUARANTINE_DAYS"])
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(_postgresql_forward(days), params=None)
    elif vendor == "sqlite":
        _recreate_holding_triggers(schema_editor)
        for statement in _sqlite_forward(days):
            schema_editor.execute(statement, params=None)


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRESQL_REVERSE, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_REVERSE:
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ('numbers', '0011_lifecycle'),
        # Its SQLite holding trigger is re-created below, after the table rebuild.
        ('complaints', '0003_restoration_holding_trigger'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(_drop_holder_trigger_on_sqlite, _create_holder_trigger_on_sqlite),
        migrations.CreateModel(
            name='HistoricalWithdrawalRequest',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('history_request_id', models.CharField(blank=True, db_index=True, default='', max_length=32)),
                ('prev_hash', models.CharField(default='', editable=False, max_length=64)),
                ('record_hash', models.CharField(default='', editable=False, max_length=64)),
                ('actor_label', models.CharField(blank=True, db_index=True, default='', max_length=150)),
                ('ground', models.CharField(choices=[('holder_request', "The holder's own request (consent by code to the number)"), ('legal_order', 'A legal or fraud order (document attached)'), ('death', "The subscriber's death (evidence attached)")], max_length=20)),
                ('document', models.TextField(blank=True, help_text='Required for an order or a death.', max_length=100, verbose_name='order or evidence')),
                ('reason', models.TextField(verbose_name='stated reason')),
                ('state', models.CharField(choices=[('awaiting_consent', "Awaiting the holder's code"), ('awaiting_approval', 'Awaiting approval'), ('executed', 'Approved and withdrawn'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled')], max_length=20)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('holder_notified_at', models.DateTimeField(blank=True, null=True)),
                ('code_hash', models.CharField(blank=True, max_length=128)),
                ('code_expires_at', models.DateTimeField(blank=True, null=True)),
                ('code_attempts', models.PositiveSmallIntegerField(default=0)),
                ('codes_sent', models.PositiveSmallIntegerField(default=0)),
                ('holder_consented_at', models.DateTimeField(blank=True, null=True)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('decision_reason', models.TextField(blank=True)),
                ('closed_at', models.DateTimeField(blank=True, null=True)),
                ('close_reason', models.TextField(blank=True)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.TextField(null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
            ],
            options={
                'verbose_name': 'historical withdrawal request',
                'verbose_name_plural': 'historical withdrawal requests',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='WithdrawalRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('ground', models.CharField(choices=[('holder_request', "The holder's own request (consent by code to the number)"), ('legal_order', 'A legal or fraud order (document attached)'), ('death', "The subscriber's death (evidence attached)")], max_length=20)),
                ('document', models.FileField(blank=True, help_text='Required for an order or a death.', upload_to='withdrawals/%Y/%m/', verbose_name='order or evidence')),
                ('reason', models.TextField(verbose_name='stated reason')),
                ('state', models.CharField(choices=[('awaiting_consent', "Awaiting the holder's code"), ('awaiting_approval', 'Awaiting approval'), ('executed', 'Approved and withdrawn'), ('rejected', 'Rejected'), ('cancelled', 'Cancelled')], max_length=20)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('holder_notified_at', models.DateTimeField(blank=True, null=True)),
                ('code_hash', models.CharField(blank=True, max_length=128)),
                ('code_expires_at', models.DateTimeField(blank=True, null=True)),
                ('code_attempts', models.PositiveSmallIntegerField(default=0)),
                ('codes_sent', models.PositiveSmallIntegerField(default=0)),
                ('holder_consented_at', models.DateTimeField(blank=True, null=True)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('decision_reason', models.TextField(blank=True)),
                ('closed_at', models.DateTimeField(blank=True, null=True)),
                ('close_reason', models.TextField(blank=True)),
            ],
            options={
                'ordering': ['created_at', 'id'],
                'base_manager_name': 'objects',
            },
        ),
        migrations.RemoveConstraint(
            model_name='holding',
            name='holding_start_reason_valid',
        ),
        migrations.AlterField(
            model_name='historicalholding',
            name='start_reason',
            field=models.CharField(choices=[('sale', 'New sale'), ('transfer', 'Transfer (dual consent)'), ('restoration', 'Restoration to rightful holder'), ('reinstatement', 'Returned to its last holder during quarantine')], max_length=20),
        ),
        migrations.AlterField(
            model_name='holding',
            name='start_reason',
            field=models.CharField(choices=[('sale', 'New sale'), ('transfer', 'Transfer (dual consent)'), ('restoration', 'Restoration to rightful holder'), ('reinstatement', 'Returned to its last holder during quarantine')], max_length=20),
        ),
        migrations.AddConstraint(
            model_name='holding',
            constraint=models.CheckConstraint(condition=models.Q(('start_reason__in', ['sale', 'transfer', 'restoration', 'reinstatement'])), name='holding_start_reason_valid'),
        ),
        migrations.AddField(
            model_name='historicalwithdrawalrequest',
            name='branch',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='numbers.branch'),
        ),
        migrations.AddField(
            model_name='historicalwithdrawalrequest',
            name='closed_by',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='historicalwithdrawalrequest',
            name='decided_by',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='historicalwithdrawalrequest',
            name='history_user',
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='historicalwithdrawalrequest',
            name='holder',
            field=models.ForeignKey(blank=True, db_constraint=False, help_text='The holder when the request was made; approval re-checks it.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='numbers.subscriber'),
        ),
        migrations.AddField(
            model_name='historicalwithdrawalrequest',
            name='number',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='numbers.mobilenumber'),
        ),
        migrations.AddField(
            model_name='historicalwithdrawalrequest',
            name='requested_by',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='withdrawalrequest',
            name='branch',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='withdrawal_requests', to='numbers.branch'),
        ),
        migrations.AddField(
            model_name='withdrawalrequest',
            name='closed_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='withdrawalrequest',
            name='decided_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='withdrawalrequest',
            name='holder',
            field=models.ForeignKey(help_text='The holder when the request was made; approval re-checks it.', on_delete=django.db.models.deletion.PROTECT, related_name='withdrawal_requests', to='numbers.subscriber'),
        ),
        migrations.AddField(
            model_name='withdrawalrequest',
            name='number',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='withdrawal_requests', to='numbers.mobilenumber'),
        ),
        migrations.AddField(
            model_name='withdrawalrequest',
            name='requested_by',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='withdrawal_requests_made', to=settings.AUTH_USER_MODEL),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='historicalwithdrawalrequest',
            trigger=pgtrigger.compiler.Trigger(name='append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='ab0ccc497bfb1e12a9583072c4c12cae2354cb51', operation='UPDATE OR DELETE', pgid='pgtrigger_append_only_9366c', table='numbers_historicalwithdrawalrequest', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='historicalwithdrawalrequest',
            trigger=pgtrigger.compiler.Trigger(name='no_truncate', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'audit table % is append-only: it cannot be truncated', TG_TABLE_NAME;", hash='3f124e58973c87d4b26f3d09599f4b63024e6917', level='STATEMENT', operation='TRUNCATE', pgid='pgtrigger_no_truncate_70d68', table='numbers_historicalwithdrawalrequest', when='BEFORE')),
        ),
        migrations.AddIndex(
            model_name='withdrawalrequest',
            index=models.Index(fields=['state', 'branch', 'created_at'], name='withdrawal_queue_idx'),
        ),
        migrations.AddConstraint(
            model_name='withdrawalrequest',
            constraint=models.UniqueConstraint(condition=models.Q(('state__in', ('awaiting_consent', 'awaiting_approval'))), fields=('number',), name='withdrawal_one_open_per_number', violation_error_message='This number already has an open withdrawal request.'),
        ),
        migrations.AddConstraint(
            model_name='withdrawalrequest',
            constraint=models.CheckConstraint(condition=models.Q(('state__in', ['awaiting_consent', 'awaiting_approval', 'executed', 'rejected', 'cancelled'])), name='withdrawal_state_valid'),
        ),
        migrations.AddConstraint(
            model_name='withdrawalrequest',
            constraint=models.CheckConstraint(condition=models.Q(('ground__in', ['holder_request', 'legal_order', 'death'])), name='withdrawal_ground_valid'),
        ),
        migrations.AddConstraint(
            model_name='withdrawalrequest',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('ground__in', ('legal_order', 'death')), _negated=True), models.Q(('document', ''), _negated=True), _connector='OR'), name='withdrawal_document_attached', violation_error_message='A legal order or a death is withdrawn only with its document attached.'),
        ),
        migrations.AddConstraint(
            model_name='withdrawalrequest',
            constraint=models.CheckConstraint(condition=models.Q(('decided_by__isnull', True), models.Q(('decided_by', models.F('requested_by')), _negated=True), _connector='OR'), name='withdrawal_four_eyes', violation_error_message='The requester of a withdrawal cannot decide it.'),
        ),
        migrations.AddConstraint(
            model_name='withdrawalrequest',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('state', 'executed'), _negated=True), models.Q(('ground', 'holder_request'), _negated=True), ('holder_consented_at__isnull', False), _connector='OR'), name='withdrawal_holder_consented', violation_error_message="A withdrawal at the holder's request needs their consent by code."),
        ),
        migrations.AddConstraint(
            model_name='withdrawalrequest',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('state__in', ['executed', 'rejected']), _negated=True), models.Q(('decided_at__isnull', False), ('decided_by__isnull', False), models.Q(('decision_reason', ''), _negated=True)), _connector='OR'), name='withdrawal_decision_recorded'),
        ),
        migrations.AddConstraint(
            model_name='withdrawalrequest',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('state', 'cancelled'), _negated=True), models.Q(('closed_at__isnull', False), ('decided_by__isnull', True), models.Q(('close_reason', ''), _negated=True)), _connector='OR'), name='withdrawal_closure_recorded'),
        ),
        migrations.RunPython(_create_holder_trigger_on_sqlite, _drop_holder_trigger_on_sqlite),
        migrations.RunPython(forward, reverse),
    ]
