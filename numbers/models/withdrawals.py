"""Withdrawals by hand: a held number taken from its holder on a ground from a closed
list, approved by a second supervisor."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.signals import pre_save
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel

from ..choices import DOCUMENT_GROUNDS, OPEN_WITHDRAWAL_STATES, IdentityDocumentType, WithdrawalGround, WithdrawalState
from .branches import Branch
from .guards import ServiceWrittenQuerySet, guard_service_written
from .numbers import MobileNumber
from .subscribers import Subscriber


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
