"""Identity document numbers stop being readable: hash, last characters, sealed copy.

Subscribers: each row's ``id_document_number`` becomes ``id_document_hash`` (HMAC
with IDENTITY_HASH_KEY), ``id_document_last4`` and ``id_document_sealed`` (Fernet
with IDENTITY_ENCRYPTION_KEY), computed with the keys configured when this runs;
then the readable column is dropped.

History, and why its chain is re-sealed: every history row of a subscriber written
so far holds the document number in full, and the chain (audit/chain.py) hashes
each row's content, so the plaintext cannot be removed without the chain seeing it.
Keeping the plaintext to keep the old hashes would defeat the point of this change;
so the history rows are redacted to the same hash and last characters (nothing
else in them changes: who, when, why, the other fields) and the subscriber-history
chain is recomputed from its first row, with its head moved to the new last hash.
Only the ``numbers_historicalsubscriber`` chain is recomputed, only by this
migration, and only after it has verified that chain intact; a chain already
broken stops the migration rather than being laundered. The append-only trigger
(PostgreSQL) is lifted for this table inside this migration's transaction and put
back at its end, as 0010 installed it.

Backwards it runs only on an empty table: the readable numbers are gone by design.
"""

import django.db.models.deletion
import django.utils.timezone
import numbers.fields
import pgtrigger.compiler
import pgtrigger.migrations
import simple_history.models
from django.conf import settings
from django.db import migrations, models

TABLE = "numbers_historicalsubscriber"
APPEND_ONLY = pgtrigger.compiler.Trigger(
    name="append_only",
    sql=pgtrigger.compiler.UpsertTriggerSql(
        func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;",
        hash="c241cab50e6ab26773adc8327290fdc323036bfe",
        operation="UPDATE OR DELETE",
        pgid="pgtrigger_append_only_4cc22",
        table=TABLE,
        when="BEFORE",
    ),
)


def verify_history_chain(apps, schema_editor):
    """The chain as 0011 left it must verify before it is rewritten (no laundering).
    Runs before any column changes: a record's hash covers every column of its table."""
    from audit.chain import GENESIS
    from audit.chain import unkeyed_record_hash as record_hash  # the chain was not keyed yet (audit/0008)

    model = apps.get_model("numbers", "HistoricalSubscriber")
    head_model = apps.get_model("audit", "ChainHead")
    prev, last = GENESIS, None
    for record in model._base_manager.order_by("pk").iterator(chunk_size=2000):
        if record.prev_hash != prev or record_hash(prev, record) != record.record_hash:
            raise RuntimeError(
                f"{TABLE}: record {record.pk} does not verify; run verify_audit and resolve it before migrating."
            )
        prev, last = record.record_hash, record
    head = head_model.objects.filter(table=TABLE).first()
    if last is not None and (head is None or head.last_hash != prev):
        raise RuntimeError(f"{TABLE}: the chain head does not name its last record; run verify_audit first.")


def hash_documents(apps, schema_editor):
    from numbers.identity import document_hash, document_last4, seal_document

    Subscriber = apps.get_model("numbers", "Subscriber")
    for subscriber in Subscriber._base_manager.order_by("pk").iterator(chunk_size=2000):
        Subscriber._base_manager.filter(pk=subscriber.pk).update(
            id_document_hash=document_hash(subscriber.id_document_number),
            id_document_last4=document_last4(subscriber.id_document_number),
            id_document_sealed=seal_document(subscriber.id_document_number),
        )
    History = apps.get_model("numbers", "HistoricalSubscriber")
    for record in History._base_manager.order_by("pk").iterator(chunk_size=2000):
        History._base_manager.filter(pk=record.pk).update(
            id_document_hash=document_hash(record.id_document_number),
            id_document_last4=document_last4(record.id_document_number),
        )


def reseal_history(apps, schema_editor):
    from audit.chain import GENESIS
    from audit.chain import unkeyed_record_hash as record_hash  # the chain was not keyed yet (audit/0008)

    History = apps.get_model("numbers", "HistoricalSubscriber")
    head_model = apps.get_model("audit", "ChainHead")
    prev, last = GENESIS, None
    for record in History._base_manager.order_by("pk").iterator(chunk_size=2000):
        digest = record_hash(prev, record)
        History._base_manager.filter(pk=record.pk).update(prev_hash=prev, record_hash=digest)
        prev, last = digest, record
    if last is not None:
        head_model.objects.update_or_create(table=TABLE, defaults={"last_pk": str(last.pk), "last_hash": prev})


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0003_schedule_history"),
        ("numbers", "0013_sms_transfer_disputes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(verify_history_chain, migrations.RunPython.noop),
        pgtrigger.migrations.RemoveTrigger(model_name="historicalsubscriber", name="append_only"),
        migrations.AddField(
            model_name="subscriber",
            name="id_document_hash",
            field=models.CharField(
                default="", editable=False, max_length=64, verbose_name="identity document (keyed hash)"
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="subscriber",
            name="id_document_last4",
            field=models.CharField(
                default="", editable=False, max_length=4, verbose_name="identity document (last characters)"
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="subscriber",
            name="id_document_sealed",
            field=models.TextField(default="", editable=False, verbose_name="identity document (sealed)"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="historicalsubscriber",
            name="id_document_hash",
            field=models.CharField(
                default="", editable=False, max_length=64, verbose_name="identity document (keyed hash)"
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="historicalsubscriber",
            name="id_document_last4",
            field=models.CharField(
                default="", editable=False, max_length=4, verbose_name="identity document (last characters)"
            ),
            preserve_default=False,
        ),
        migrations.RunPython(hash_documents, migrations.RunPython.noop),
        migrations.RemoveConstraint(model_name="subscriber", name="subscriber_identity_document_unique"),
        migrations.RemoveConstraint(model_name="subscriber", name="subscriber_identity_document_present"),
        migrations.RemoveField(model_name="historicalsubscriber", name="id_document_number"),
        migrations.RemoveField(model_name="subscriber", name="id_document_number"),
        migrations.AddConstraint(
            model_name="subscriber",
            constraint=models.UniqueConstraint(
                fields=("id_document_type", "id_document_hash"),
                name="subscriber_identity_document_unique",
                violation_error_message="A subscriber with this identity document already exists.",
            ),
        ),
        migrations.AddConstraint(
            model_name="subscriber",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("id_document_hash", ""), _negated=True),
                    models.Q(("id_document_last4", ""), _negated=True),
                    models.Q(("id_document_sealed", ""), _negated=True),
                ),
                name="subscriber_identity_document_present",
            ),
        ),
        migrations.RunPython(reseal_history, migrations.RunPython.noop),
        pgtrigger.migrations.AddTrigger(model_name="historicalsubscriber", trigger=APPEND_ONLY),
        # Consented subscriber changes and the four-eyes compliance export.
        migrations.CreateModel(
            name='HistoricalIdentityExport',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('history_request_id', models.CharField(blank=True, db_index=True, default='', max_length=32)),
                ('prev_hash', models.CharField(default='', editable=False, max_length=64)),
                ('record_hash', models.CharField(default='', editable=False, max_length=64)),
                ('actor_label', models.CharField(blank=True, db_index=True, default='', max_length=150)),
                ('subscribers', models.JSONField(help_text='Ids of the subscribers whose documents are exported.')),
                ('state', models.CharField(choices=[('requested', 'Awaiting a second employee'), ('delivered', 'Approved and delivered once')], default='requested', max_length=12)),
                ('requested_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('request_reason', models.TextField()),
                ('approved_at', models.DateTimeField(blank=True, null=True)),
                ('approve_reason', models.TextField(blank=True)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.TextField(null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('approved_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('requested_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'historical identity export',
                'verbose_name_plural': 'historical identity exports',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='HistoricalSubscriberChangeRequest',
            fields=[
                ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                ('history_request_id', models.CharField(blank=True, db_index=True, default='', max_length=32)),
                ('prev_hash', models.CharField(default='', editable=False, max_length=64)),
                ('record_hash', models.CharField(default='', editable=False, max_length=64)),
                ('actor_label', models.CharField(blank=True, db_index=True, default='', max_length=150)),
                ('state', models.CharField(choices=[('awaiting_consent', "Awaiting the holder's code"), ('awaiting_approval', 'Awaiting a supervisor'), ('approved', 'Approved and applied'), ('rejected', 'Rejected or withdrawn')], default='awaiting_consent', max_length=20)),
                ('changed_fields', models.CharField(help_text="The subscriber's fields this request changes.", max_length=200)),
                ('new_full_name', models.CharField(blank=True, max_length=200)),
                ('new_document_type', models.CharField(blank=True, choices=[('national_id', 'National ID card'), ('passport', 'Passport'), ('residence_permit', 'Residence permit'), ('driving_licence', 'Driving licence')], max_length=20)),
                ('new_document_hash', models.CharField(blank=True, editable=False, max_length=64)),
                ('new_document_last4', models.CharField(blank=True, editable=False, max_length=4)),
                ('new_contact_msisdn', numbers.fields.MsisdnField(blank=True, max_length=16, verbose_name='new contact number')),
                ('new_alternate_msisdn', numbers.fields.MsisdnField(blank=True, max_length=16, verbose_name='new alternate contact number')),
                ('code_sent_to', numbers.fields.MsisdnField(help_text="The held number the holder's one-time code went to.", max_length=16)),
                ('code_hash', models.CharField(editable=False, max_length=128)),
                ('code_expires_at', models.DateTimeField()),
                ('code_attempts', models.PositiveSmallIntegerField(default=0)),
                ('consented_at', models.DateTimeField(blank=True, null=True)),
                ('requested_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('request_reason', models.TextField()),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('decision_reason', models.TextField(blank=True)),
                ('history_id', models.AutoField(primary_key=True, serialize=False)),
                ('history_date', models.DateTimeField(db_index=True)),
                ('history_change_reason', models.TextField(null=True)),
                ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                ('branch', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='numbers.branch')),
                ('decided_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('requested_by', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('subscriber', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='numbers.subscriber')),
            ],
            options={
                'verbose_name': 'historical subscriber change request',
                'verbose_name_plural': 'historical subscriber change requests',
                'ordering': ('-history_date', '-history_id'),
                'get_latest_by': ('history_date', 'history_id'),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name='IdentityExport',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('subscribers', models.JSONField(help_text='Ids of the subscribers whose documents are exported.')),
                ('state', models.CharField(choices=[('requested', 'Awaiting a second employee'), ('delivered', 'Approved and delivered once')], default='requested', max_length=12)),
                ('requested_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('request_reason', models.TextField()),
                ('approved_at', models.DateTimeField(blank=True, null=True)),
                ('approve_reason', models.TextField(blank=True)),
                ('approved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('requested_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-requested_at', '-id'],
                'permissions': [('export_identity', 'Request or approve a compliance export of identity documents')],
                'base_manager_name': 'objects',
            },
        ),
        migrations.CreateModel(
            name='SubscriberChangeRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('state', models.CharField(choices=[('awaiting_consent', "Awaiting the holder's code"), ('awaiting_approval', 'Awaiting a supervisor'), ('approved', 'Approved and applied'), ('rejected', 'Rejected or withdrawn')], default='awaiting_consent', max_length=20)),
                ('changed_fields', models.CharField(help_text="The subscriber's fields this request changes.", max_length=200)),
                ('new_full_name', models.CharField(blank=True, max_length=200)),
                ('new_document_type', models.CharField(blank=True, choices=[('national_id', 'National ID card'), ('passport', 'Passport'), ('residence_permit', 'Residence permit'), ('driving_licence', 'Driving licence')], max_length=20)),
                ('new_document_hash', models.CharField(blank=True, editable=False, max_length=64)),
                ('new_document_last4', models.CharField(blank=True, editable=False, max_length=4)),
                ('new_document_sealed', models.TextField(blank=True, editable=False)),
                ('new_contact_msisdn', numbers.fields.MsisdnField(blank=True, max_length=16, verbose_name='new contact number')),
                ('new_alternate_msisdn', numbers.fields.MsisdnField(blank=True, max_length=16, verbose_name='new alternate contact number')),
                ('code_sent_to', numbers.fields.MsisdnField(help_text="The held number the holder's one-time code went to.", max_length=16)),
                ('code_hash', models.CharField(editable=False, max_length=128)),
                ('code_expires_at', models.DateTimeField()),
                ('code_attempts', models.PositiveSmallIntegerField(default=0)),
                ('consented_at', models.DateTimeField(blank=True, null=True)),
                ('requested_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('request_reason', models.TextField()),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('decision_reason', models.TextField(blank=True)),
                ('branch', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='numbers.branch')),
                ('decided_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('requested_by', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('subscriber', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='change_requests', to='numbers.subscriber')),
            ],
            options={
                'ordering': ['-requested_at', '-id'],
                'base_manager_name': 'objects',
            },
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='historicalidentityexport',
            trigger=pgtrigger.compiler.Trigger(name='append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='1072bdfaefe8c0b373f64ee3a024339d4bf95aa6', operation='UPDATE OR DELETE', pgid='pgtrigger_append_only_01bc3', table='numbers_historicalidentityexport', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='historicalidentityexport',
            trigger=pgtrigger.compiler.Trigger(name='no_truncate', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'audit table % is append-only: it cannot be truncated', TG_TABLE_NAME;", hash='af35354481eb0c69de69487d880e1fab4b2e1385', level='STATEMENT', operation='TRUNCATE', pgid='pgtrigger_no_truncate_8e425', table='numbers_historicalidentityexport', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='historicalsubscriberchangerequest',
            trigger=pgtrigger.compiler.Trigger(name='append_only', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'pgtrigger: Cannot update or delete rows from % table', TG_TABLE_NAME;", hash='e612f0c05f6ac5e8b25622472af42508fe88a9be', operation='UPDATE OR DELETE', pgid='pgtrigger_append_only_bdaef', table='numbers_historicalsubscriberchangerequest', when='BEFORE')),
        ),
        pgtrigger.migrations.AddTrigger(
            model_name='historicalsubscriberchangerequest',
            trigger=pgtrigger.compiler.Trigger(name='no_truncate', sql=pgtrigger.compiler.UpsertTriggerSql(func="RAISE EXCEPTION 'audit table % is append-only: it cannot be truncated', TG_TABLE_NAME;", hash='b02429f23dea872a0b5776a803b2c11867c77eae', level='STATEMENT', operation='TRUNCATE', pgid='pgtrigger_no_truncate_c67d6', table='numbers_historicalsubscriberchangerequest', when='BEFORE')),
        ),
        migrations.AddConstraint(
            model_name='identityexport',
            constraint=models.CheckConstraint(condition=models.Q(('state__in', ['requested', 'delivered'])), name='identity_export_state_valid'),
        ),
        migrations.AddConstraint(
            model_name='identityexport',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('approved_by__isnull', True), ('state', 'requested')), models.Q(('approved_at__isnull', False), ('approved_by__isnull', False), ('state', 'delivered'), models.Q(('approved_by', models.F('requested_by')), _negated=True), models.Q(('approve_reason', ''), _negated=True)), _connector='OR'), name='identity_export_four_eyes'),
        ),
        migrations.AddConstraint(
            model_name='subscriberchangerequest',
            constraint=models.UniqueConstraint(condition=models.Q(('state__in', ('awaiting_consent', 'awaiting_approval'))), fields=('subscriber',), name='subscriber_change_one_open', violation_error_message='This subscriber already has an open change request.'),
        ),
        migrations.AddConstraint(
            model_name='subscriberchangerequest',
            constraint=models.CheckConstraint(condition=models.Q(('state__in', ['awaiting_consent', 'awaiting_approval', 'approved', 'rejected'])), name='subscriber_change_state_valid'),
        ),
        migrations.AddConstraint(
            model_name='subscriberchangerequest',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('state', 'approved'), _negated=True), models.Q(('consented_at__isnull', False), ('decided_by__isnull', False), models.Q(('decided_by', models.F('requested_by')), _negated=True)), _connector='OR'), name='subscriber_change_approved_by_another'),
        ),
        migrations.AddConstraint(
            model_name='subscriberchangerequest',
            constraint=models.CheckConstraint(condition=models.Q(('state__in', ('awaiting_consent', 'awaiting_approval')), models.Q(('decided_at__isnull', False), models.Q(('decision_reason', ''), _negated=True)), _connector='OR'), name='subscriber_change_decision_recorded'),
        ),
    ]
