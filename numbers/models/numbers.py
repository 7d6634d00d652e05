"""Mobile numbers and the guard of the rule the portal exists for: status and holder
change only through the number services (the pre_save guard and the queryset refuse
every other write, fixtures and the shell included)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel, UndeletableQuerySet, in_service_scope, kept_as_evidence
from backoffice.fields import MsisdnField
from backoffice.msisdn import E164_PATTERN, format_msisdn

from ..choices import HELD_STATUSES, NumberStatus
from ..exceptions import GuardedFieldChange, HolderChangeRefused
from .branches import Branch
from .subscribers import Subscriber

GUARDED_NUMBER_FIELDS = ("status", "holder_id", "status_changed_at", "activated_at")


class MobileNumberQuerySet(UndeletableQuerySet):
    def update(self, **kwargs):
        _refuse_guarded_bulk_write(self.model, kwargs.keys())
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, batch_size=None):
        _refuse_guarded_bulk_write(self.model, fields)
        return super().bulk_update(objs, fields, batch_size=batch_size)

    def bulk_create(
        self,
        objs,
        batch_size=None,
        ignore_conflicts=False,
        update_conflicts=False,
        update_fields=None,
        unique_fields=None,
    ):
        objs = list(objs)  # checked here and saved below: a generator would be consumed by the check
        if not in_service_scope():
            for obj in objs:
                _check_new_number(obj)
            if update_conflicts:
                # An upsert on the msisdn is an update of the existing row.
                _refuse_guarded_bulk_write(self.model, update_fields or ())
        return super().bulk_create(
            objs,
            batch_size=batch_size,
            ignore_conflicts=ignore_conflicts,
            update_conflicts=update_conflicts,
            update_fields=update_fields,
            unique_fields=unique_fields,
        )


def _refuse_guarded_bulk_write(model, fields) -> None:
    if in_service_scope():
        return
    guarded = {"status", "holder", "holder_id", "status_changed_at", "activated_at"}
    touched = sorted(guarded.intersection(fields))
    if touched:
        raise GuardedFieldChange(
            "%(fields)s of a number change only through the number services "
            "(lifecycle moves, sales and approved transfers), never by a bulk update.",
            code="guarded_bulk_write",
            params={"fields": ", ".join(touched)},
        )


class MobileNumber(UndeletableModel):
    """An MSISDN in the operator's inventory and where it is in its lifecycle."""

    msisdn = MsisdnField("MSISDN", unique=True, help_text="Any format; stored in E.164.")
    status = models.CharField(max_length=12, choices=NumberStatus.choices, default=NumberStatus.AVAILABLE)
    holder = models.ForeignKey(Subscriber, on_delete=models.PROTECT, null=True, blank=True, related_name="numbers")
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="numbers")
    activated_at = models.DateTimeField(null=True, blank=True)
    last_topup_at = models.DateTimeField("last top-up or payment", null=True, blank=True)
    status_changed_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = AuditedHistoricalRecords()
    objects = MobileNumberQuerySet.as_manager()

    class Meta:
        ordering = ["msisdn"]
        verbose_name = "mobile number"
        # Related managers write through the base manager (``subscriber.numbers.add(number)``
        # is a bulk update of holder): it must be the guarded queryset, not a plain Manager.
        base_manager_name = "objects"
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=NumberStatus.values),
                name="number_status_valid",
            ),
            models.CheckConstraint(
                condition=(
                    Q(status__in=sorted(HELD_STATUSES), holder__isnull=False)
                    | (~Q(status__in=sorted(HELD_STATUSES)) & Q(holder__isnull=True))
                ),
                name="number_holder_iff_held",
                violation_error_message="A number has a holder exactly when it is active, suspended or blocked.",
            ),
            models.CheckConstraint(
                condition=Q(msisdn__regex=E164_PATTERN),
                name="number_msisdn_e164",
            ),
        ]
        indexes = [
            models.Index(fields=["branch", "status"], name="number_branch_status_idx"),
            models.Index(fields=["status", "last_topup_at"], name="number_status_topup_idx"),
        ]

    def __str__(self) -> str:
        return self.msisdn

    @property
    def display_msisdn(self) -> str:
        return format_msisdn(self.msisdn)

    @property
    def is_held(self) -> bool:
        return self.status in HELD_STATUSES


def _check_new_number(number: MobileNumber) -> None:
    if number.status != NumberStatus.AVAILABLE or number.holder_id is not None:
        raise GuardedFieldChange(
            "A new number enters the inventory as available with no holder; it is sold through the number services.",
            code="guarded_create",
        )


@receiver(pre_save, sender=MobileNumber)
@kept_as_evidence
def guard_number_fields(sender, instance: MobileNumber, raw: bool = False, **kwargs) -> None:
    """Refuse writes of status and holder that do not come from the services.

    pre_save also runs for fixtures (``loaddata``), so this covers that path too.
    """
    if in_service_scope():
        return
    if instance.pk is None:
        _check_new_number(instance)
        return
    stored = MobileNumber.objects.filter(pk=instance.pk).values(*GUARDED_NUMBER_FIELDS).first()
    if stored is None:
        _check_new_number(instance)
        return
    if stored["holder_id"] != instance.holder_id:
        raise HolderChangeRefused(
            "The holder of %(msisdn)s cannot be changed here. A held number changes holder only "
            "through a transfer approved with the consent of both subscribers.",
            code="holder_change_refused",
            params={"msisdn": instance.msisdn},
        )
    changed = [field for field in GUARDED_NUMBER_FIELDS if stored[field] != getattr(instance, field)]
    if changed:
        raise GuardedFieldChange(
            "%(fields)s of %(msisdn)s change only through a lifecycle move with a reason.",
            code="guarded_field_change",
            params={"fields": ", ".join(changed), "msisdn": instance.msisdn},
        )
