from django.apps import AppConfig


class DemoConfig(AppConfig):
    """One place for the demo world (``manage.py seed_demo``) and the benchmark's
    (``manage.py benchmark_admin``): made-up data drives every app's services, so it
    sits on the top floor."""

    name = "demo"
    verbose_name = "Demo data"
