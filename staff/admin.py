from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from backoffice.adminkit import NoDeleteAdminMixin, PortalModelAdmin
from backoffice.history import stamp_change
from numbers.models import BranchUserObjectPermission

from . import services
from .forms import EmployeeForm
from .models import Employee


@admin.register(Employee)
class EmployeeAdmin(PortalModelAdmin):
    form = EmployeeForm
    list_display = ("employee_code", "user", "role_names", "branch_codes", "employment_status")
    list_select_related = ("user",)
    list_filter = ("employment_status", "branches")
    search_fields = ("employee_code", "user__username", "user__last_name")
    readonly_fields = ("created_at",)
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
        if "employment_status" in form.changed_data:
            services.employee_set_status(
                employee=obj, status=data["employment_status"], actor=request.user, reason=reason
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


@admin.register(BranchUserObjectPermission)
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
