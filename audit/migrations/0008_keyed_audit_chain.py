"""Key the audit chain: every link becomes an HMAC with settings.AUDIT_CHAIN_KEY.

Each chain is first verified with the unkeyed SHA-256 it was written with: a chain
that does not verify stops the migration (re-linking it would launder tampering).
Then every record is re-linked with the keyed hash and the heads follow. Run with
the production AUDIT_CHAIN_KEY set, as the tables' owner (the append-only triggers
are lifted for this transaction only). Runs after every migration that wrote links
with the unkeyed hash; reversing it re-links with the unkeyed hash.
"""

from django.db import migrations

from audit.migration_ops import relink_chains


def _keyed(prev, record):
    from audit.chain import record_hash

    return record_hash(prev, record)


def _unkeyed(prev, record):
    from audit.chain import unkeyed_record_hash

    return unkeyed_record_hash(prev, record)


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0007_evidence_triggers_not_ignorable"),
        ("complaints", "0008_evidence_triggers_not_ignorable"),
        ("numbers", "0018_evidence_triggers_not_ignorable"),
        ("sms", "0007_evidence_triggers_not_ignorable"),
        ("staff", "0005_evidence_triggers_not_ignorable"),
    ]

    operations = [
        migrations.RunPython(
            relink_chains(old=_unkeyed, new=_keyed, old_name="unkeyed", new_name="keyed"),
            relink_chains(old=_keyed, new=_unkeyed, old_name="keyed", new_name="unkeyed"),
        ),
    ]
