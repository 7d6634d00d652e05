"""Forms of the audit review: who and when to look at, and the case actions."""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone

from audit.choices import CaseOutcome, CaseState
from backoffice.adminkit import ReasonField, within_select_bound
from backoffice.screens import BoundedDateField

from . import selectors


class EmployeeChoiceField(forms.ModelChoiceField):
    """A select while the staff is small; past SELECT_OPTIONS_BOUND accounts a typed
    username (or the account id links carry), never a select of every account."""

    def label_from_instance(self, obj) -> str:
        full = obj.get_full_name()
        name = f"{obj.get_username()} ({full})" if full else obj.get_username()
        return name if obj.is_active else f"{name}, inactive"

    def bound_queryset(self, queryset) -> None:
        self.queryset = queryset
        if not within_select_bound(queryset):
            self.widget = forms.TextInput(attrs={"autocomplete": "off"})
            self.help_text = "Their username."

    def to_python(self, value):
        if isinstance(self.widget, forms.TextInput) and isinstance(value, str) and value.strip():
            user = self.queryset.filter(**{self.queryset.model.USERNAME_FIELD: value.strip()}).first()
            if user is not None:
                return user
            if not value.strip().isdigit():
                raise forms.ValidationError(f"No employee with the username {value.strip()!r}.", code="invalid_choice")
        return super().to_python(value)


class ReviewForm(forms.Form):
    """An employee, a period and optional filters (a GET form: bookmarkable, exportable)."""

    employee = EmployeeChoiceField(queryset=None, empty_label="Choose an employee")
    since = BoundedDateField(label="From", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    until = BoundedDateField(
        label="To", help_text="Both days included.", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    model = forms.ChoiceField(label="Record", required=False)
    action = forms.ChoiceField(label="Action", required=False, choices=[("", "Any"), *selectors.ACTION_CHOICES])

    DEFAULT_DAYS = 30

    def __init__(self, data=None, **kwargs):
        today = timezone.localdate()
        defaults = {"since": today - datetime.timedelta(days=self.DEFAULT_DAYS), "until": today}
        if data is not None:
            data = data.copy()
            for name, value in defaults.items():
                if not data.get(name):
                    data[name] = value.isoformat()
        kwargs.setdefault("initial", defaults)
        super().__init__(data, **kwargs)
        self.fields["employee"].bound_queryset(selectors.reviewable_users())
        self.fields["model"].choices = [("", "Any"), *selectors.model_choices()]

    def clean(self):
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The period starts after it ends: choose a From date on or before the To date.")
        return data

    # The period as aware datetimes: [start of From, start of the day after To).
    def period(self) -> tuple[datetime.datetime, datetime.datetime]:
        data = self.cleaned_data
        start = timezone.make_aware(datetime.datetime.combine(data["since"], datetime.time.min))
        end = timezone.make_aware(
            datetime.datetime.combine(data["until"] + datetime.timedelta(days=1), datetime.time.min)
        )
        return start, end

    def models(self) -> list[str]:
        return [self.cleaned_data["model"]] if self.cleaned_data.get("model") else []

    def actions(self) -> list[str]:
        return [self.cleaned_data["action"]] if self.cleaned_data.get("action") else []


class ObjectLookupForm(forms.Form):
    """Find a record's history: a number by its MSISDN, or any record by its kind and id."""

    msisdn = forms.CharField(label="Mobile number", required=False, max_length=30)
    model = forms.ChoiceField(label="Record", required=False)
    pk = forms.CharField(label="Id", required=False, max_length=40)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["model"].choices = [("", "Choose a kind of record"), *selectors.model_choices()]

    def clean(self):
        from backoffice.msisdn import normalize_msisdn

        data = super().clean()
        if data.get("msisdn"):
            data["msisdn"] = normalize_msisdn(data["msisdn"])  # InvalidMsisdn is a ValidationError
            return data
        if not (data.get("model") and (data.get("pk") or "").strip()):
            raise forms.ValidationError("Enter a mobile number, or choose a kind of record and give its id.")
        return data


class SuspendForm(forms.Form):
    """Suspend pending review from the employee's page; opens a case if none is open."""

    summary = forms.CharField(
        label="What they are accused of",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Needed when no case is open: a case is opened on their standing flags.",
    )
    reason = ReasonField(label="Reason for the suspension")

    def __init__(self, *args, needs_summary: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.needs_summary = needs_summary
        if not needs_summary:
            del self.fields["summary"]

    def clean_summary(self):
        summary = (self.cleaned_data.get("summary") or "").strip()
        if self.needs_summary and not summary:
            raise forms.ValidationError("Say what the employee is accused of: a case is opened with the suspension.")
        return summary


class OpenCaseForm(forms.Form):
    summary = forms.CharField(label="What they are accused of", widget=forms.Textarea(attrs={"rows": 3, "cols": 60}))
    flags = forms.ModelMultipleChoiceField(
        label="Flagged changes", queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )
    complaints = forms.ModelMultipleChoiceField(
        label="Complaints", queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )
    reason = ReasonField()

    def __init__(self, *args, employee, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["flags"].queryset = selectors.flags_for_grounds(employee)
        self.fields["flags"].label_from_instance = lambda flag: f"{flag.complaint.reference}: {flag.change_summary}"
        self.fields["complaints"].queryset = selectors.complaints_for_grounds(employee)


class CaseNoteForm(forms.Form):
    text = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=5000)


class CaseSuspendForm(forms.Form):
    reason = ReasonField(label="Reason for the suspension")


class CaseCloseForm(forms.Form):
    outcome = forms.ChoiceField(label="Outcome", choices=[("", "Choose an outcome"), *CaseOutcome.choices])
    reinstate = forms.BooleanField(
        label="Reinstate the employee",
        required=False,
        help_text="Gives back the roles, permissions and branch authority the suspension took.",
    )
    reason = ReasonField()


class CaseFilterForm(forms.Form):
    state = forms.ChoiceField(label="State", required=False, choices=[("", "Any"), *CaseState.choices])
