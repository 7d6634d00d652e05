"""The admin of mobile numbers: read-only pages (state moves only through the lifecycle
screens in numbers.views.numbers, wired here under the admin's URLs), adding numbers
through number_create, and the bulk status change."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from audit.signals import record_subscriber_views
from backoffice.adminkit import PortalModelAdmin
from backoffice.screens import screen_url
from staff.selectors import branch_scope, has_branch_perm

from .. import services
from ..choices import TRANSITIONS, NumberStatus, is_withdrawal, move_permissions
from ..forms import BulkMoveForm, NumberAddForm
from ..models import Branch, Holding, MobileNumber, TransferLock, TransferRequest
from ..selectors import number_list, number_search
from ..views.numbers import NumberScreens
from .kit import ScopedBranchFilter
from .panels import TRANSFER_ROWS_SHOWN, complaints_field, number_complaints, transfer_rows

BULK_ACTION_LIMIT = 500


class HoldingInline(admin.TabularInline):
    model = Holding
    fk_name = "number"
    extra = 0
    can_delete = False
    fields = ("subscriber", "started_at", "start_reason", "started_by", "ended_at", "end_reason", "ended_by")
    readonly_fields = fields
    ordering = ("-started_at",)
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("subscriber", "started_by", "ended_by")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MobileNumber)
class MobileNumberAdmin(NumberScreens, PortalModelAdmin):
    list_display = ("msisdn", "status", "holder_link", "branch", "last_topup_at", "status_changed_at")
    list_filter = ("status", ScopedBranchFilter)
    list_select_related = ("holder", "branch")
    search_fields = ("msisdn",)
    search_help_text = "An MSISDN in any format (whole number or its beginning), or the holder's document number."
    ordering = ("msisdn",)
    inlines = [HoldingInline]
    actions = ["change_status"]
    readonly_fields = (
        "msisdn",
        "status",
        "holder",
        "branch",
        "activated_at",
        "last_topup_at",
        "status_changed_at",
        "created_at",
    )
    fieldsets = (
        (None, {"fields": ("msisdn", "status", "branch")}),
        ("Holder", {"fields": ("holder", "activated_at", "last_topup_at")}),
        ("Lifecycle", {"fields": ("status_changed_at", "created_at")}),
    )

    # --- Scoping and permissions -------------------------------------------

    def get_queryset(self, request):
        return number_list(user=request.user)

    def has_view_permission(self, request, obj=None) -> bool:
        if not super().has_view_permission(request, obj):
            return False
        return obj is None or has_branch_perm(request.user, "view_branch_numbers", obj.branch_id)

    def has_change_permission(self, request, obj=None) -> bool:
        # The change form of an existing number is read-only: its state moves
        # only through the lifecycle buttons and actions, never by editing fields.
        return obj is None and super().has_change_permission(request)

    # --- Search: exact or prefix on the msisdn index, never icontains -----

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        return number_search(queryset=queryset, term=term), False

    @admin.display(description="holder", ordering="holder__full_name")
    def holder_link(self, obj):
        if obj.holder_id is None:
            return "—"
        url = reverse("admin:numbers_subscriber_change", args=[obj.holder_id])
        return format_html('<a href="{}">{}</a>', url, obj.holder.full_name)

    # --- Adding numbers goes through number_create --------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = NumberAddForm
            kwargs["fields"] = ["msisdn", "branch", "change_reason"]
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("msisdn", "branch", "change_reason")}),)
        complaints = complaints_field(request, number_complaints)
        return (*super().get_fieldsets(request, obj), ("Complaints", {"fields": (complaints,)}))

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else (*self.readonly_fields, complaints_field(request, number_complaints))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "branch":
            kwargs["queryset"] = branch_scope(request.user, "operate_branch").filter(
                Branch.objects.filter(is_active=True), path="pk"
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        created = services.number_create(
            msisdn=form.cleaned_data["msisdn"],
            branch=form.cleaned_data["branch"],
            actor=request.user,
            reason=form.cleaned_data["change_reason"],
        )
        obj.pk = created.pk
        obj.msisdn = created.msisdn

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if request.method == "POST" and object_id and ({"holder", "status"} & set(request.POST)):
            messages.error(
                request,
                "The holder and status of a number cannot be edited. A held number changes holder only "
                "through a transfer approved with the consent of both subscribers; its status moves "
                "only through 'Change status' with a reason.",
            )
            return HttpResponseRedirect(request.path)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        number = self.get_object(request, object_id)
        if number is not None:
            user = request.user
            extra_context["can_sell"] = number.status in (
                NumberStatus.AVAILABLE,
                NumberStatus.RESERVED,
            ) and has_branch_perm(user, "operate_branch", number.branch_id)
            # Offer the button to whoever may make at least one move from this state.
            extra_context["can_move"] = any(
                has_branch_perm(user, perm, number.branch_id)
                for to_status in TRANSITIONS.get(number.status, ())
                if not is_withdrawal(number.status, to_status)
                for perm in move_permissions(number.status, to_status)
            )
            extra_context["request_withdrawal_url"] = self._withdrawal_url(request, number)
            extra_context.update(self._transfer_context(request, number))
        response = super().change_view(request, object_id, form_url, extra_context)
        if number is not None and response.status_code == 200:
            # The holder and every past holder (the holdings below) are shown with their masked
            # document; the holdings are read from the page's own formset, not queried again.
            holders = [
                getattr(form.instance, "subscriber_id", None)
                for inline in response.context_data.get("inline_admin_formsets", ())
                for form in inline.formset.forms
            ]
            record_subscriber_views(request=request, subscribers=[number.holder_id, *holders])
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        # Its changes name each holder the number had, as the change page's holdings do.
        holders = (
            MobileNumber.history.filter(id=unquote(object_id)).values_list("holder_id", flat=True).order_by().distinct()
        )
        record_subscriber_views(request=request, subscribers=holders)
        return response

    def history_version_viewed(self, request, obj, version) -> None:
        # The version shows its holder by name, as the change page does.
        record_subscriber_views(request=request, subscribers=[version.holder_id])

    def _withdrawal_url(self, request, number) -> str | None:
        """Held numbers leave their holder only by a withdrawal request: its screen, for those who may ask."""
        if number.status not in (NumberStatus.ACTIVE, NumberStatus.SUSPENDED):
            return None
        user = request.user
        if not any(has_branch_perm(user, perm, number.branch_id) for perm in ("operate_branch", "supervise_branch")):
            return None
        return screen_url("numbers:withdrawal_create", query={"msisdn": number.msisdn})

    def _transfer_context(self, request, number) -> dict:
        """The number's transfer requests and lock, and which transfer buttons apply."""
        operates = has_branch_perm(request.user, "operate_branch", number.branch_id)
        lock = TransferLock.objects.filter(number=number, lifted_at__isnull=True).select_related("placed_by").first()
        rows = transfer_rows(request, TransferRequest.objects.filter(number=number))
        # Only one request is open at a time and none can be made after it: it is the newest.
        open_request = rows[0] if rows and rows[0].is_open else None
        may_request = operates and number.status == NumberStatus.ACTIVE and lock is None and open_request is None
        return {
            "transfer_lock": lock,
            "transfer_requests": rows,
            "transfer_requests_more_url": (
                f"{reverse('admin:numbers_transferrequest_changelist')}?{urlencode({'q': number.msisdn})}"
                if len(rows) == TRANSFER_ROWS_SHOWN
                else None
            ),
            "can_lock_transfers": operates and number.holder_id is not None and lock is None,
            "can_lift_transfer_lock": operates and lock is not None,
            "request_transfer_url": (
                screen_url("numbers:transfer_create", query={"msisdn": number.msisdn}) if may_request else None
            ),
        }

    # --- Lifecycle screens ---------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/move/",
                self.admin_site.admin_view(self.move_view),
                name="{}_{}_move".format(*info),
            ),
            path(
                "<path:object_id>/sell/",
                self.admin_site.admin_view(self.sell_view),
                name="{}_{}_sell".format(*info),
            ),
            path(
                "<path:object_id>/lock-transfers/",
                self.admin_site.admin_view(self.lock_view),
                name="{}_{}_lock".format(*info),
            ),
            path(
                "<path:object_id>/lift-transfer-lock/",
                self.admin_site.admin_view(self.lift_view),
                name="{}_{}_lift".format(*info),
            ),
        ] + super().get_urls()

    @admin.action(description="Change status of selected numbers…", permissions=["change"])
    def change_status(self, request, queryset):
        count = queryset.count()
        if count > BULK_ACTION_LIMIT:
            messages.error(request, f"Select at most {BULK_ACTION_LIMIT} numbers for one status change.")
            return None
        form = BulkMoveForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            moved, refused = 0, []
            for number in queryset.order_by("msisdn"):
                try:
                    services.number_transition(
                        number=number,
                        to_status=form.cleaned_data["to_status"],
                        actor=request.user,
                        reason=form.cleaned_data["reason"],
                    )
                    moved += 1
                except (ValidationError, PermissionDenied) as exc:
                    text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                    refused.append(f"{number.msisdn}: {text}")
            if moved:
                messages.success(request, f"{moved} number(s) moved to {form.cleaned_data['to_status']}.")
            for line in refused:
                messages.error(request, f"Refused, nothing changed for {line}")
            return None
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Change status of selected numbers",
            "numbers": queryset.order_by("msisdn")[:BULK_ACTION_LIMIT],
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, "admin/numbers/mobilenumber/bulk_move.html", context)
