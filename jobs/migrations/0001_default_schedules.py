from django.db import migrations


def seed(apps, schema_editor):
    from jobs.schedules import seed_schedules

    seed_schedules(apps)


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
