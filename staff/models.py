from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from .choices import EmploymentStatus


class Employee(models.Model):
    """Ties a login to the branches an employee works for and whether they may work.

    Authority itself lives in guardian object permissions on those branches
    (granted by staff.services from the employee's roles); this record is what
    those grants are derived from, and its history shows who changed it and why.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="employee")
    employee_code = models.CharField(max_length=20, unique=True)
    branches = models.ManyToManyField("numbers.Branch", related_name="employees", blank=True)
    employment_status = models.CharField(
        max_length=12, choices=EmploymentStatus.choices, default=EmploymentStatus.ACTIVE
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = HistoricalRecords(m2m_fields=[branches])

    class Meta:
        ordering = ["employee_code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(employment_status__in=EmploymentStatus.values),
                name="employee_status_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.employee_code} {self.user.get_full_name() or self.user.get_username()}"

    @property
    def is_active_employee(self) -> bool:
        return self.employment_status == EmploymentStatus.ACTIVE
