"""Forms of the complaint screens: intake, and one small form per action on a
complaint's page, each with the reason that goes into the history.

Forms only collect and shape what staff type; the services decide (and check
authority again). A number is always found inside the user's branches, never
picked from a list of every number.
"""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from backoffice.adminkit import ReasonField
from backoffice.msisdn import format_msisdn, normalize_msisdn
from numbers.choices import IdentityDocumentType
from numbers.forms import MsisdnFormField
from numbers.models import Branch, MobileNumber, Subscriber, normalize_document_number
from numbers.selectors import number_list, subscriber_by_document
from staff.selectors import branch_scope

from .choices import (
    Channel,
    ComplaintCategory,
    Currency,
    OfferKind,
    Regulator,
    ResponseChannel,
    Severity,
)
from .money import parse_amount, require_within_maximum
from .services.handling import INTAKE_PERMS

SUBSCRIBER_EXISTING = "existing"
SUBSCRIBER_NEW = "new"
MAX_NUMBERS = 20
_NUMBER_SEPARATORS = re.compile(r"[\n,;]+")

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
DATETIME_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def can_take_complaints_in(user) -> bool:
    """The intake screen: the model permission, and intake authority in some branch."""
    return user.has_perm("complaints.add_complaint") and any(branch_scope(user, perm).anywhere for perm in INTAKE_PERMS)


def intake_branches(user):
    """The branches where ``user`` may take complaints in."""
    scopes = [branch_scope(user, perm) for perm in INTAKE_PERMS]
    if any(scope.everywhere for scope in scopes):
        return Branch.objects.filter(is_active=True)
    ids = set().union(*(scope.branch_ids for scope in scopes))
    return Branch.objects.filter(pk__in=sorted(ids), is_active=True)


def _number_label(number: MobileNumber) -> str:
    holder = f", held by {number.holder.full_name}" if number.holder_id else ""
    return f"{format_msisdn(number.msisdn)} ({number.get_status_display().lower()}{holder})"


# --- Intake ---------------------------------------------------------------------------


class ComplaintCreateForm(forms.Form):
    """A complaint as the customer tells it: who (found by identity document, or
    registered here), which numbers, what kind, how urgent, how it came in."""

    subscriber_mode = forms.ChoiceField(
        label="Complainant",
        choices=[
            (SUBSCRIBER_EXISTING, "Already a subscriber: find them by identity document"),
            (SUBSCRIBER_NEW, "Not yet a subscriber: register them now"),
        ],
        widget=forms.RadioSelect(attrs={"class": "radiolist"}),
        initial=SUBSCRIBER_EXISTING,
    )
    document_type = forms.ChoiceField(label="Identity document type", choices=IdentityDocumentType.choices)
    document_number = forms.CharField(
        label="Identity document number", max_length=40, help_text="Exact number; spaces and dashes are ignored."
    )
    full_name = forms.CharField(label="Full name", max_length=200, required=False, help_text="New subscriber only.")
    contact_msisdn = MsisdnFormField(
        label="Contact number",
        required=False,
        help_text="New subscriber only: where we send the complaint's SMS.",
    )
    identity_checked = forms.BooleanField(
        label="I have seen the complainant's identity document and it matches the details above",
        required=False,
        help_text="Required to register a new subscriber.",
    )
    msisdns = forms.CharField(
        label="Numbers concerned",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 40}),
        help_text="One or several, any format (012 345 678, +855 12 345 678), one a line or separated by commas. "
        "Required for an unauthorised transfer.",
    )
    branch = forms.ModelChoiceField(
        label="Branch",
        queryset=Branch.objects.none(),
        required=False,
        empty_label="The branch of the numbers concerned",
        help_text="Only needed when no number is named.",
    )
    category = forms.ChoiceField(label="Category", choices=ComplaintCategory.choices)
    severity = forms.ChoiceField(label="Severity", choices=Severity.choices, initial=Severity.MEDIUM)
    channel = forms.ChoiceField(label="Received through", choices=Channel.choices, initial=Channel.BRANCH)
    description = forms.CharField(
        label="Description",
        widget=forms.Textarea(attrs={"rows": 5, "cols": 60}),
        max_length=5000,
        help_text="What the customer says happened, in their words.",
    )
    received_at = forms.DateTimeField(
        label="Received at",
        required=False,
        widget=DATETIME_WIDGET,
        help_text="Leave empty for now. The SLA clocks start here; at most 90 days ago.",
    )
    reason = ReasonField(label="Intake note", help_text="Recorded in the history with your name; required.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.subscriber: Subscriber | None = None
        self.numbers: list[MobileNumber] = []
        self.fields["branch"].queryset = intake_branches(user)
        if not user.has_perm("numbers.add_subscriber"):
            # Complaint handlers do not register subscribers: only look one up.
            self.fields["subscriber_mode"].choices = self.fields["subscriber_mode"].choices[:1]
            for name in ("full_name", "contact_msisdn", "identity_checked"):
                del self.fields[name]

    @property
    def may_register(self) -> bool:
        return "full_name" in self.fields

    def clean_document_number(self):
        document = normalize_document_number(self.cleaned_data["document_number"])
        if not document:
            raise ValidationError("Enter the identity document number.")
        return document

    def clean_msisdns(self):
        raw = [part.strip() for part in _NUMBER_SEPARATORS.split(self.cleaned_data["msisdns"] or "") if part.strip()]
        if len(raw) > MAX_NUMBERS:
            raise ValidationError("At most %(max)s numbers on one complaint.", params={"max": MAX_NUMBERS})
        errors, msisdns = [], []
        for text in raw:
            try:
                msisdns.append(normalize_msisdn(text))
            except ValidationError as exc:
                errors.extend(exc.messages)
        if errors:
            raise ValidationError(errors)
        msisdns = list(dict.fromkeys(msisdns))
        found = {n.msisdn: n for n in number_list(user=self.user).filter(msisdn__in=msisdns)}
        missing = [msisdn for msisdn in msisdns if msisdn not in found]
        if missing:
            raise ValidationError(
                "No number %(msisdns)s in your branches.", params={"msisdns": ", ".join(map(format_msisdn, missing))}
            )
        self.numbers = [found[msisdn] for msisdn in msisdns]
        return msisdns

    def clean(self):
        data = super().clean()
        if data.get("category") == ComplaintCategory.UNAUTHORISED_TRANSFER and "msisdns" in data and not self.numbers:
            self.add_error("msisdns", "Name the number that was transferred without authority.")
        if not self.numbers and not data.get("branch") and "msisdns" in data:
            self.add_error("branch", "Choose the branch that handles this complaint, or name a number.")
        received_at = data.get("received_at")
        if received_at and received_at > timezone.now():
            self.add_error("received_at", "The complaint cannot have been received in the future.")
        self._clean_complainant(data)
        return data

    def _clean_complainant(self, data) -> None:
        mode, document_type, document = (
            data.get("subscriber_mode"),
            data.get("document_type"),
            data.get("document_number"),
        )
        if not (mode and document_type and document):
            return
        found = subscriber_by_document(document_type=document_type, document_number=document)
        if mode == SUBSCRIBER_EXISTING:
            if found is None:
                hint = " Check it, or register the complainant." if self.may_register else " Check it."
                self.add_error("document_number", "No subscriber has this identity document." + hint)
            self.subscriber = found
            return
        if found is not None:
            self.add_error(
                "document_number",
                'A subscriber with this identity document already exists: choose "Already a subscriber".',
            )
        if not (data.get("full_name") or "").strip():
            self.add_error("full_name", "Enter the complainant's full name.")
        if not data.get("identity_checked"):
            self.add_error("identity_checked", "Check the complainant's identity document before registering them.")

    @property
    def registers_subscriber(self) -> bool:
        return self.cleaned_data.get("subscriber_mode") == SUBSCRIBER_NEW

    @property
    def chosen_branch(self) -> Branch | None:
        return self.cleaned_data.get("branch") or (self.numbers[0].branch if self.numbers else None)


# --- Actions on a complaint --------------------------------------------------------------


class ComplaintReasonForm(forms.Form):
    """Acknowledge, investigate, take, close, reopen, lift, approve, reject, withdraw: each asks why."""

    reason = ReasonField()


class NoteForm(forms.Form):
    reason = ReasonField(label="Note", help_text="Goes on the complaint's timeline with your name.", max_length=2000)


class ResolveForm(forms.Form):
    reason = ReasonField(
        label="Resolution",
        help_text="What was done for the customer; they are told by SMS that the complaint is resolved.",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(label="Handler", queryset=None, empty_label=None)
    reason = ReasonField()

    def __init__(self, *args, handlers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = handlers
        self.fields["assignee"].label_from_instance = lambda user: (
            f"{user.get_full_name() or user.get_username()} ({user.get_username()})"
        )


class AddNumberForm(forms.Form):
    msisdn = MsisdnFormField(label="Number", help_text="Any format; a number of the complaint's branch.")
    reason = ReasonField()

    def __init__(self, *args, complaint, **kwargs):
        super().__init__(*args, **kwargs)
        self.complaint = complaint
        self.chosen_number: MobileNumber | None = None

    def clean_msisdn(self):
        msisdn = self.cleaned_data["msisdn"]
        self.chosen_number = MobileNumber.objects.filter(msisdn=msisdn, branch_id=self.complaint.branch_id).first()
        if self.chosen_number is None:
            raise ValidationError(
                "No number %(msisdn)s in %(branch)s.",
                params={"msisdn": format_msisdn(msisdn), "branch": self.complaint.branch},
            )
        return msisdn


class NumberChoiceForm(forms.Form):
    """Block a number, or ask for its restoration: one of the complaint's numbers."""

    number = forms.TypedChoiceField(label="Number", coerce=int, choices=())
    reason = ReasonField()

    def __init__(self, *args, numbers, **kwargs):
        super().__init__(*args, **kwargs)
        self.by_pk = {number.pk: number for number in numbers}
        self.fields["number"].choices = [(number.pk, _number_label(number)) for number in numbers]

    @property
    def chosen_number(self) -> MobileNumber:
        return self.by_pk[self.cleaned_data["number"]]


class OfferProposeForm(forms.Form):
    kind = forms.ChoiceField(label="Kind", choices=OfferKind.choices)
    amount = forms.CharField(label="Amount", max_length=20, help_text="E.g. 25.00 USD or 100000 KHR.")
    currency = forms.ChoiceField(label="Currency", choices=Currency.choices, initial=Currency.USD)
    description = forms.CharField(
        label="What exactly is offered",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
    )
    valid_days = forms.IntegerField(
        label="Valid for (days)",
        required=False,
        min_value=1,
        max_value=90,
        help_text=f"Leave empty for {settings.COMPLAINTS_OFFER_VALID_DAYS} days.",
    )
    reason = ReasonField()

    def clean(self):
        data = super().clean()
        if data.get("amount") and data.get("currency"):
            try:
                data["amount"] = parse_amount(data["amount"], data["currency"])
                require_within_maximum(data["amount"], data["currency"])
            except ValidationError as exc:
                self.add_error("amount", exc)
        return data


class OfferMakeForm(forms.Form):
    channel = forms.ChoiceField(label="Made to the customer", choices=ResponseChannel.choices)
    reason = ReasonField()


ACCEPTED, DECLINED = "accepted", "declined"


class OfferResponseForm(forms.Form):
    answer = forms.ChoiceField(
        label="The customer",
        choices=[(ACCEPTED, "Accepted the offer"), (DECLINED, "Declined the offer")],
        widget=forms.RadioSelect(attrs={"class": "radiolist"}),
    )
    channel = forms.ChoiceField(label="Answered through", choices=ResponseChannel.choices)
    responded_at = forms.DateTimeField(
        label="Answered at", required=False, widget=DATETIME_WIDGET, help_text="Leave empty for now."
    )
    reason = ReasonField(label="What the customer said", max_length=2000)

    @property
    def accepted(self) -> bool:
        return self.cleaned_data["answer"] == ACCEPTED


class RegulatorCaseForm(forms.Form):
    regulator = forms.ChoiceField(label="Regulator", choices=Regulator.choices)
    case_number = forms.CharField(label="Case number", max_length=60)
    notified_on = forms.DateField(label="Date notified", widget=DATE_WIDGET)
    note = forms.CharField(
        label="Note", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2, "cols": 60})
    )
    reason = ReasonField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["regulator"].initial = settings.COMPLAINTS_DEFAULT_REGULATOR
        self.fields["notified_on"].initial = timezone.localdate()


class RegulatorResponseForm(forms.Form):
    responded_on = forms.DateField(label="Date sent", widget=DATE_WIDGET)
    summary = forms.CharField(
        label="What was sent", max_length=5000, widget=forms.Textarea(attrs={"rows": 3, "cols": 60})
    )
    reason = ReasonField()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["responded_on"].initial = timezone.localdate()


class EmployeeFlagForm(forms.Form):
    change = forms.ChoiceField(
        label="The employee's change",
        choices=(),
        help_text="A change to one of the complaint's numbers; the flag names who made it.",
    )
    reason = ReasonField(label="Why this change caused the complaint")

    def __init__(self, *args, changes, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["change"].choices = list(changes)
