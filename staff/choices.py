from django.db import models


class Role(models.TextChoices):
    """Roles are auth groups of these names."""

    AGENT = "agent", "Agent"
    SUPERVISOR = "supervisor", "Supervisor"
    COMPLAINT_HANDLER = "complaint_handler", "Complaint handler"
    AUDITOR = "auditor", "Auditor (read-only)"
    ADMINISTRATOR = "administrator", "Administrator"


class EmploymentStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
