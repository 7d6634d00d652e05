from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError

from backoffice.adminkit import ReasonField, ReasonModelForm
from backoffice.fields import MsisdnField
from backoffice.msisdn import normalize_msisdn

from .choices import (
    HELD_STATUSES,
    TRANSITIONS,
    ConsentParty,
    IdentityDocumentType,
    NumberStatus,
    TransferState,
    is_withdrawal,
)
from .models import MobileNumber, Subscriber, normalize_document_number
from .selectors import number_list, subscriber_by_document


class MsisdnFormField(forms.CharField):
    """Accepts any format staff type; cleans to E.164 with a clear error."""

    def clean(self, value):
        value = super().clean(value)
        if value in self.empty_values:
            return value
        return normalize_msisdn(value)


class NumberAddForm(ReasonModelForm):
    msisdn = MsisdnFormField(label="MSISDN", help_text="Any format, e.g. 012 345 678 or +855 12 345 678.")

    class Meta:
        model = MobileNumber
        fields = ["msisdn", "branch"]


class SubscriberForm(ReasonModelForm):
    """The document number is typed, never shown: the record keeps its keyed hash,
    its last characters and a sealed copy (numbers/identity.py)."""

    id_document_number = forms.CharField(
        label="Identity document number",
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Only the last four characters are ever shown again. On a change, leave empty to keep it.",
    )
    contact_msisdn = MsisdnFormField(label="Contact number", required=False)
    alternate_msisdn = MsisdnFormField(label="Alternate contact number", required=False)

    class Meta:
        model = Subscriber
        fields = [
            "full_name",
            "id_document_type",
            "id_document_number",
            "contact_msisdn",
            "alternate_msisdn",
            "registered_branch",
        ]

    def clean_id_document_number(self):
        document = normalize_document_number(self.cleaned_data["id_document_number"])
        if not document and self.instance.pk is None:
            raise ValidationError("Enter the identity document number.", code="document_required")
        return document

    def clean(self):
        cleaned = super().clean()
        document, document_type = cleaned.get("id_document_number"), cleaned.get("id_document_type")
        if document and document_type:
            existing = subscriber_by_document(document_type=document_type, document_number=document)
            if existing is not None and existing.pk != self.instance.pk:
                raise ValidationError("A subscriber with this identity document already exists.", code="duplicate")
        return cleaned


class HolderSubscriberForm(ReasonModelForm):
    """A holder's page: name, document and contacts are read-only (a change request changes them)."""

    class Meta:
        model = Subscriber
        fields = ["registered_branch"]


class MoveForm(forms.Form):
    """A lifecycle move of one number; the choices are the moves its state allows."""

    to_status = forms.ChoiceField(label="New status")
    reason = ReasonField()

    def __init__(self, *args, from_status: str, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = TRANSITIONS.get(from_status, frozenset())
        # A sale has its own form: it needs a subscriber.
        if from_status in (NumberStatus.AVAILABLE, NumberStatus.RESERVED):
            allowed = allowed - {NumberStatus.ACTIVE}
        # A held number is withdrawn only by an approved withdrawal request (or the lifecycle job).
        allowed = {to for to in allowed if not is_withdrawal(from_status, to)}
        self.fields["to_status"].choices = [(s.value, s.label) for s in NumberStatus if s in allowed]
        if from_status in HELD_STATUSES:
            self.fields["to_status"].error_messages["invalid_choice"] = (
                "'%(value)s' is not a move offered from this state. A held number is never withdrawn by a status "
                "change, whoever asks: request a withdrawal instead (a second supervisor approves it and the "
                "holder is told by SMS)."
            )


class BulkMoveForm(forms.Form):
    to_status = forms.ChoiceField(
        label="New status",
        # No "withdrawn": it is reached only from a held state, by a withdrawal request.
        choices=[(s.value, s.label) for s in NumberStatus if s not in (NumberStatus.ACTIVE, NumberStatus.WITHDRAWN)]
        + [(NumberStatus.ACTIVE.value, "Active (reactivate or unblock; not a sale)")],
    )
    reason = ReasonField()


class SellForm(forms.Form):
    # An autocomplete, never a select of every subscriber (100k options took 8.7 s).
    subscriber = forms.ModelChoiceField(
        queryset=Subscriber.objects.all(),
        widget=AutocompleteSelect(MobileNumber._meta.get_field("holder"), admin.site),
    )
    reason = ReasonField(initial="New sale at the counter")


__all__ = ["MsisdnField", "MsisdnFormField", "NumberAddForm", "SubscriberForm", "MoveForm", "BulkMoveForm", "SellForm"]


# --- Transfer screens ---


class TransferFilterForm(forms.Form):
    """The transfer list's filters (GET)."""

    state = forms.ChoiceField(choices=[("", "Any state"), *TransferState.choices], required=False)
    mine = forms.BooleanField(label="Only requests I made", required=False)


SUBSCRIBER_EXISTING = "existing"
SUBSCRIBER_NEW = "new"


class TransferCreateForm(forms.Form):
    """A transfer request: the number, the new subscriber (found by identity document,
    never picked from a list of 100k, or registered here) and why.

    The number is looked up only in the branches where the user may request
    transfers (operate_branch), so a number elsewhere is "not found", not leaked.
    """

    msisdn = MsisdnFormField(label="Number to transfer", help_text="Any format, e.g. 012 345 678 or +855 12 345 678.")
    subscriber_mode = forms.ChoiceField(
        label="New subscriber",
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
    contact_msisdn = MsisdnFormField(label="Contact number", required=False, help_text="New subscriber only.")
    identity_checked = forms.BooleanField(
        label="I have seen the new subscriber's identity document and it matches the details above",
        required=False,
        help_text="Required to register a new subscriber.",
    )
    reason = ReasonField(label="Reason for the transfer")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.number: MobileNumber | None = None
        self.subscriber: Subscriber | None = None

    def clean_msisdn(self):
        msisdn = self.cleaned_data["msisdn"]
        self.number = number_list(user=self.user, perm="operate_branch").filter(msisdn=msisdn).first()
        if self.number is None:
            raise ValidationError(
                "No number %(msisdn)s in the branches where you may request transfers.", params={"msisdn": msisdn}
            )
        return msisdn

    def clean_document_number(self):
        document = normalize_document_number(self.cleaned_data["document_number"])
        if not document:
            raise ValidationError("Enter the identity document number.")
        return document

    def clean(self):
        data = super().clean()
        mode, document_type = data.get("subscriber_mode"), data.get("document_type")
        document = data.get("document_number")
        if not (mode and document_type and document):
            return data
        found = subscriber_by_document(document_type=document_type, document_number=document)
        if mode == SUBSCRIBER_EXISTING:
            if found is None:
                self.add_error(
                    "document_number",
                    "No subscriber has this identity document. Check it, or register the new subscriber.",
                )
            self.subscriber = found
            return data
        if found is not None:
            self.add_error(
                "document_number",
                'A subscriber with this identity document already exists: choose "Already a subscriber".',
            )
        if not (data.get("full_name") or "").strip():
            self.add_error("full_name", "Enter the new subscriber's full name.")
        if not data.get("identity_checked"):
            self.add_error("identity_checked", "Check the new subscriber's identity document before registering them.")
        return data

    @property
    def registers_subscriber(self) -> bool:
        return self.cleaned_data.get("subscriber_mode") == SUBSCRIBER_NEW


class _PartyForm(forms.Form):
    """Whose consent: the choices can be narrowed to the parties still missing one."""

    party = forms.ChoiceField(label="Whose consent", choices=ConsentParty.choices)

    def __init__(self, *args, parties=None, **kwargs):
        super().__init__(*args, **kwargs)
        if parties is not None:
            self.fields["party"].choices = [(value, label) for value, label in ConsentParty.choices if value in parties]


class ConsentInPersonForm(_PartyForm):
    """A party at the counter shows the identity document on record."""

    document_type = forms.ChoiceField(label="Identity document type", choices=IdentityDocumentType.choices)
    document_number = forms.CharField(label="Identity document number shown", max_length=40)
    document_photo = forms.FileField(
        label="Photo of the document shown",
        required=False,  # the service requires it for the current holder
        help_text="Required for the current holder: JPEG or PNG, at most 10 MB. Only reviewers can open it.",
    )
    reason = ReasonField()


class ConsentSignedFormForm(_PartyForm):
    """A consent form signed by the party, scanned and uploaded as evidence.

    The service checks what the file really is (and its size); the form only collects it.
    """

    signed_form = forms.FileField(
        label="Signed consent form",
        help_text="PDF, JPEG or PNG scan, at most 10 MB. Kept as evidence, never published.",
    )
    reason = ReasonField()


class ConsentCodeVerifyForm(forms.Form):
    """The code the holder reads back; the service judges it (and counts wrong tries)."""

    code = forms.CharField(label="Code read back by the holder", max_length=12)
    reason = ReasonField()


class TransferReasonForm(forms.Form):
    """Send a code, revoke a consent, cancel, approve or reject: each asks why."""

    reason = ReasonField()


# --- Transfer locks ---


class TransferLockForm(forms.Form):
    """The holder asks for their number to be locked against transfers."""

    reason = ReasonField(initial="Holder asked at the counter to lock the number against transfers")


class TransferLiftForm(forms.Form):
    """Only the holder lifts their lock: the document they show must be the one on record."""

    document_type = forms.ChoiceField(label="Identity document type shown", choices=IdentityDocumentType.choices)
    document_number = forms.CharField(
        label="Identity document number shown",
        max_length=40,
        help_text="Type it from the document the holder shows in person; spaces and dashes are ignored.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    reason = ReasonField()


# --- The disconnection register ---


class DisconnectionCheckForm(forms.Form):
    """Has this number been disconnected since the day consent to text it was given?"""

    msisdn = forms.CharField(
        label="Phone number", max_length=32, help_text="Any usual form: 012 345 678, +85512345678."
    )
    since = forms.DateField(
        label="Consent given on",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="The day the caller last knew the number to be their customer's.",
    )

    def clean_msisdn(self) -> str:
        return normalize_msisdn(self.cleaned_data["msisdn"])

    def clean_since(self):
        from django.utils import timezone

        since = self.cleaned_data["since"]
        if since > timezone.localdate():
            raise ValidationError("The date cannot be in the future.")
        return since


class SubscriberChangeRequestForm(forms.Form):
    """A holder's new details; the one-time code goes to a number they hold."""

    full_name = forms.CharField(label="Full name", max_length=200)
    id_document_type = forms.ChoiceField(label="Identity document type", choices=IdentityDocumentType.choices)
    id_document_number = forms.CharField(
        label="New identity document number",
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Leave empty to keep the document on record.",
    )
    contact_msisdn = MsisdnFormField(label="Contact number", required=False)
    alternate_msisdn = MsisdnFormField(label="Alternate contact number", required=False)
    code_to = forms.ChoiceField(label="Send the holder's code to", help_text="A number the subscriber holds.")
    reason = ReasonField()

    def __init__(self, *args, held: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code_to"].choices = [(msisdn, msisdn) for msisdn in held]

    def changes(self) -> dict:
        data = self.cleaned_data
        changes = {field: data[field] or "" for field in ("full_name", "id_document_type")}
        changes["contact_msisdn"] = data.get("contact_msisdn") or ""
        changes["alternate_msisdn"] = data.get("alternate_msisdn") or ""
        if data.get("id_document_number"):
            changes["id_document_number"] = data["id_document_number"]
        return changes


class ChangeCodeForm(forms.Form):
    code = forms.CharField(
        label="Code the holder read back", max_length=6, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    reason = ReasonField()
