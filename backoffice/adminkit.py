"""Admin building blocks shared by every app: capped counts, no deletes, a reason
on every change, service errors shown as messages."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseRedirect
from django.utils.functional import cached_property
from simple_history.admin import SimpleHistoryAdmin

from audit.context import record_refusal

from .history import stamp_change


class CappedCountPaginator(Paginator):
    """Counts at most ADMIN_COUNT_CAP rows.

    COUNT(*) over a million numbers costs more than the page it describes, and
    pages deep in an OFFSET scan are slow anyway: staff search instead.
    """

    @cached_property
    def cap(self) -> int:
        return settings.ADMIN_COUNT_CAP

    @cached_property
    def count(self) -> int:
        object_list = self.object_list
        if hasattr(object_list, "order_by"):
            return object_list.order_by()[: self.cap + 1].count()
        return min(len(object_list), self.cap + 1)

    @property
    def is_capped(self) -> bool:
        return self.count > self.cap


class ReasonField(forms.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Reason for this change")
        kwargs.setdefault("help_text", "Recorded in the history with your name; required.")
        kwargs.setdefault("widget", forms.Textarea(attrs={"rows": 2, "cols": 60}))
        kwargs.setdefault("max_length", 500)
        super().__init__(**kwargs)

    def clean(self, value):
        value = super().clean(value)
        if not value.strip():
            raise ValidationError("A reason is required.")
        return value.strip()


class ReasonModelForm(forms.ModelForm):
    """Every admin change form asks why; the answer becomes the history's change reason."""

    change_reason = ReasonField()


class ReasonForm(forms.Form):
    """The intermediate page of a bulk action or a lifecycle button."""

    reason = ReasonField()


def report_service_error(request, exc: Exception, prefix: str = "") -> None:
    if isinstance(exc, ValidationError):
        text = " ".join(exc.messages)
    else:
        text = str(exc) or "You do not have permission to do that."
    messages.error(request, f"{prefix}{text}")


class NoDeleteAdminMixin:
    """Evidence and accounts are never deleted from the admin, singly or in bulk."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


class PortalModelAdmin(NoDeleteAdminMixin, SimpleHistoryAdmin):
    """Defaults for million-row tables and for evidence that is never deleted."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    form = ReasonModelForm

    def save_model(self, request, obj, form, change):
        stamp_change(obj, actor=request.user, reason=form.cleaned_data.get("change_reason", ""))
        super().save_model(request, obj, form, change)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        """History is read, never replayed. simple-history saves a POST to this view
        ("revert") with only view permission, whatever SIMPLE_HISTORY_REVERT_DISABLED
        says (that setting only hides the button)."""
        if request.method != "GET":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def save_form(self, request, form, change):
        # From here on (save_model, save_related) a refusal comes from a service.
        request._portal_saving = True
        return super().save_form(request, form, change)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """A refusal raised by a service in save_model becomes a message, not a 500.

        The admin's own permission checks (before the form is saved) stay a 403:
        turning them into a redirect to the same URL would loop on GET.
        """
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (ValidationError, PermissionDenied) as exc:
            if not getattr(request, "_portal_saving", False):
                raise
            # Rolled back by now: a refusal no service kept (a model guard's) is kept here.
            try:
                target = self.model._base_manager.filter(pk=object_id).first() if object_id else None
            except (ValueError, ValidationError):
                target = None
            record_refusal(service=f"admin: {self.opts.label_lower}", error=exc, actor=request.user, target=target)
            report_service_error(request, exc)
            return HttpResponseRedirect(request.get_full_path())


def standing_filter(
    *, field: str, title: str, standing: tuple[str, str], ended: tuple[str, str]
) -> type[admin.SimpleListFilter]:
    """A list filter on a record that stands until ``field`` (a timestamp) is set:
    a lock until lifted, a block until lifted, a flag until withdrawn. ``standing``
    and ``ended`` are (URL value, label)."""

    class StandingFilter(admin.SimpleListFilter):
        parameter_name = title

        def lookups(self, request, model_admin):
            return [standing, ended]

        def queryset(self, request, queryset):
            if self.value() in (standing[0], ended[0]):
                return queryset.filter(**{f"{field}__isnull": self.value() == standing[0]})
            return queryset

    StandingFilter.title = title
    return StandingFilter
