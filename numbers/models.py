"""Subscribers, numbers and the holding ledger.

The rule the portal exists for (an active number never changes holder behind its
owner's back) is held in three layers: the service layer is the only code that
writes ``status`` and ``holder``; a pre_save guard and the queryset refuse any
other write of those fields (admin forms, actions, commands, fixtures, shell);
and the database keeps one open holding per number and a holder exactly in the
held states.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from audit.context import record_refusal
from audit.history import AuditedHistoricalRecords

from .choices import (
    HELD_STATUSES,
    OPEN_TRANSFER_STATES,
    ConsentMethod,
    ConsentParty,
    HoldingEndReason,
    HoldingStartReason,
    IdentityDocumentType,
    NumberStatus,
    TransferState,
)
from .exceptions import DeletionRefused, GuardedFieldChange, HolderChangeRefused
from .fields import MsisdnField
from .msisdn import E164_PATTERN, format_msisdn

# --- The service-layer write scope --------------------------------------------

_service_write: ContextVar[bool] = ContextVar("numbers_service_write", default=False)


@contextmanager
def service_write_scope():
    """Opened only by numbers.services around the writes they have checked."""
    token = _service_write.set(True)
    try:
        yield
    finally:
        _service_write.reset(token)


def in_service_scope() -> bool:
    return _service_write.get()


def kept_as_evidence(guard):
    """A guard's refusal outside any transaction (the shell, a script) is kept as a refused
    attempt; inside one, whoever rolls it back keeps it (the admin: backoffice.adminkit)."""

    @functools.wraps(guard)
    def wrapper(sender, instance, *args, **kwargs):
        try:
            return guard(sender, instance, *args, **kwargs)
        except GuardedFieldChange as error:
            if not transaction.get_connection().in_atomic_block:
                target = instance if instance.pk is not None else None
                record_refusal(service=f"{sender._meta.label_lower} save", error=error, target=target)
            raise

    return wrapper


class UndeletableQuerySet(models.QuerySet):
    """Evidence is never hard-deleted, not even in bulk."""

    def delete(self):
        raise DeletionRefused(
            "%(model)s records are never deleted; change their status instead.",
            code="no_delete",
            params={"model": self.model._meta.verbose_name.capitalize()},
        )


class UndeletableModel(models.Model):
    class Meta:
        abstract = True

    def delete(self, *args, **kwargs):
        raise DeletionRefused(
            "%(model)s records are never deleted; change their status instead.",
            code="no_delete",
            params={"model": self._meta.verbose_name.capitalize()},
        )


# --- Branches -----------------------------------------------------------------


class Branch(UndeletableModel):
    """An operator shop or region: the object that carries staff authority."""

    code = models.SlugField(max_length=20, unique=True)
    name = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = AuditedHistoricalRecords()
    objects = UndeletableQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        verbose_name_plural = "branches"
        permissions = [
            ("view_branch_numbers", "Can see the numbers and holdings of the branch"),
            ("operate_branch", "Can sell and manage the numbers of the branch"),
            ("supervise_branch", "Can approve transfers and restorations for the branch"),
            ("handle_branch_complaints", "Can handle complaints of the branch"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class BranchUserObjectPermission(UserObjectPermissionBase):
    """Direct foreign-key object permissions: fast joins instead of generic keys."""

    content_object = models.ForeignKey(Branch, on_delete=models.CASCADE, verbose_name="branch")

    history = AuditedHistoricalRecords()

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = "branch authority"
        verbose_name_plural = "branch authority"


class BranchGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Branch, on_delete=models.CASCADE)

    history = AuditedHistoricalRecords()

    class Meta(GroupObjectPermissionBase.Meta):
        pass


# --- Subscribers --------------------------------------------------------------


def mask_document_number(number: str) -> str:
    """Show only the last four characters: enough to match a card, not to copy it."""
    if not number:
        return ""
    visible = number[-4:] if len(number) > 4 else number[-1:]
    return "•" * max(len(number) - len(visible), 3) + visible


def normalize_document_number(value: str) -> str:
    """Document numbers are compared without spaces, dashes or case."""
    return "".join(ch for ch in (value or "").upper() if ch.isalnum())


class Subscriber(UndeletableModel):
    """A customer. The identity document is stored once and shown masked except on
    the subscriber's own detail page."""

    full_name = models.CharField(max_length=200)
    id_document_type = models.CharField("identity document type", max_length=20, choices=IdentityDocumentType.choices)
    id_document_number = models.CharField("identity document number", max_length=40)
    contact_msisdn = MsisdnField("contact number", blank=True)
    alternate_msisdn = MsisdnField("alternate contact number", blank=True)
    registered_branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="registered_subscribers"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = AuditedHistoricalRecords()
    objects = UndeletableQuerySet.as_manager()

    class Meta:
        ordering = ["full_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["id_document_type", "id_document_number"],
                name="subscriber_identity_document_unique",
                violation_error_message="A subscriber with this identity document already exists.",
            ),
            models.CheckConstraint(
                condition=~Q(id_document_number=""),
                name="subscriber_identity_document_present",
            ),
            models.CheckConstraint(
                condition=Q(id_document_type__in=IdentityDocumentType.values),
                name="subscriber_identity_document_type_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["contact_msisdn"], name="subscriber_contact_idx"),
            # The subscriber list reads in name order; also serves name-prefix search.
            models.Index(fields=["full_name", "id"], name="subscriber_name_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.get_id_document_type_display()} {self.masked_document})"

    @property
    def masked_document(self) -> str:
        return mask_document_number(self.id_document_number)


# --- Numbers ------------------------------------------------------------------

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


# --- The holding ledger -------------------------------------------------------


class ServiceWrittenQuerySet(UndeletableQuerySet):
    """Rows that only the number services write: the ledger, transfer requests,
    consents, one-time codes and transfer locks."""

    def update(self, **kwargs):
        _refuse_ledger_write(self.model)
        return super().update(**kwargs)

    def bulk_update(self, objs, fields, batch_size=None):
        _refuse_ledger_write(self.model)
        return super().bulk_update(objs, fields, batch_size=batch_size)

    def bulk_create(self, objs, *args, **kwargs):
        _refuse_ledger_write(self.model)
        return super().bulk_create(objs, *args, **kwargs)


class HoldingQuerySet(ServiceWrittenQuerySet):
    def open(self):
        return self.filter(ended_at__isnull=True)


def _refuse_ledger_write(model=None) -> None:
    if not in_service_scope():
        name = model._meta.verbose_name_plural if model is not None else "holdings"
        raise GuardedFieldChange(
            "%(what)s are written only by %(writer)s.",
            code="ledger_write_refused",
            params={
                "what": "The holding ledger" if name == "holdings" else name.capitalize(),
                "writer": getattr(model, "written_by", "the number services"),
            },
        )


@kept_as_evidence
def guard_service_written(sender, instance, raw: bool = False, **kwargs) -> None:
    """pre_save for service-written models (also covers fixtures and the shell)."""
    _refuse_ledger_write(sender)


class Holding(UndeletableModel):
    """Who held which number, from when to when, and why. Rows are closed, never removed."""

    number = models.ForeignKey(MobileNumber, on_delete=models.PROTECT, related_name="holdings")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.PROTECT, related_name="holdings")
    started_at = models.DateTimeField(default=timezone.now)
    start_reason = models.CharField(max_length=20, choices=HoldingStartReason.choices)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    start_note = models.TextField(blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=HoldingEndReason.choices, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    end_note = models.TextField(blank=True)
    transfer_request = models.OneToOneField(
        "TransferRequest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="opened_holding",
        help_text="The approved transfer request that opened this holding.",
    )

    history = AuditedHistoricalRecords()
    objects = HoldingQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        # ``other.holdings.add(holding)`` would otherwise rewrite the ledger unguarded.
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["number"],
                condition=Q(ended_at__isnull=True),
                name="holding_one_open_per_number",
                violation_error_message="This number already has an open holding.",
            ),
            models.CheckConstraint(
                condition=(Q(ended_at__isnull=True, end_reason="") | Q(ended_at__isnull=False) & ~Q(end_reason="")),
                name="holding_end_reason_with_end",
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=models.F("started_at")),
                name="holding_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(start_reason__in=HoldingStartReason.values),
                name="holding_start_reason_valid",
            ),
            # A trigger (migration 0008) also requires that request to be executed.
            models.CheckConstraint(
                condition=(
                    Q(start_reason=HoldingStartReason.TRANSFER, transfer_request__isnull=False)
                    | (~Q(start_reason=HoldingStartReason.TRANSFER) & Q(transfer_request__isnull=True))
                ),
                name="holding_transfer_has_request",
                violation_error_message="A holding opened by a transfer must reference its transfer request.",
            ),
        ]
        indexes = [
            models.Index(fields=["subscriber", "started_at"], name="holding_subscriber_idx"),
            # The ledger list reads newest first; without this PostgreSQL sorts the whole table.
            models.Index(fields=["-started_at", "-id"], name="holding_recent_idx"),
        ]

    def __str__(self) -> str:
        # Ids only: a __str__ that follows foreign keys costs a query per row in lists.
        return f"Holding #{self.pk} ({self.get_start_reason_display()}, from {self.started_at:%Y-%m-%d})"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


pre_save.connect(guard_service_written, sender=Holding, dispatch_uid="guard_holding")


class InactivityWarning(UndeletableModel):
    """One SMS warning of the inactivity lifecycle: which day of which period, to whom.

    The period is named by its start (the last top-up or payment), so a top-up
    opens a new period with its own warnings, and the unique constraint makes each
    warning exist once per period, however many times (or workers) the job runs.
    """

    written_by = "the inactivity lifecycle job"

    number = models.ForeignKey(MobileNumber, on_delete=models.PROTECT, related_name="inactivity_warnings")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.PROTECT, related_name="+")
    period_start = models.DateTimeField(help_text="The last top-up or payment this period counts from.")
    warning_day = models.PositiveSmallIntegerField()
    withdrawal_on = models.DateField(help_text="The day the number is withdrawn without a top-up.")
    sent_at = models.DateTimeField(default=timezone.now)

    history = AuditedHistoricalRecords()
    objects = ServiceWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["-sent_at", "-id"]
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["number", "period_start", "warning_day"],
                name="inactivity_warning_once_per_period",
                violation_error_message="This warning was already sent for this inactivity period.",
            ),
            models.CheckConstraint(condition=Q(warning_day__gt=0), name="inactivity_warning_day_positive"),
        ]

    def __str__(self) -> str:
        return f"Day-{self.warning_day} warning #{self.pk} for number #{self.number_id}"


pre_save.connect(guard_service_written, sender=InactivityWarning, dispatch_uid="guard_inactivity_warning")


# --- Transfers ------------------------------------------------------------------


class TransferRequest(UndeletableModel):
    """A request to give an active number to another subscriber.

    It carries both subscribers' consent and is executed only by a supervisor who
    is not the requester (four eyes). Rejected, cancelled and expired requests
    stay as they are: the record of what was tried is evidence too.
    """

    number = models.ForeignKey(MobileNumber, on_delete=models.PROTECT, related_name="transfer_requests")
    from_holder = models.ForeignKey(
        Subscriber,
        on_delete=models.PROTECT,
        related_name="transfers_away",
        verbose_name="current holder",
        help_text="The holder when the request was made; approval re-checks it.",
    )
    to_subscriber = models.ForeignKey(
        Subscriber, on_delete=models.PROTECT, related_name="transfers_in", verbose_name="new subscriber"
    )
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="transfer_requests")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="transfer_requests_made"
    )
    reason = models.TextField("stated reason")
    state = models.CharField(max_length=20, choices=TransferState.choices, default=TransferState.AWAITING_CONSENT)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    holder_notified_at = models.DateTimeField(
        null=True, blank=True, help_text="When the current holder was told by SMS that this request names the number."
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    # A cancellation (by staff, or by the number leaving service) or an expiry.
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.TextField(blank=True)

    history = AuditedHistoricalRecords()
    objects = ServiceWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["number"],
                condition=Q(state__in=OPEN_TRANSFER_STATES),
                name="transfer_one_open_per_number",
                violation_error_message="This number already has an open transfer request.",
            ),
            models.CheckConstraint(condition=Q(state__in=TransferState.values), name="transfer_state_valid"),
            models.CheckConstraint(
                condition=~Q(from_holder=models.F("to_subscriber")),
                name="transfer_to_someone_else",
                violation_error_message="The new subscriber must differ from the current holder.",
            ),
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="transfer_expiry_after"),
            # Four eyes, held by the database: whoever decided is not who asked.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("requested_by")),
                name="transfer_four_eyes",
                violation_error_message="The requester of a transfer cannot decide it.",
            ),
            models.CheckConstraint(
                condition=(
                    ~Q(state__in=[TransferState.EXECUTED, TransferState.REJECTED])
                    | (Q(decided_by__isnull=False, decided_at__isnull=False) & ~Q(decision_reason=""))
                ),
                name="transfer_decision_recorded",
                violation_error_message="An approval or rejection records who decided, when and why.",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=[TransferState.CANCELLED, TransferState.EXPIRED])
                | (Q(closed_at__isnull=False, decided_by__isnull=True) & ~Q(close_reason="")),
                name="transfer_closure_recorded",
                violation_error_message="A cancellation or expiry records when and why.",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=OPEN_TRANSFER_STATES)
                | Q(decided_by__isnull=True, decided_at__isnull=True, closed_at__isnull=True),
                name="transfer_open_undecided",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "branch", "created_at"], name="transfer_queue_idx"),
            models.Index(fields=["requested_by", "created_at"], name="transfer_requester_idx"),
            models.Index(fields=["state", "expires_at"], name="transfer_expiry_idx"),
            # The admin lists requests newest first; without this the table is sorted.
            models.Index(fields=["-created_at", "-id"], name="transfer_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"Transfer request #{self.pk}"

    @property
    def reference(self) -> str:
        """What staff and subscribers quote (SMS, screens, history): T-<id>."""
        return f"T-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_TRANSFER_STATES


class ConsentCode(UndeletableModel):
    """A one-time code sent by SMS to the number itself; only its hash is kept."""

    request = models.ForeignKey(TransferRequest, on_delete=models.PROTECT, related_name="codes")
    sent_to = MsisdnField()
    code_hash = models.CharField(max_length=128)
    sent_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)

    objects = ServiceWrittenQuerySet.as_manager()
    history = AuditedHistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        base_manager_name = "objects"
        verbose_name = "one-time consent code"
        constraints = [
            models.UniqueConstraint(
                fields=["request"],
                condition=Q(used_at__isnull=True, superseded_at__isnull=True),
                name="consent_code_one_live_per_request",
            ),
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="consent_code_expiry"),
        ]

    def __str__(self) -> str:
        return f"Code #{self.pk} to {self.sent_to}"


class TransferConsentQuerySet(ServiceWrittenQuerySet):
    def standing(self, at):
        """Given, not revoked, not lapsed at ``at``: what approval counts."""
        return self.filter(revoked_at__isnull=True, lapses_at__gt=at)

    def lapsed(self, at):
        """Not revoked but past its time: it no longer stands yet still holds the party's slot."""
        return self.filter(revoked_at__isnull=True, lapses_at__lte=at)


class TransferConsent(UndeletableModel):
    """One party's consent to a transfer, with how it was checked and by whom."""

    request = models.ForeignKey(TransferRequest, on_delete=models.PROTECT, related_name="consents")
    party = models.CharField(max_length=20, choices=ConsentParty.choices)
    subscriber = models.ForeignKey(Subscriber, on_delete=models.PROTECT, related_name="consents_given")
    method = models.CharField(max_length=20, choices=ConsentMethod.choices)
    document_type = models.CharField(
        "identity document checked", max_length=20, choices=IdentityDocumentType.choices, blank=True
    )
    document_reference = models.CharField(
        "document checked (masked)", max_length=60, blank=True, help_text="Only the last characters are kept."
    )
    signed_form = models.FileField(upload_to="consents/%Y/%m/", blank=True)
    code = models.OneToOneField(ConsentCode, on_delete=models.PROTECT, null=True, blank=True, related_name="consent")
    captured_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    captured_at = models.DateTimeField(default=timezone.now)
    lapses_at = models.DateTimeField()
    note = models.TextField(blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    revocation_reason = models.TextField(blank=True)

    history = AuditedHistoricalRecords()
    objects = TransferConsentQuerySet.as_manager()

    class Meta:
        ordering = ["captured_at", "id"]
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["request", "party"],
                condition=Q(revoked_at__isnull=True),
                name="consent_one_standing_per_party",
                violation_error_message="This party has already consented; revoke that consent first.",
            ),
            models.CheckConstraint(condition=Q(party__in=ConsentParty.values), name="consent_party_valid"),
            models.CheckConstraint(condition=Q(method__in=ConsentMethod.values), name="consent_method_valid"),
            models.CheckConstraint(
                condition=~Q(method=ConsentMethod.IN_PERSON) | (~Q(document_type="") & ~Q(document_reference="")),
                name="consent_in_person_has_document",
            ),
            models.CheckConstraint(
                condition=~Q(method=ConsentMethod.SIGNED_FORM) | ~Q(signed_form=""),
                name="consent_signed_form_has_file",
            ),
            # The code goes to the number itself: only its current holder can read it.
            models.CheckConstraint(
                condition=~Q(method=ConsentMethod.SMS_CODE) | Q(party=ConsentParty.CURRENT_HOLDER, code__isnull=False),
                name="consent_sms_code_by_holder",
            ),
            models.CheckConstraint(condition=Q(lapses_at__gt=models.F("captured_at")), name="consent_lapses_after"),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | (Q(revoked_by__isnull=False) & ~Q(revocation_reason="")),
                name="consent_revocation_recorded",
            ),
        ]
        indexes = [models.Index(fields=["-captured_at", "-id"], name="consent_recent_idx")]

    def __str__(self) -> str:
        return f"Consent #{self.pk} ({self.get_party_display()}, {self.get_method_display()})"

    def is_standing(self, at=None) -> bool:
        return self.revoked_at is None and self.lapses_at > (at or timezone.now())


class TransferLock(UndeletableModel):
    """A holder's lock against transfers, like a port-out PIN or a SIM-swap lock."""

    number = models.ForeignKey(MobileNumber, on_delete=models.PROTECT, related_name="transfer_locks")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.PROTECT, related_name="transfer_locks")
    placed_at = models.DateTimeField(default=timezone.now)
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    place_reason = models.TextField()
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    lift_reason = models.TextField(blank=True)
    lift_evidence = models.CharField(
        max_length=120, blank=True, help_text="How the holder's consent to lifting was checked."
    )

    history = AuditedHistoricalRecords()
    objects = ServiceWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["-placed_at", "-id"]
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["number"],
                condition=Q(lifted_at__isnull=True),
                name="transfer_lock_one_per_number",
                violation_error_message="This number is already locked against transfers.",
            ),
            # lifted_by is empty only when the lifecycle job withdrew the number
            # (history names the job); a lift at a branch always names its employee.
            models.CheckConstraint(
                condition=Q(lifted_at__isnull=True) | (~Q(lift_reason="") & ~Q(lift_evidence="")),
                name="transfer_lock_lift_recorded",
            ),
        ]
        indexes = [models.Index(fields=["-placed_at", "-id"], name="transfer_lock_recent_idx")]

    def __str__(self) -> str:
        return f"Transfer lock #{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.lifted_at is None


for _model in (TransferRequest, ConsentCode, TransferConsent, TransferLock):
    pre_save.connect(guard_service_written, sender=_model, dispatch_uid=f"guard_{_model.__name__}")
