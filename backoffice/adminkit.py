"""Admin building blocks shared by every app: capped counts, no deletes, a reason
on every change, service errors shown as messages, history pages scoped like the
change page, no select of a big table."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers, widgets
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.urls import NoReverseMatch, reverse
from django.utils.encoding import force_str
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


def within_select_bound(queryset) -> bool:
    """Whether a select over ``queryset`` stays within SELECT_OPTIONS_BOUND options
    (one LIMIT query, never a COUNT over the table)."""
    bound = settings.SELECT_OPTIONS_BOUND
    return queryset.order_by()[: bound + 1].count() <= bound


class BoundedChoicesMixin:
    """A foreign key over a big table is asked for by id, never as a select of every
    row: a select of every number or subscriber is a million options at scale."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if self._needs_raw_id(db_field, request, field):
            field.widget = widgets.ForeignKeyRawIdWidget(db_field.remote_field, self.admin_site)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if self._needs_raw_id(db_field, request, field):
            field.widget = widgets.ManyToManyRawIdWidget(db_field.remote_field, self.admin_site)
        return field

    def _needs_raw_id(self, db_field, request, field) -> bool:
        if field is None or db_field.name in (*self.raw_id_fields, *self.get_autocomplete_fields(request)):
            return False
        if isinstance(field.widget, forms.CheckboxSelectMultiple):
            return False
        return not within_select_bound(field.queryset)


class ScopedHistoryMixin:
    """The history pages of an object are its change page's past: the same scope
    (get_queryset) and the same permission (has_view_or_change_permission), or a 404.

    simple-history looks the object up in its history table, outside get_queryset,
    so without this a user of branch B read branch A's holdings version by version.
    A version page shows every field read-only, as the change page does for a
    reader: no form, so no select of every related row."""

    def history_object(self, request, object_id):
        """The object as its change page would find it, or a 404 (403 without permission)."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with this id in your scope.")
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def history_view(self, request, object_id, extra_context=None):
        self.history_object(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_version(self, request, obj, version_id):
        """The historical record ``version_id`` of ``obj``; a version of another object is a 404."""
        history = getattr(self.model, self.opts.simple_history_manager_attribute)
        try:
            return history.get(**{self.opts.pk.attname: obj.pk, "history_id": version_id})
        except (history.model.DoesNotExist, ValueError, ValidationError):
            raise Http404("No such version of this object.") from None

    def history_version_viewed(self, request, obj, version) -> None:
        """Called once a version page is shown (for an access log); nothing by default."""

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        """History is read, never replayed. simple-history saves a POST to this view
        ("revert") with only view permission, whatever SIMPLE_HISTORY_REVERT_DISABLED
        says (that setting only hides the button)."""
        if request.method != "GET":
            raise PermissionDenied
        request.current_app = self.admin_site.name
        current = self.history_object(request, object_id)
        record = self.history_version(request, current, version_id)
        obj = record.instance
        obj._state.adding = False
        if not self.has_view_history_or_change_history_permission(request, obj):
            raise PermissionDenied
        fieldsets = self.get_fieldsets(request, obj)
        shown = flatten_fieldsets(fieldsets)
        # Every field read-only: the form keeps no model field, so renders no widget.
        form = self.get_form(request, obj, change=True, fields=shown, exclude=shown)(instance=obj)
        admin_form = helpers.AdminForm(form, fieldsets, {}, shown, model_admin=self)
        opts = self.opts
        prefix = f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}"
        context = {
            **self.admin_site.each_context(request),
            "title": self.history_form_view_title(request, obj),
            "adminform": admin_form,
            "object_id": object_id,
            "original": obj,
            "is_popup": False,
            "media": self.media + admin_form.media,
            "errors": helpers.AdminErrorList(form, []),
            "app_label": opts.app_label,
            "original_opts": opts,
            "changelist_url": reverse(f"{prefix}_changelist"),
            "change_url": reverse(f"{prefix}_change", args=(current.pk,)),
            "history_url": reverse(f"{prefix}_history", args=(current.pk,)),
            "change_history": False,
            "revert_disabled": True,
            "add": False,
            "change": True,
            "has_add_permission": False,
            "has_view_permission": True,
            "has_change_permission": False,
            "has_delete_permission": False,
            "has_editable_inline_admin_formsets": False,
            "has_file_field": False,
            "has_absolute_url": False,
            "form_url": "",
            "opts": record._meta,
            "content_type_id": self.content_type_model_cls.objects.get_for_model(self.model).id,
            "save_as": False,
            "save_on_top": False,
            "root_path": getattr(self.admin_site, "root_path", None),
            **(extra_context or {}),
        }
        response = self.render_history_view(request, self.object_history_form_template, context)
        self.history_version_viewed(request, current, obj)
        return response

    def history_form_view_title(self, request, obj):
        return f"View {force_str(obj)}"


class PortalModelAdmin(NoDeleteAdminMixin, ScopedHistoryMixin, BoundedChoicesMixin, SimpleHistoryAdmin):
    """Defaults for million-row tables and for evidence that is never deleted."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    form = ReasonModelForm

    def save_model(self, request, obj, form, change):
        stamp_change(obj, actor=request.user, reason=form.cleaned_data.get("change_reason", ""))
        super().save_model(request, obj, form, change)

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


def screen_url(name: str, *args, query: dict | None = None) -> str | None:
    """The URL of a staff screen, or None while that screen is not installed."""
    try:
        url = reverse(name, args=args)
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode(query)}" if query else url
