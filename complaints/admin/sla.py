"""The SLA configuration (working calendars and holidays, SLA tables and rules): edited
here by administrators, each change with a reason kept in the history; calendars,
tables and rules are never deleted (holidays may be). A table is made active with the
"Make this the active table" box (sla_table_activate); complaints already received
keep their deadlines."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from backoffice.adminkit import PortalModelAdmin, ReasonModelForm
from backoffice.history import stamp_change

from .. import services
from ..models import Holiday, SlaRule, SlaTable, WorkingCalendar


class ConfigurationAdmin(PortalModelAdmin):
    """The reason asked on the page is stamped on every row it saves, inline rows
    (and deleted holidays) included, so the history says who changed what and why."""

    def save_formset(self, request, form, formset, change):
        reason = form.cleaned_data["change_reason"]
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            stamp_change(obj, actor=request.user, reason=reason)
            obj.delete()
        for obj in instances:
            stamp_change(obj, actor=request.user, reason=reason)
            obj.save()
        formset.save_m2m()


class ConfigurationInline(admin.TabularInline):
    extra = 1
    show_change_link = False


class HolidayInline(ConfigurationInline):
    """Removable by whoever may delete holidays (administrators)."""

    model = Holiday
    fields = ("date", "name")
    ordering = ("date",)


class SlaRuleInline(ConfigurationInline):
    model = SlaRule
    fields = ("category", "severity", "acknowledge_within", "acknowledge_unit", "resolve_within", "resolve_unit")
    can_delete = False


@admin.register(WorkingCalendar)
class WorkingCalendarAdmin(ConfigurationAdmin):
    list_display = ("code", "name", "timezone", "weekdays", "day_start", "day_end")
    search_fields = ("code", "name")
    ordering = ("code",)
    inlines = [HolidayInline]
    fields = ("code", "name", "timezone", "weekdays", "day_start", "day_end", "change_reason")

    def get_readonly_fields(self, request, obj=None):
        # The code names the calendar for load_holidays and the presets.
        return ("code",) if obj is not None else ()


class SlaTableForm(ReasonModelForm):
    activate = forms.BooleanField(
        label="Make this the active table",
        required=False,
        help_text="New complaints take their clocks from the active table; the table active now is "
        "deactivated. Complaints already received keep their deadlines.",
    )


@admin.register(SlaTable)
class SlaTableAdmin(ConfigurationAdmin):
    form = SlaTableForm
    list_display = ("code", "name", "is_active", "calendar", "warn_percent")
    list_select_related = ("calendar",)
    list_filter = ("is_active",)
    search_fields = ("code", "name")
    ordering = ("-is_active", "code")
    inlines = [SlaRuleInline]

    def get_fields(self, request, obj=None):
        fields = ["code", "name", "description", "calendar", "warn_percent", "is_active"]
        if obj is None or not obj.is_active:
            fields.append("activate")
        return [*fields, "change_reason"]

    def get_readonly_fields(self, request, obj=None):
        # Active is set only by activating another table: there is always exactly one.
        if obj is None:
            return ("is_active",)
        # The active table has no box to tick: read-only and not in its fieldset, it leaves the form.
        return ("code", "is_active", "activate") if obj.is_active else ("code", "is_active")

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if form.cleaned_data.get("activate"):
            # After the rules: a new table is activated with the rules it was saved with.
            services.sla_table_activate(
                table=form.instance, actor=request.user, reason=form.cleaned_data["change_reason"]
            )


class ConfigurationHistoryAdmin(PortalModelAdmin):
    """Rules and holidays are edited on their table's or calendar's page (with its
    reason); here each can be looked up and its history read."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return self.fields


@admin.register(SlaRule)
class SlaRuleAdmin(ConfigurationHistoryAdmin):
    list_display = ("__str__", "table", "category", "severity")
    list_select_related = ("table",)
    list_filter = ("table", "category", "severity")
    ordering = ("table", "category", "severity")
    fields = (
        "table",
        "category",
        "severity",
        "acknowledge_within",
        "acknowledge_unit",
        "resolve_within",
        "resolve_unit",
    )


@admin.register(Holiday)
class HolidayAdmin(ConfigurationHistoryAdmin):
    list_display = ("date", "name", "calendar")
    list_select_related = ("calendar",)
    list_filter = ("calendar",)
    ordering = ("calendar", "date")
    fields = ("calendar", "date", "name")
