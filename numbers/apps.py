from django.apps import AppConfig


class NumbersConfig(AppConfig):
    name = "numbers"
    verbose_name = "Numbers and subscribers"

    def ready(self) -> None:
        from . import checks  # noqa: F401 - registers the lifecycle policy check
