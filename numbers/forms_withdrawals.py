"""The withdrawal screens' forms: they collect, the withdrawal services judge."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from backoffice.adminkit import ReasonField

from .choices import IdentityDocumentType, WithdrawalGround
from .forms import MsisdnFormField
from .models import MobileNumber
from .selectors import number_list


class WithdrawalCreateForm(forms.Form):
    """A withdrawal request. The number is looked up only in the branches where the
    user works the counter, so a number elsewhere is "not found", not leaked."""

    msisdn = MsisdnFormField(label="Number to withdraw", help_text="Any format, e.g. 012 345 678 or +855 12 345 678.")
    ground = forms.ChoiceField(
        label="Ground",
        choices=WithdrawalGround.choices,
        widget=forms.RadioSelect,
        help_text="Inactivity is not a ground: the lifecycle job handles it on its own timetable.",
    )
    document = forms.FileField(
        label="Order or evidence",
        required=False,
        help_text="Required for a legal or fraud order and for a death: PDF, JPEG or PNG scan, at most 10 MB.",
    )
    reason = ReasonField()

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.number: MobileNumber | None = None

    def clean_msisdn(self):
        msisdn = self.cleaned_data["msisdn"]
        self.number = number_list(user=self.user, perm="operate_branch").filter(msisdn=msisdn).first()
        if self.number is None:
            raise ValidationError(
                "No number %(msisdn)s in the branches where you may request withdrawals.", params={"msisdn": msisdn}
            )
        return msisdn


class WithdrawalCodeForm(forms.Form):
    """The code the holder reads back; the service judges it (and counts wrong tries)."""

    code = forms.CharField(label="Code read back by the holder", max_length=12)
    reason = ReasonField()


class WithdrawalReasonForm(forms.Form):
    """Send a code, cancel, approve or reject: each asks why."""

    reason = ReasonField()


class WithdrawalInPersonForm(forms.Form):
    """The holder at the counter without the SIM: the document shown and its photo."""

    document_type = forms.ChoiceField(label="Identity document type", choices=IdentityDocumentType.choices)
    document_number = forms.CharField(label="Identity document number shown", max_length=40)
    document_photo = forms.FileField(
        label="Photo of the document shown",
        required=False,  # the service requires it and says so
        help_text="JPEG or PNG, at most 10 MB. Only reviewers can open it.",
    )
    reason = ReasonField()


class WithdrawalReinstateForm(forms.Form):
    """Give the number back to its last holder; the service checks who that is."""

    subscriber = forms.IntegerField(widget=forms.HiddenInput)
    reason = ReasonField()
