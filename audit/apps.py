from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit and disciplinary review"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import context, locking, refusals, signals  # noqa: F401

        locking.connect()
        context.register_refusal_recorder(refusals.record)
