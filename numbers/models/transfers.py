"""Transfers of a held number to another subscriber: the request, the one-time codes,
both subscribers' consents and the locks a holder puts on their number."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.signals import pre_save
from django.utils import timezone

from audit.history import AuditedHistoricalRecords
from backoffice.evidence import UndeletableModel
from backoffice.fields import MsisdnField

from ..choices import OPEN_TRANSFER_STATES, ConsentMethod, ConsentParty, IdentityDocumentType, TransferState
from .branches import Branch
from .guards import ServiceWrittenQuerySet, guard_service_written
from .numbers import MobileNumber
from .subscribers import Subscriber


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
