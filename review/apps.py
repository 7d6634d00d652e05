from django.apps import AppConfig


class ReviewConfig(AppConfig):
    """The audit review screens (/review/): they read every app's history and keep the
    disciplinary cases, so they sit on the top floor; the trail they read (history,
    chain, access log, the case models) is audit's, on the bottom floor."""

    name = "review"
    verbose_name = "Audit review"
