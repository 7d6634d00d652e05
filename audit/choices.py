from django.db import models


class AccessKind(models.TextChoices):
    LOGIN = "login", "Signed in"
    LOGIN_FAILED = "login_failed", "Failed sign-in"
    LOGOUT = "logout", "Signed out"
    SUBSCRIBER = "subscriber", "Viewed a subscriber's identity and contact details"


class RefusalKind(models.TextChoices):
    AUTHORITY = "authority", "Not authorised"
    RULE = "rule", "Against a rule"


class CaseState(models.TextChoices):
    OPEN = "open", "Open"
    SUSPENDED = "suspended", "Suspended pending review"
    CLOSED = "closed", "Closed"


class CaseOutcome(models.TextChoices):
    CLEARED = "cleared", "Cleared: no misconduct"
    WARNING = "warning", "Written warning"
    FINAL_WARNING = "final_warning", "Final written warning"
    DISMISSED = "dismissed", "Dismissed"
    OTHER = "other", "Other (see notes)"
