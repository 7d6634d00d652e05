"""Admin for the inventory. Every write goes through numbers.services; the admin
only collects input (with a reason) and shows what the services refused."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from backoffice.adminkit import PortalModelAdmin, ReasonModelForm, report_service_error
from staff.selectors import branch_scope, has_branch_perm

from . import services
from .choices import HELD_STATUSES, TRANSITIONS, NumberStatus, move_permissions
from .forms import BulkMoveForm, MoveForm, NumberAddForm, SellForm, SubscriberForm
from .models import Branch, Holding, MobileNumber, Subscriber, normalize_document_number
from .msisdn import msisdn_search_query
from .selectors import holding_list, number_list, number_search, subscriber_list

BULK_ACTION_LIMIT = 500


class ScopedBranchFilter(admin.SimpleListFilter):
    """Branch filter listing only the branches the user may see (no DISTINCT scan)."""

    title = "branch"
    parameter_name = "branch"
    path = "branch"

    def lookups(self, request, model_admin):
        branches = branch_scope(request.user, "view_branch_numbers").filter(Branch.objects.all(), path="pk")
        return [(str(branch.pk), str(branch)) for branch in branches]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{f"{self.path}__pk": self.value()})
        return queryset


class HoldingBranchFilter(ScopedBranchFilter):
    path = "number__branch"


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


class SubscriberHoldingInline(HoldingInline):
    """Every number the subscriber holds or has held, newest first."""

    fk_name = "subscriber"
    fields = ("number", "started_at", "start_reason", "started_by", "ended_at", "end_reason", "ended_by")
    readonly_fields = fields

    def get_queryset(self, request):
        queryset = Holding.objects.select_related("number", "started_by", "ended_by")
        return branch_scope(request.user, "view_branch_numbers").filter(queryset, path="number__branch")


@admin.register(MobileNumber)
class MobileNumberAdmin(PortalModelAdmin):
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
        return super().get_fieldsets(request, obj)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

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
                for perm in move_permissions(number.status, to_status)
            )
        return super().change_view(request, object_id, form_url, extra_context)

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
        ] + super().get_urls()

    def _number_or_404(self, request, object_id) -> MobileNumber:
        number = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, number):
            raise PermissionDenied
        return number

    def _screen(self, request, number, form, template, title):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "number": number,
            "original": number,
            "form": form,
            "title": title,
        }
        return TemplateResponse(request, template, context)

    def move_view(self, request, object_id):
        number = self._number_or_404(request, object_id)
        form = MoveForm(request.POST or None, from_status=number.status)
        if request.method == "POST" and form.is_valid():
            try:
                services.number_transition(
                    number=number,
                    to_status=form.cleaned_data["to_status"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except (ValidationError, PermissionDenied) as exc:
                report_service_error(request, exc)
            else:
                messages.success(request, f"{number.msisdn} is now {form.cleaned_data['to_status']}.")
                return HttpResponseRedirect(reverse("admin:numbers_mobilenumber_change", args=[number.pk]))
        return self._screen(
            request, number, form, "admin/numbers/mobilenumber/move.html", f"Change status of {number.msisdn}"
        )

    def sell_view(self, request, object_id):
        number = self._number_or_404(request, object_id)
        form = SellForm(request.POST or None)
        if number.status in HELD_STATUSES:
            messages.error(
                request,
                f"{number.msisdn} is {number.status} and held: it is not for sale. A held number changes "
                "holder only through a transfer approved with the consent of both subscribers.",
            )
            return HttpResponseRedirect(reverse("admin:numbers_mobilenumber_change", args=[number.pk]))
        if request.method == "POST" and form.is_valid():
            try:
                services.number_sell(
                    number=number,
                    subscriber=form.cleaned_data["subscriber"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except (ValidationError, PermissionDenied) as exc:
                report_service_error(request, exc)
            else:
                messages.success(request, f"{number.msisdn} sold to {form.cleaned_data['subscriber'].full_name}.")
                return HttpResponseRedirect(reverse("admin:numbers_mobilenumber_change", args=[number.pk]))
        return self._screen(request, number, form, "admin/numbers/mobilenumber/sell.html", f"Sell {number.msisdn}")

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


@admin.register(Subscriber)
class SubscriberAdmin(PortalModelAdmin):
    form = SubscriberForm
    list_display = (
        "full_name",
        "id_document_type",
        "masked_document",
        "contact_msisdn",
        "registered_branch",
        "created_at",
    )
    list_select_related = ("registered_branch",)
    list_filter = ("id_document_type",)
    search_fields = ("id_document_number",)
    search_help_text = "A document number, a phone number (contact or held), or the start of a name."
    readonly_fields = ("created_by", "created_at")
    ordering = ("full_name", "id")
    inlines = [SubscriberHoldingInline]

    def get_queryset(self, request):
        return subscriber_list(user=request.user)

    @admin.display(description="identity document")
    def masked_document(self, obj):
        return obj.masked_document

    def has_change_permission(self, request, obj=None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        if obj is None or obj.registered_branch_id is None:
            return True
        return has_branch_perm(request.user, "operate_branch", obj.registered_branch_id)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        query = msisdn_search_query(term)
        if query is not None and query.exact:
            held = MobileNumber.objects.filter(msisdn=query.value).values("holder_id")
            return queryset.filter(pk__in=held) | queryset.filter(contact_msisdn=query.value), False
        document = normalize_document_number(term)
        by_document = queryset.filter(id_document_number=document)
        if not term.replace(" ", "").isalpha():
            return by_document, False
        return by_document | queryset.filter(full_name__istartswith=term), False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "registered_branch":
            kwargs["queryset"] = branch_scope(request.user, "operate_branch").filter(Branch.objects.all(), path="pk")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        reason = data["change_reason"]
        if change:
            changes = {
                field: data[field] for field in services.SUBSCRIBER_EDITABLE_FIELDS if field in form.changed_data
            }
            saved = services.subscriber_update(subscriber=obj, actor=request.user, reason=reason, **changes)
        else:
            saved = services.subscriber_create(
                full_name=data["full_name"],
                id_document_type=data["id_document_type"],
                id_document_number=data["id_document_number"],
                contact_msisdn=data.get("contact_msisdn") or "",
                alternate_msisdn=data.get("alternate_msisdn") or "",
                registered_branch=data.get("registered_branch"),
                actor=request.user,
                reason=reason,
            )
        obj.pk = saved.pk


@admin.register(Holding)
class HoldingAdmin(PortalModelAdmin):
    """The ledger is read here, written only by the services."""

    list_display = ("number", "subscriber", "started_at", "start_reason", "ended_at", "end_reason", "started_by")
    list_select_related = ("number", "subscriber", "started_by")
    list_filter = ("start_reason", "end_reason", HoldingBranchFilter)
    search_fields = ("number__msisdn",)
    search_help_text = "An MSISDN in any format."
    ordering = ("-started_at", "-id")

    def get_queryset(self, request):
        return holding_list(user=request.user)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        query = msisdn_search_query(term)
        if query is None:
            return queryset.none(), False
        lookup = "number__msisdn" if query.exact else "number__msisdn__startswith"
        return queryset.filter(**{lookup: query.value}), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Branch)
class BranchAdmin(PortalModelAdmin):
    form = ReasonModelForm
    list_display = ("code", "name", "is_active", "created_at")
    search_fields = ("code", "name")
    fields = ("code", "name", "is_active", "change_reason")
