from django.db import models


class AccessKind(models.TextChoices):
    LOGIN = "login", "Signed in"
    LOGIN_FAILED = "login_failed", "Failed sign-in"
    LOGOUT = "logout", "Signed out"
    SUBSCRIBER = "subscriber", "Viewed a subscriber's identity and contact details"
    # Sessions ended by staff.sessions (the sign-out that follows is logged too).
    EXPIRED_IDLE = "expired_idle", "Session timed out (idle)"
    EXPIRED_MAX = "expired_max", "Session timed out (maximum length)"
    # The password (or code) typed again before approving, suspending or exporting.
    REAUTH = "reauth", "Confirmed the password again"


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
