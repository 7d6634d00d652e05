"""A transactional test's flush leaves the database as migrated, whatever runs next
(random order, xdist): conftest's post_migrate receiver puts the data migrations'
rows back."""

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from complaints.models import SlaTable, WorkingCalendar


@pytest.mark.django_db(transaction=True)
def test_a_flush_puts_the_migrations_rows_back():
    call_command("flush", interactive=False, verbosity=0)

    assert SlaTable.objects.filter(is_active=True).count() == 1
    assert WorkingCalendar.objects.exists()
    assert PeriodicTask.objects.exists()
