"""The one Celery app of the portal.

With no ``CELERY_BROKER_URL`` configured, settings make tasks run eagerly in
process, so the demo needs no broker; production and CI point it at Redis.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")

app = Celery("backoffice")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
