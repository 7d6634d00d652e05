from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from backoffice.adminkit import NoDeleteAdminMixin, PortalModelAdmin, standing_filter
from backoffice.history import stamp_change

from . import services, twofactor
from .branches import branch_user_permission_model
from .forms import EmployeeForm
from .models import Employee, SecondFactorReset, StaffNotice, Suspension
from .reauth import reauth_required_action


class EmployeeActionForm(ActionForm):
    """The changelist's action bar, with the reason the suspension services require."""

    reason = forms.CharField(
        required=False,
        max_length=500,
        label="Reason",
        widget=forms.TextInput(attrs={"size": 40, "placeholder": "Why (recorded with your name)"}),
    )


@admin.register(Employee)
class EmployeeAdmin(PortalModelAdmin):
    """Employment status is read-only here: suspending and reinstating are the actions
    below, which call staff.services (the login disabled, every session ended, the
    grants taken and kept), never a write of the status field."""

    form = EmployeeForm
    action_form = EmployeeActionForm
    actions = ["suspend_selected", "reinstate_selected", "request_second_factor_reset", "approve_second_factor_reset"]
    list_display = ("employee_code", "user", "role_names", "branch_codes", "employment_status")
    list_select_related = ("user",)
    list_filter = ("employment_status", "branches")
    search_fields = ("employee_code", "user__username", "user__last_name")
    readonly_fields = ("employment_status", "created_at")
    fieldsets = (
        ("Account", {"fields": ("username", "first_name", "last_name", "password")}),
        ("Employee", {"fields": ("employee_code", "employment_status", "roles", "branches", "created_at")}),
        (None, {"fields": ("change_reason",)}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("branches", "user__groups")

    @admin.display(description="roles")
    def role_names(self, obj):
        return ", ".join(sorted(group.name for group in obj.user.groups.all()))

    @admin.display(description="branches")
    def branch_codes(self, obj):
        return ", ".join(branch.code for branch in obj.branches.all())

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        reason = data["change_reason"]
        if not change:
            created = services.employee_create(
                username=data["username"],
                password=data.get("password") or None,
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
                employee_code=data["employee_code"],
                roles=data["roles"],
                branches=data["branches"],
                actor=request.user,
                reason=reason,
            )
            obj.pk = created.pk
            obj.user = created.user
            return
        if "employee_code" in form.changed_data:
            stamp_change(obj, actor=request.user, reason=reason)
            obj.save(update_fields=["employee_code"])
        if "branches" in form.changed_data:
            services.employee_set_branches(employee=obj, branches=data["branches"], actor=request.user, reason=reason)
        if "roles" in form.changed_data:
            services.employee_set_roles(employee=obj, roles=data["roles"], actor=request.user, reason=reason)

    def _each(self, request, queryset, service, done: str) -> None:
        reason = request.POST.get("reason", "")
        for employee in queryset.select_related("user").order_by("employee_code"):
            try:
                service(user=employee.user, actor=request.user, reason=reason)
            except (ValidationError, PermissionDenied) as exc:
                text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                messages.error(request, f"Refused, nothing changed for {employee.user.get_username()}: {text}")
            else:
                messages.success(request, f"{employee.user.get_username()} {done}.")

    @admin.action(description="Suspend the selected employees pending review (give a reason)", permissions=["view"])
    @reauth_required_action
    def suspend_selected(self, request, queryset):
        self._each(request, queryset, services.employee_suspend, "is suspended and signed out everywhere")

    @admin.action(description="Reinstate the selected employees (give a reason)", permissions=["view"])
    def reinstate_selected(self, request, queryset):
        self._each(request, queryset, services.employee_reinstate, "is reinstated")

    @admin.action(description="Ask to reset the selected employees' lost second factor (give a reason)")
    def request_second_factor_reset(self, request, queryset):
        self._each(
            request,
            queryset,
            twofactor.second_factor_reset_request,
            "has a second-factor reset awaiting another administrator's approval",
        )

    @admin.action(description="Approve the second-factor reset another administrator asked for (give a reason)")
    def approve_second_factor_reset(self, request, queryset):
        def approve(*, user, actor, reason):
            reset = SecondFactorReset.objects.filter(user=user, approved_at__isnull=True).first()
            if reset is None:
                raise ValidationError("No second-factor reset of this employee awaits approval.")
            return twofactor.second_factor_reset_approve(reset=reset, actor=actor, reason=reason)

        self._each(
            request, queryset, approve, "has no second factor any more: they set up a new one at their next sign-in"
        )

    def save_related(self, request, form, formsets, change):
        # Branches are set by the services above, which also recompute authority.
        for formset in formsets:
            self.save_formset(request, form, formset, change)


# --- Accounts: roles and authority come from the employee record only ----------

User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class PortalUserAdmin(NoDeleteAdminMixin, UserAdmin):
    """The stock user admin, minus its back doors to authority.

    Groups (roles), individual permissions and the superuser flag would grant
    authority around the employee record and its history; here they are read-only,
    and roles are changed on the employee.
    """

    readonly_fields = ("groups", "user_permissions", "is_superuser", "last_login", "date_joined")
    list_select_related = ()
    show_full_result_count = False


@admin.register(branch_user_permission_model())
class BranchAuthorityAdmin(NoDeleteAdminMixin, admin.ModelAdmin):
    """Who holds which authority on which branch: derived from employee records,
    shown here for review, never edited by hand."""

    list_display = ("user", "permission_codename", "content_object")
    list_select_related = ("user", "permission", "content_object")
    list_filter = ("content_object", "permission__codename")
    search_fields = ("user__username",)
    show_full_result_count = False

    @admin.display(description="authority", ordering="permission__codename")
    def permission_codename(self, obj):
        return obj.permission.codename

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        user = request.user
        return user.is_active and (user.is_superuser or user.has_perm("staff.view_employee"))


# --- Suspensions: what a suspension took away, read-only --------------------------

SuspensionStateFilter = standing_filter(
    field="reinstated_at", title="suspension", standing=("standing", "In force"), ended=("reinstated", "Reinstated")
)


@admin.register(Suspension)
class SuspensionAdmin(PortalModelAdmin):
    """Made and closed only by staff.services (employee_suspend, employee_reinstate), from
    the audit review's cases; here read by auditors and administrators, with its history."""

    list_display = ("user", "suspended_at", "suspended_by", "case", "sessions_ended", "reinstated_at", "reinstated_by")
    list_select_related = ("user", "suspended_by", "case__employee", "reinstated_by")
    list_filter = (SuspensionStateFilter,)
    ordering = ("-suspended_at", "-id")
    search_fields = ("user__username",)
    search_help_text = "The suspended employee's user name (whole, or its beginning, as typed)."
    fieldsets = (
        (None, {"fields": ("user", "case", "reason", "suspended_by", "suspended_at")}),
        (
            "What was taken away",
            {
                "fields": (
                    "was_active",
                    "employment_status_before",
                    "groups_shown",
                    "permissions_shown",
                    "object_permissions_shown",
                    "sessions_ended",
                )
            },
        ),
        (
            "Reinstated",
            {"fields": ("reinstated_by", "reinstated_at", "reinstate_reason", "not_restored_shown")},
        ),
    )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(user__username__startswith=term) if term else queryset), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field for _, options in self.get_fieldsets(request, obj) for field in options["fields"]]

    @admin.display(description="roles (groups) removed")
    def groups_shown(self, obj):
        return ", ".join(sorted(group.name for group in obj.groups_removed.all())) or "—"

    @admin.display(description="direct permissions removed")
    def permissions_shown(self, obj):
        perms = obj.permissions_removed.select_related("content_type")
        return ", ".join(sorted(f"{p.content_type.app_label}.{p.codename}" for p in perms)) or "—"

    @admin.display(description="object permissions removed")
    def object_permissions_shown(self, obj):
        return _grants(obj.object_permissions_removed)

    @admin.display(description="not restored")
    def not_restored_shown(self, obj):
        return _grants(obj.not_restored)


def _grants(grants) -> str:
    if not grants:
        return "—"
    return format_html_join(
        mark_safe("<br>"),
        "{} on {} #{}{}",
        ((grant.get("perm", ""), grant.get("model", ""), grant.get("object_pk", ""), _why(grant)) for grant in grants),
    )


def _why(grant: dict) -> str:
    return f" ({grant['why']})" if grant.get("why") else ""


@admin.register(StaffNotice)
class StaffNoticeAdmin(PortalModelAdmin):
    """Emails to staff (SLA breaches): written by the services, delivered by a worker;
    read here with their delivery state and history."""

    list_display = ("created_at", "recipient", "subject", "status", "attempts", "sent_at")
    list_select_related = ("recipient",)
    list_filter = ("status",)
    search_fields = ("recipient__username",)
    search_help_text = "The recipient's user name."
    ordering = ("-created_at", "-id")
    readonly_fields = ("last_error", "next_attempt_at", "dedupe_key")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


# --- Second factor: devices are never edited by hand, resets are four eyes ------------

# django-otp's own device admins would let one administrator delete or add a device
# alone (around the four-eyes reset) and show secret keys: devices are managed only
# through staff.twofactor and the user's own enrolment page.
for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(SecondFactorReset)
class SecondFactorResetAdmin(PortalModelAdmin):
    """Asked and approved from the employee list's actions (staff.twofactor); read here
    with the devices each reset retired and its history."""

    list_display = ("user", "requested_at", "requested_by", "approved_at", "approved_by", "sessions_ended")
    list_select_related = ("user", "requested_by", "approved_by")
    list_filter = (
        standing_filter(
            field="approved_at",
            title="reset",
            standing=("awaiting", "Awaiting approval"),
            ended=("approved", "Approved"),
        ),
    )
    ordering = ("-requested_at", "-id")
    search_fields = ("user__username",)
    search_help_text = "The employee's user name (whole, or its beginning, as typed)."
    fields = (
        "user",
        "reason",
        "requested_by",
        "requested_at",
        "approved_by",
        "approved_at",
        "approve_reason",
        "devices_shown",
        "sessions_ended",
    )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        return (queryset.filter(user__username__startswith=term) if term else queryset), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        user = request.user
        return user.is_active and (user.is_superuser or user.has_perm("staff.view_employee"))

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    @admin.display(description="devices retired")
    def devices_shown(self, obj):
        if not obj.devices_removed:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            "{} “{}” (#{}, added {}, last used {})",
            (
                (
                    d.get("type", ""),
                    d.get("name", ""),
                    d.get("id", ""),
                    d.get("created_at") or "?",
                    d.get("last_used_at") or "never",
                )
                for d in obj.devices_removed
            ),
        )
