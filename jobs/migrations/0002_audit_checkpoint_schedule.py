from django.db import migrations


def seed(apps, schema_editor):
    from jobs.schedules import seed_schedules

    seed_schedules(apps)  # adds jobs.checkpoint; the schedules staff already have are left alone


class Migration(migrations.Migration):
    dependencies = [("jobs", "0001_default_schedules")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
