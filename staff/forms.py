from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password

from backoffice.adminkit import ReasonField

from .branches import branch_model
from .choices import Role
from .models import Employee


class EmployeeForm(forms.ModelForm):
    """One form for the employee record, its roles and branches; saved by staff.services."""

    username = forms.CharField(max_length=150, required=False, help_text="Only when adding an employee.")
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    password = forms.CharField(widget=forms.PasswordInput, required=False, help_text="Only when adding.")
    roles = forms.MultipleChoiceField(choices=Role.choices, widget=forms.CheckboxSelectMultiple)
    branches = forms.ModelMultipleChoiceField(
        queryset=branch_model().objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    change_reason = ReasonField()

    class Meta:
        model = Employee
        fields = ["employee_code"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            user = self.instance.user
            self.fields["username"].disabled = True
            self.fields["password"].disabled = True
            self.fields["first_name"].disabled = True
            self.fields["last_name"].disabled = True
            self.initial.update(
                username=user.username,
                first_name=user.first_name,
                last_name=user.last_name,
                roles=[g.name for g in user.groups.all() if g.name in Role.values],
                branches=list(self.instance.branches.all()),
            )

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk:
            username = cleaned.get("username")
            if not username:
                self.add_error("username", "Enter a user name for the new employee.")
            elif get_user_model().objects.filter(username=username).exists():
                self.add_error("username", "This user name is taken.")
            if cleaned.get("password"):
                validate_password(cleaned["password"])
        return cleaned
