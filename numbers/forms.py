from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect

from backoffice.adminkit import ReasonField, ReasonModelForm

from .choices import TRANSITIONS, NumberStatus
from .fields import MsisdnField
from .models import MobileNumber, Subscriber, normalize_document_number
from .msisdn import normalize_msisdn


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
        return normalize_document_number(self.cleaned_data["id_document_number"])


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
        self.fields["to_status"].choices = [(s.value, s.label) for s in NumberStatus if s in allowed]


class BulkMoveForm(forms.Form):
    to_status = forms.ChoiceField(
        label="New status",
        choices=[(s.value, s.label) for s in NumberStatus if s != NumberStatus.ACTIVE]
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
