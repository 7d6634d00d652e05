"""Subscribers, numbers and the holding ledger.

The rule the portal exists for (an active number never changes holder behind its
owner's back) is held in three layers: the service layer is the only code that
writes ``status`` and ``holder``; a pre_save guard and the queryset refuse any
other write of those fields (admin forms, actions, commands, fixtures, shell);
and the database keeps one open holding per number and a holder exactly in the
held states.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import (  # noqa: F401  (re-exported for numbers' services)
    UndeletableModel,
    UndeletableQuerySet,
    in_service_scope,
    kept_as_evidence,
    service_write_scope,
)
from backoffice.fields import MsisdnField
from backoffice.msisdn import E164_PATTERN, format_msisdn

from .choices import (
    DOCUMENT_GROUNDS,
    HELD_STATUSES,
    OPEN_SUBSCRIBER_CHANGE_STATES,
    OPEN_TRANSFER_STATES,
    OPEN_WITHDRAWAL_STATES,
    ConsentMethod,
    ConsentParty,
    HoldingEndReason,
    HoldingStartReason,
    IdentityDocumentType,
    IdentityExportState,
    NumberStatus,
    SubscriberChangeState,
    TransferState,
    WithdrawalGround,
    WithdrawalState,
)
from .exceptions import GuardedFieldChange, HolderChangeRefused
from .identity import mask_last4, normalize_document_number  # noqa: F401  (re-exported: callers import it from here)

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


class Subscriber(UndeletableModel):
    """A customer. The identity document number is never stored readable (numbers/identity.py):
    a keyed hash finds and matches it, its last characters are shown, and the number
    itself is sealed for SIM-registration compliance; history keeps no sealed copy."""

    full_name = models.CharField(max_length=200)
    id_document_type = models.CharField("identity document type", max_length=20, choices=IdentityDocumentType.choices)
    id_document_hash = models.CharField("identity document (keyed hash)", max_length=64, editable=False)
    id_document_last4 = models.CharField("identity document (last characters)", max_length=4, editable=False)
    id_document_sealed = models.TextField("identity document (sealed)", editable=False)
    contact_msisdn = MsisdnField("contact number", blank=True)
    alternate_msisdn = MsisdnField("alternate contact number", blank=True)
    registered_branch = models.ForeignKey(
        Branch, on_delete=models.PROTECT, null=True, blank=True, related_name="registered_subscribers"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    # The sealed number stays out of history: the chain is for reading, the seal is not.
    history = AuditedHistoricalRecords(excluded_fields=["id_document_sealed"])
    objects = UndeletableQuerySet.as_manager()

    class Meta:
        ordering = ["full_name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["id_document_type", "id_document_hash"],
                name="subscriber_identity_document_unique",
                violation_error_message="A subscriber with this identity document already exists.",
            ),
            models.CheckConstraint(
                condition=~Q(id_document_hash="") & ~Q(id_document_last4="") & ~Q(id_document_sealed=""),
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
        return mask_last4(self.id_document_last4)


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
    # A request with a high risk flag needs two supervisors: the first approval is
    # recorded here and the request waits for a second, different one.
    second_approval_required = models.BooleanField(default=False)
    first_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    first_approved_at = models.DateTimeField(null=True, blank=True)
    first_approval_reason = models.TextField(blank=True)
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

    # Added after the table was chained: rows written before keep their links (audit.chain).
    history = AuditedHistoricalRecords(
        added_later=("first_approved_by", "first_approved_at", "first_approval_reason", "second_approval_required")
    )
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
            # Two approvers, held by the database: the first approval is named and dated,
            # not the requester's, and the second is somebody else's.
            models.CheckConstraint(
                condition=Q(first_approved_by__isnull=True, first_approved_at__isnull=True)
                | (Q(first_approved_by__isnull=False, first_approved_at__isnull=False) & ~Q(first_approval_reason="")),
                name="transfer_first_approval_recorded",
            ),
            models.CheckConstraint(
                condition=Q(first_approved_by__isnull=True) | ~Q(first_approved_by=models.F("requested_by")),
                name="transfer_first_approver_not_requester",
                violation_error_message="The requester of a transfer cannot approve it.",
            ),
            models.CheckConstraint(
                condition=~Q(state=TransferState.EXECUTED)
                | Q(first_approved_by__isnull=True)
                | ~Q(first_approved_by=models.F("decided_by")),
                name="transfer_two_approvers_differ",
                violation_error_message="The second approval must be another supervisor's.",
            ),
            models.CheckConstraint(
                condition=~Q(state=TransferState.EXECUTED, second_approval_required=True)
                | Q(first_approved_by__isnull=False),
                name="transfer_second_approval_held",
                violation_error_message="This transfer needs two supervisors' approvals.",
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


# A consent counts when it is the new subscriber's, the holder's one-time code read
# back from the number, or a holder's in-person or signed-form consent confirmed by
# a second employee (transfer_confirm_consent).
CONSENT_COUNTS = (
    ~Q(party=ConsentParty.CURRENT_HOLDER) | Q(method=ConsentMethod.SMS_CODE) | Q(confirmed_at__isnull=False)
)


def needs_confirmation(party: str, method: str) -> bool:
    """The holder's consent by a factor staff can produce alone needs a second employee."""
    return party == ConsentParty.CURRENT_HOLDER and method != ConsentMethod.SMS_CODE


class TransferConsentQuerySet(ServiceWrittenQuerySet):
    def given(self, at):
        """Recorded, not revoked, not lapsed at ``at``: it takes the party's slot,
        whether or not it counts yet."""
        return self.filter(revoked_at__isnull=True, lapses_at__gt=at)

    def standing(self, at):
        """Given and counting at ``at``: what approval counts. The holder's consent
        counts by the code sent to the number, or once a second employee confirmed
        the in-person or signed-form check (staff can produce those alone)."""
        return self.given(at).filter(CONSENT_COUNTS)

    def awaiting_confirmation(self, at):
        return self.given(at).exclude(CONSENT_COUNTS)

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
    # Never served from a public URL: only reviewers open it, through a checked view.
    document_photo = models.FileField(
        "photo of the document shown",
        upload_to="consent-evidence/%Y/%m/",
        blank=True,
        help_text="Evidence of an in-person check of the holder; opened only by reviewers.",
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The second employee of the branch who confirmed the check of the holder's consent.",
    )
    confirmed_at = models.DateTimeField(null=True, blank=True)
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

    # Added after the table was chained: rows written before keep their links (audit.chain).
    history = AuditedHistoricalRecords(added_later=("document_photo", "confirmed_by", "confirmed_at"))
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
            # The second check: named, dated, by someone else, only where it is needed.
            models.CheckConstraint(
                condition=Q(confirmed_by__isnull=True, confirmed_at__isnull=True)
                | Q(confirmed_by__isnull=False, confirmed_at__isnull=False),
                name="consent_confirmation_recorded",
            ),
            models.CheckConstraint(
                condition=Q(confirmed_by__isnull=True) | ~Q(confirmed_by=models.F("captured_by")),
                name="consent_confirmer_not_capturer",
                violation_error_message="The employee who captured a consent cannot confirm it.",
            ),
            models.CheckConstraint(
                condition=Q(confirmed_by__isnull=True)
                | (Q(party=ConsentParty.CURRENT_HOLDER) & ~Q(method=ConsentMethod.SMS_CODE)),
                name="consent_confirmed_only_holder_check",
            ),
            models.CheckConstraint(
                condition=Q(confirmed_by__isnull=True) | ~Q(method=ConsentMethod.IN_PERSON) | ~Q(document_photo=""),
                name="consent_confirmed_in_person_has_photo",
                violation_error_message="An in-person consent is confirmed only with the document's photo.",
            ),
            models.CheckConstraint(
                condition=Q(revoked_at__isnull=True) | (Q(revoked_by__isnull=False) & ~Q(revocation_reason="")),
                name="consent_revocation_recorded",
            ),
        ]
        indexes = [models.Index(fields=["-captured_at", "-id"], name="consent_recent_idx")]

    def __str__(self) -> str:
        return f"Consent #{self.pk} ({self.get_party_display()}, {self.get_method_display()})"

    def is_given(self, at=None) -> bool:
        return self.revoked_at is None and self.lapses_at > (at or timezone.now())

    @property
    def needs_confirmation(self) -> bool:
        return needs_confirmation(self.party, self.method)

    def is_standing(self, at=None) -> bool:
        return self.is_given(at) and (not self.needs_confirmation or self.confirmed_at is not None)


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
            # A lift at a branch always names its employee. (Older rows may have no
            # lifted_by: the lifecycle job used to lift a lock on withdrawal. It no longer
            # does: a lock survives every path but its own consented lift.)
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


# --- Withdrawals by hand ------------------------------------------------------------


class WithdrawalRequest(UndeletableModel):
    """A request to withdraw a held number from its holder, on a ground from a closed
    list, executed only by a second supervisor (four eyes).

    The holder is told by SMS when it is asked. The holder's own request needs their
    consent by a one-time code sent to the number (only its hash is kept here) or in
    person: the document shown, its photo, a second employee's confirmation, and no
    approval before the cooling-off after the holder's notice; a legal
    order or a death needs its document attached. An approved request withdraws the
    number into quarantine, where only its last holder can have it back.
    """

    written_by = "the withdrawal services"

    number = models.ForeignKey(MobileNumber, on_delete=models.PROTECT, related_name="withdrawal_requests")
    holder = models.ForeignKey(
        Subscriber,
        on_delete=models.PROTECT,
        related_name="withdrawal_requests",
        help_text="The holder when the request was made; approval re-checks it.",
    )
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="withdrawal_requests")
    ground = models.CharField(max_length=20, choices=WithdrawalGround.choices)
    document = models.FileField(
        "order or evidence", upload_to="withdrawals/%Y/%m/", blank=True, help_text="Required for an order or a death."
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="withdrawal_requests_made"
    )
    reason = models.TextField("stated reason")
    state = models.CharField(max_length=20, choices=WithdrawalState.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    holder_notified_at = models.DateTimeField(null=True, blank=True)
    # The holder's consent by a one-time code sent to the number (holder_request only).
    code_hash = models.CharField(max_length=128, blank=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    code_attempts = models.PositiveSmallIntegerField(default=0)
    codes_sent = models.PositiveSmallIntegerField(default=0)
    holder_consented_at = models.DateTimeField(null=True, blank=True)
    # Or the holder's consent in person (SIM lost or broken): the document shown, its
    # photo (opened only by reviewers) and a second employee of the branch confirming.
    holder_check_document_type = models.CharField(
        "identity document checked", max_length=20, choices=IdentityDocumentType.choices, blank=True
    )
    holder_check_document_reference = models.CharField(
        "document checked (masked)", max_length=60, blank=True, help_text="Only the last characters are kept."
    )
    holder_check_photo = models.FileField(
        "photo of the document shown",
        upload_to="withdrawal-evidence/%Y/%m/",
        blank=True,
        help_text="Evidence of the in-person check of the holder; opened only by reviewers.",
    )
    holder_checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    holder_checked_at = models.DateTimeField(null=True, blank=True)
    holder_check_confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The second employee of the branch who confirmed the in-person check.",
    )
    holder_check_confirmed_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
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
                condition=Q(state__in=OPEN_WITHDRAWAL_STATES),
                name="withdrawal_one_open_per_number",
                violation_error_message="This number already has an open withdrawal request.",
            ),
            models.CheckConstraint(condition=Q(state__in=WithdrawalState.values), name="withdrawal_state_valid"),
            models.CheckConstraint(condition=Q(ground__in=WithdrawalGround.values), name="withdrawal_ground_valid"),
            models.CheckConstraint(
                condition=~Q(ground__in=DOCUMENT_GROUNDS) | ~Q(document=""),
                name="withdrawal_document_attached",
                violation_error_message="A legal order or a death is withdrawn only with its document attached.",
            ),
            # Four eyes, held by the database: whoever decided is not who asked.
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=models.F("requested_by")),
                name="withdrawal_four_eyes",
                violation_error_message="The requester of a withdrawal cannot decide it.",
            ),
            models.CheckConstraint(
                condition=~Q(state=WithdrawalState.EXECUTED)
                | ~Q(ground=WithdrawalGround.HOLDER_REQUEST)
                | Q(holder_consented_at__isnull=False),
                name="withdrawal_holder_consented",
                violation_error_message="A withdrawal at the holder's request needs their consent by code.",
            ),
            # The in-person check counts only with a colleague's confirmation: never the
            # employee who captured it, nor the requester.
            models.CheckConstraint(
                condition=Q(holder_check_confirmed_by__isnull=True)
                | (
                    Q(holder_checked_by__isnull=False, holder_check_confirmed_at__isnull=False)
                    & ~Q(holder_check_photo="")
                    & ~Q(holder_check_confirmed_by=models.F("holder_checked_by"))
                    & ~Q(holder_check_confirmed_by=models.F("requested_by"))
                ),
                name="withdrawal_holder_check_second_employee",
                violation_error_message="The in-person check is confirmed by another employee than its capturer "
                "and the requester.",
            ),
            models.CheckConstraint(
                condition=(
                    ~Q(state__in=[WithdrawalState.EXECUTED, WithdrawalState.REJECTED])
                    | (Q(decided_by__isnull=False, decided_at__isnull=False) & ~Q(decision_reason=""))
                ),
                name="withdrawal_decision_recorded",
            ),
            models.CheckConstraint(
                condition=~Q(state=WithdrawalState.CANCELLED)
                | (Q(closed_at__isnull=False, decided_by__isnull=True) & ~Q(close_reason="")),
                name="withdrawal_closure_recorded",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "branch", "created_at"], name="withdrawal_queue_idx"),
        ]

    def __str__(self) -> str:
        return f"Withdrawal request #{self.pk}"

    @property
    def reference(self) -> str:
        """What staff and subscribers quote (SMS, screens, history): W-<id>."""
        return f"W-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_WITHDRAWAL_STATES


pre_save.connect(guard_service_written, sender=WithdrawalRequest, dispatch_uid="guard_WithdrawalRequest")


# --- Disputes by the holder ----------------------------------------------------------


class TransferDispute(UndeletableModel):
    """The holder said no to a transfer request by replying to its SMS notice.

    Kept beside the request (not as columns on it) so the request's chained history
    rows keep their hashes; the request shows "Disputed by the holder" through it.
    """

    request = models.OneToOneField(TransferRequest, on_delete=models.PROTECT, related_name="dispute")
    disputed_at = models.DateTimeField(default=timezone.now)
    sender = MsisdnField(help_text="The number the holder replied from: the number itself or their contact number.")
    reason = models.TextField(help_text="What the holder sent, and how it reached the portal.")

    history = AuditedHistoricalRecords()
    objects = ServiceWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["-disputed_at", "-id"]
        base_manager_name = "objects"
        verbose_name = "transfer dispute"

    def __str__(self) -> str:
        return f"Dispute of {self.request.reference}"


pre_save.connect(guard_service_written, sender=TransferDispute, dispatch_uid="guard_TransferDispute")


# --- Identity: consented changes and the compliance export ------------------------


class SubscriberChangeRequest(UndeletableModel):
    """A change of a holder's name, identity document or contact numbers.

    Who a number belongs to and where their consent is asked are what a takeover
    would rewrite first: the holder consents by a one-time code sent to a number
    they hold, the old contact number and every held number are told, and a
    supervisor of the branch who did not ask approves. The new document is kept
    like the subscriber's own (hash, last characters, sealed; no seal in history).
    """

    written_by = "the subscriber change services"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.PROTECT, related_name="change_requests")
    branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(
        max_length=20, choices=SubscriberChangeState.choices, default=SubscriberChangeState.AWAITING_CONSENT
    )
    changed_fields = models.CharField(max_length=200, help_text="The subscriber's fields this request changes.")
    new_full_name = models.CharField(max_length=200, blank=True)
    new_document_type = models.CharField(max_length=20, choices=IdentityDocumentType.choices, blank=True)
    new_document_hash = models.CharField(max_length=64, blank=True, editable=False)
    new_document_last4 = models.CharField(max_length=4, blank=True, editable=False)
    new_document_sealed = models.TextField(blank=True, editable=False)
    new_contact_msisdn = MsisdnField("new contact number", blank=True)
    new_alternate_msisdn = MsisdnField("new alternate contact number", blank=True)
    code_sent_to = MsisdnField(help_text="The held number the holder's one-time code went to.")
    code_hash = models.CharField(max_length=128, editable=False)
    code_expires_at = models.DateTimeField()
    code_attempts = models.PositiveSmallIntegerField(default=0)
    consented_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    request_reason = models.TextField()
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    history = AuditedHistoricalRecords(excluded_fields=["new_document_sealed"])
    objects = ServiceWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber"],
                condition=Q(state__in=OPEN_SUBSCRIBER_CHANGE_STATES),
                name="subscriber_change_one_open",
                violation_error_message="This subscriber already has an open change request.",
            ),
            models.CheckConstraint(
                condition=Q(state__in=SubscriberChangeState.values), name="subscriber_change_state_valid"
            ),
            # Applied only with the holder's code and a second employee's decision.
            models.CheckConstraint(
                condition=~Q(state=SubscriberChangeState.APPROVED)
                | (Q(consented_at__isnull=False, decided_by__isnull=False) & ~Q(decided_by=models.F("requested_by"))),
                name="subscriber_change_approved_by_another",
            ),
            models.CheckConstraint(
                condition=Q(state__in=OPEN_SUBSCRIBER_CHANGE_STATES)
                | (Q(decided_at__isnull=False) & ~Q(decision_reason="")),
                name="subscriber_change_decision_recorded",
            ),
        ]

    def __str__(self) -> str:
        return f"Subscriber change {self.reference}"

    @property
    def reference(self) -> str:
        return f"S-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_SUBSCRIBER_CHANGE_STATES

    @property
    def fields(self) -> list[str]:
        return [name for name in self.changed_fields.split(",") if name]

    @property
    def new_masked_document(self) -> str:
        return mask_last4(self.new_document_last4)


class IdentityExport(UndeletableModel):
    """A four-eyes compliance export of sealed document numbers (SIM registration).

    One employee asks, a second with the export authority (not a superuser alone)
    approves and receives the decrypted CSV once; the numbers are never stored here.
    """

    written_by = "the identity export services"

    subscribers = models.JSONField(help_text="Ids of the subscribers whose documents are exported.")
    state = models.CharField(max_length=12, choices=IdentityExportState.choices, default=IdentityExportState.REQUESTED)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    request_reason = models.TextField()
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    approve_reason = models.TextField(blank=True)

    history = AuditedHistoricalRecords()
    objects = ServiceWrittenQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        base_manager_name = "objects"
        permissions = [("export_identity", "Request or approve a compliance export of identity documents")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=IdentityExportState.values), name="identity_export_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(state=IdentityExportState.REQUESTED, approved_by__isnull=True)
                | (
                    Q(state=IdentityExportState.DELIVERED, approved_by__isnull=False, approved_at__isnull=False)
                    & ~Q(approved_by=models.F("requested_by"))
                    & ~Q(approve_reason="")
                ),
                name="identity_export_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return f"Identity export #{self.pk}"


for _model in (SubscriberChangeRequest, IdentityExport):
    pre_save.connect(guard_service_written, sender=_model, dispatch_uid=f"guard_{_model.__name__}")
