from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit and disciplinary review"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import context, db_roles, locking, refusals, signals  # noqa: F401

        locking.connect()
        context.register_refusal_recorder(refusals.record)
        post_migrate.connect(db_roles.regrant_after_migrate, sender=self)
