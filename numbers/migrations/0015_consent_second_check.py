"""The holder's consent needs a factor staff cannot produce alone (issue 13).

Consents gain a document photo and a second employee's confirmation; requests gain a
first approval for the two-supervisor rule; check constraints hold both. A trigger
on the ledger (PostgreSQL and SQLite) refuses a holding opened by a transfer whose
holder's consent was neither the code sent to the number nor confirmed by someone
other than the requester, or whose two consents one employee captured alone.
"""

from importlib import import_module

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# SQLite re-makes numbers_transferrequest to add columns with defaults; the holding
# trigger of 0008 names that table, so it is dropped around the re-make and put back.
_holding_trigger = import_module("numbers.migrations.0008_transfer_holding_trigger")


def _sqlite_only(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "sqlite":
            for statement in statements:
                schema_editor.execute(statement)

    return run


DROP_HOLDING_TRIGGER = migrations.RunPython(
    _sqlite_only(_holding_trigger.SQLITE_REVERSE), _sqlite_only(_holding_trigger.SQLITE_FORWARD)
)
RESTORE_HOLDING_TRIGGER = migrations.RunPython(
    _sqlite_only(_holding_trigger.SQLITE_FORWARD), _sqlite_only(_holding_trigger.SQLITE_REVERSE)
)

# The refusal, in SQL both databases read: the request's holder consent (not revoked)
# is the code, or was confirmed by someone other than the requester; and, unless it is
# the code, the new subscriber's consent was captured by someone else.
_REFUSED_WHEN = """
NEW.start_reason = 'transfer' AND (
    NOT EXISTS (
        SELECT 1 FROM numbers_transferconsent c
        JOIN numbers_transferrequest t ON t.id = c.request_id
        WHERE c.request_id = NEW.transfer_request_id AND c.party = 'current_holder' AND c.revoked_at IS NULL
          AND (c.method = 'sms_code' OR (c.confirmed_by_id IS NOT NULL AND c.confirmed_by_id <> t.requested_by_id)))
    OR EXISTS (
        SELECT 1 FROM numbers_transferconsent h
        JOIN numbers_transferconsent n ON n.request_id = h.request_id
        WHERE h.request_id = NEW.transfer_request_id AND h.party = 'current_holder' AND n.party = 'new_subscriber'
          AND h.revoked_at IS NULL AND n.revoked_at IS NULL AND h.method <> 'sms_code'
          AND h.captured_by_id = n.captured_by_id))
"""
_MESSAGE = "A transfer needs the holder''s consent by the code to the number or confirmed by a second employee."

POSTGRESQL_FORWARD = f"""
CREATE OR REPLACE FUNCTION numbers_transfer_holder_factor() RETURNS trigger AS $$
BEGIN
    IF {_REFUSED_WHEN} THEN
        RAISE EXCEPTION '{_MESSAGE}' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER numbers_transfer_holder_factor
    BEFORE INSERT OR UPDATE OF start_reason, transfer_request_id ON numbers_holding
    FOR EACH ROW EXECUTE FUNCTION numbers_transfer_holder_factor();
"""
POSTGRESQL_REVERSE = """
DROP TRIGGER IF EXISTS numbers_transfer_holder_factor ON numbers_holding;
DROP FUNCTION IF EXISTS numbers_transfer_holder_factor();
"""
_SQLITE_BODY = f" FOR EACH ROW BEGIN SELECT RAISE(ABORT, '{_MESSAGE}') WHERE {_REFUSED_WHEN}; END;"
SQLITE_FORWARD = [
    "CREATE TRIGGER numbers_transfer_holder_factor_insert BEFORE INSERT ON numbers_holding" + _SQLITE_BODY,
    "CREATE TRIGGER numbers_transfer_holder_factor_update BEFORE UPDATE OF start_reason, transfer_request_id "
    "ON numbers_holding" + _SQLITE_BODY,
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS numbers_transfer_holder_factor_insert;",
    "DROP TRIGGER IF EXISTS numbers_transfer_holder_factor_update;",
]


def _holder_factor(forward: bool):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(POSTGRESQL_FORWARD if forward else POSTGRESQL_REVERSE, params=None)
        elif vendor == "sqlite":
            for statement in SQLITE_FORWARD if forward else SQLITE_REVERSE:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("numbers", "0014_identity_sealed_documents"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        DROP_HOLDING_TRIGGER,
        migrations.AddField(
            model_name="historicaltransferconsent",
            name="confirmed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="historicaltransferconsent",
            name="confirmed_by",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                help_text="The second employee of the branch who confirmed the check of the holder's consent.",
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="historicaltransferconsent",
            name="document_photo",
            field=models.TextField(
                blank=True,
                help_text="Evidence of an in-person check of the holder; opened only by reviewers.",
                max_length=100,
                verbose_name="photo of the document shown",
            ),
        ),
        migrations.AddField(
            model_name="historicaltransferrequest",
            name="first_approval_reason",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="historicaltransferrequest",
            name="first_approved_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="historicaltransferrequest",
            name="first_approved_by",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="historicaltransferrequest",
            name="second_approval_required",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="transferconsent",
            name="confirmed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="transferconsent",
            name="confirmed_by",
            field=models.ForeignKey(
                blank=True,
                help_text="The second employee of the branch who confirmed the check of the holder's consent.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="transferconsent",
            name="document_photo",
            field=models.FileField(
                blank=True,
                help_text="Evidence of an in-person check of the holder; opened only by reviewers.",
                upload_to="consent-evidence/%Y/%m/",
                verbose_name="photo of the document shown",
            ),
        ),
        migrations.AddField(
            model_name="transferrequest",
            name="first_approval_reason",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="transferrequest",
            name="first_approved_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="transferrequest",
            name="first_approved_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="transferrequest",
            name="second_approval_required",
            field=models.BooleanField(default=False),
        ),
        migrations.AddConstraint(
            model_name="transferconsent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("confirmed_at__isnull", True), ("confirmed_by__isnull", True)),
                    models.Q(("confirmed_at__isnull", False), ("confirmed_by__isnull", False)),
                    _connector="OR",
                ),
                name="consent_confirmation_recorded",
            ),
        ),
        migrations.AddConstraint(
            model_name="transferconsent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("confirmed_by__isnull", True),
                    models.Q(("confirmed_by", models.F("captured_by")), _negated=True),
                    _connector="OR",
                ),
                name="consent_confirmer_not_capturer",
                violation_error_message="The employee who captured a consent cannot confirm it.",
            ),
        ),
        migrations.AddConstraint(
            model_name="transferconsent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("confirmed_by__isnull", True),
                    models.Q(("party", "current_holder"), models.Q(("method", "sms_code"), _negated=True)),
                    _connector="OR",
                ),
                name="consent_confirmed_only_holder_check",
            ),
        ),
        migrations.AddConstraint(
            model_name="transferconsent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("confirmed_by__isnull", True),
                    models.Q(("method", "in_person"), _negated=True),
                    models.Q(("document_photo", ""), _negated=True),
                    _connector="OR",
                ),
                name="consent_confirmed_in_person_has_photo",
                violation_error_message="An in-person consent is confirmed only with the document's photo.",
            ),
        ),
        migrations.AddConstraint(
            model_name="transferrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("first_approved_at__isnull", True), ("first_approved_by__isnull", True)),
                    models.Q(
                        ("first_approved_at__isnull", False),
                        ("first_approved_by__isnull", False),
                        models.Q(("first_approval_reason", ""), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="transfer_first_approval_recorded",
            ),
        ),
        migrations.AddConstraint(
            model_name="transferrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("first_approved_by__isnull", True),
                    models.Q(("first_approved_by", models.F("requested_by")), _negated=True),
                    _connector="OR",
                ),
                name="transfer_first_approver_not_requester",
                violation_error_message="The requester of a transfer cannot approve it.",
            ),
        ),
        migrations.AddConstraint(
            model_name="transferrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("state", "executed"), _negated=True),
                    ("first_approved_by__isnull", True),
                    models.Q(("first_approved_by", models.F("decided_by")), _negated=True),
                    _connector="OR",
                ),
                name="transfer_two_approvers_differ",
                violation_error_message="The second approval must be another supervisor's.",
            ),
        ),
        migrations.AddConstraint(
            model_name="transferrequest",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("second_approval_required", True), ("state", "executed"), _negated=True),
                    ("first_approved_by__isnull", False),
                    _connector="OR",
                ),
                name="transfer_second_approval_held",
                violation_error_message="This transfer needs two supervisors' approvals.",
            ),
        ),
        RESTORE_HOLDING_TRIGGER,
        migrations.RunPython(_holder_factor(True), _holder_factor(False)),
    ]
