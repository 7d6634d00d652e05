from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from backoffice.delivery import Deliverable, delivery_constraints
from backoffice.evidence import UndeletableModel, UndeletableQuerySet
from backoffice.exceptions import DeletionRefused

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

    history = AuditedHistoricalRecords(m2m_fields=[branches])

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


class SuspensionQuerySet(models.QuerySet):
    def delete(self):
        raise DeletionRefused("Suspensions are never deleted; reinstate instead.", code="no_delete")


class Suspension(models.Model):
    """What suspending an employee took away, kept so that reinstating gives back exactly that.

    Suspensions are closed (``reinstated_at``), never deleted.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="suspensions")
    case = models.ForeignKey(
        "audit.DisciplinaryCase", null=True, blank=True, on_delete=models.PROTECT, related_name="suspensions"
    )
    reason = models.TextField()
    suspended_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    suspended_at = models.DateTimeField(default=timezone.now, editable=False)
    was_active = models.BooleanField()
    employment_status_before = models.CharField(max_length=12, blank=True)
    groups_removed = models.ManyToManyField("auth.Group", blank=True, related_name="+")
    permissions_removed = models.ManyToManyField("auth.Permission", blank=True, related_name="+")
    object_permissions_removed = models.JSONField(
        default=list, blank=True, help_text='[{"model": "app.model", "object_pk": "1", "perm": "codename"}]'
    )
    sessions_ended = models.PositiveIntegerField(default=0)
    reinstated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reinstated_at = models.DateTimeField(null=True, blank=True)
    reinstate_reason = models.TextField(blank=True)
    not_restored = models.JSONField(
        default=list, blank=True, help_text="Grants that no longer applied when reinstated."
    )

    history = AuditedHistoricalRecords(m2m_fields=[groups_removed, permissions_removed])
    objects = SuspensionQuerySet.as_manager()

    class Meta:
        ordering = ["-suspended_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=Q(reinstated_at__isnull=True), name="suspension_one_open_per_user"
            ),
            models.CheckConstraint(
                condition=Q(reinstated_at__isnull=True) | Q(reinstated_by__isnull=False),
                name="suspension_reinstated_by",
            ),
        ]

    def __str__(self) -> str:
        return f"Suspension of {self.user_id} from {self.suspended_at:%Y-%m-%d}"

    def delete(self, *args, **kwargs):
        raise DeletionRefused("Suspensions are never deleted; reinstate instead.", code="no_delete")


class StaffNotice(Deliverable, UndeletableModel):
    """An email to an employee (an SLA breach to a branch supervisor, say): stored with
    the change that caused it, delivered after commit through Django's email backend."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="notices")
    to_email = models.EmailField()
    subject = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = UndeletableQuerySet.as_manager()
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "staff notice"
        constraints = delivery_constraints("notice")
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notice_recipient_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="notice_pending_idx"),
        ]

    def __str__(self) -> str:
        return f"Notice #{self.pk} to {self.to_email}: {self.subject}"


class SecondFactorResetQuerySet(models.QuerySet):
    def delete(self):
        raise DeletionRefused("Second-factor resets are never deleted.", code="no_delete")


class SecondFactorReset(models.Model):
    """A lost authenticator taken out of use, four eyes: one administrator asks (with
    a reason), a different one approves; then the user's devices stop counting and
    they enrol anew at their next sign-in (staff.twofactor).

    The devices themselves are deleted on approval (a lost phone's secret is a
    credential to retire, not evidence); what they were is kept in ``devices_removed``.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="second_factor_resets")
    reason = models.TextField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now, editable=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approve_reason = models.TextField(blank=True)
    devices_removed = models.JSONField(
        default=list, blank=True, help_text='[{"type": "otp_totp.totpdevice", "id": 1, "name": "...", ...}]'
    )
    sessions_ended = models.PositiveIntegerField(default=0)

    history = AuditedHistoricalRecords()
    objects = SecondFactorResetQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        verbose_name = "second-factor reset"
        constraints = [
            # Four eyes, held by the database too: the approver is not the requester,
            # and nobody asks for or approves a reset of their own device.
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=models.F("requested_by")),
                name="otp_reset_four_eyes",
            ),
            models.CheckConstraint(condition=~Q(requested_by=models.F("user")), name="otp_reset_not_own_request"),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True) | ~Q(approved_by=models.F("user")),
                name="otp_reset_not_own_approval",
            ),
            models.CheckConstraint(
                condition=Q(approved_by__isnull=True, approved_at__isnull=True)
                | Q(approved_by__isnull=False, approved_at__isnull=False),
                name="otp_reset_approved_by_and_at",
            ),
            models.UniqueConstraint(
                fields=["user"], condition=Q(approved_at__isnull=True), name="otp_reset_one_open_per_user"
            ),
        ]

    def __str__(self) -> str:
        state = "approved" if self.approved_at else "awaiting approval"
        return f"Second-factor reset of {self.user_id} ({state})"

    @property
    def is_open(self) -> bool:
        return self.approved_at is None

    def delete(self, *args, **kwargs):
        raise DeletionRefused("Second-factor resets are never deleted.", code="no_delete")
