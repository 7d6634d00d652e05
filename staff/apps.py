from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


def _ensure_role_groups(sender, **kwargs) -> None:
    # post_migrate is sent once per app; the role groups need every app's
    # permissions, which exist once the last app has had its turn.
    if sender is not list(apps.get_app_configs())[-1]:
        return
    from .services import roles_ensure_groups

    roles_ensure_groups()


class StaffConfig(AppConfig):
    name = "staff"
    verbose_name = "Staff and roles"

    def ready(self) -> None:
        post_migrate.connect(_ensure_role_groups, dispatch_uid="staff_role_groups")
        # Signal receivers: the sign-in stamps the session and issues the device cookie.
        from . import devices, reauth, sessions  # noqa: F401
