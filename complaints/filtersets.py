"""The complaint queue's filters: a plain GET form, validated like any other."""

from __future__ import annotations

from django import forms

from .choices import ComplaintCategory, ComplaintState, SlaStatus

QUEUE_MINE = "mine"
QUEUE_BRANCH = "branch"
QUEUES = [(QUEUE_MINE, "My queue"), (QUEUE_BRANCH, "Branch queue")]
OPEN = "open"


class ComplaintFilterForm(forms.Form):
    """Which queue, which states, which clocks, which category, and a search box.

    ``state`` is "open" when the parameter is missing (the view fills it in), and
    "" (any state) only when chosen.
    """

    queue = forms.ChoiceField(choices=QUEUES, required=False, widget=forms.HiddenInput)
    state = forms.ChoiceField(
        label="State",
        choices=[(OPEN, "Open (any open state)"), ("", "Any state"), *ComplaintState.choices],
        required=False,
    )
    sla = forms.ChoiceField(label="SLA", choices=[("", "Any SLA status"), *SlaStatus.choices], required=False)
    category = forms.ChoiceField(
        label="Category", choices=[("", "Any category"), *ComplaintCategory.choices], required=False
    )
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        help_text="Reference (C-…), MSISDN in any format, subscriber's name or identity document.",
        widget=forms.TextInput(attrs={"id": "searchbar", "size": 30}),
    )
