"""Migration helpers: chain the history rows written before the chain existed."""

from django.db.migrations import RunPython


def seal_existing(app_label: str) -> RunPython:
    """Chain an app's existing history rows in key order (runs before the append-only triggers)."""

    def run(apps, schema_editor):
        from audit.chain import GENESIS, record_hash

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
