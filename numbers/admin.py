"""Admin for the inventory. Every write goes through numbers.services; the admin
only collects input (with a reason) and shows what the services refused."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from audit.signals import record_subscriber_view, record_subscriber_views
from backoffice.adminkit import PortalModelAdmin, ReasonModelForm, report_service_error, standing_filter
from backoffice.msisdn import msisdn_search_query
from backoffice.screens import screen_url
from staff.selectors import branch_scope, has_branch_perm

from . import registry, services
from .choices import HELD_STATUSES, TRANSITIONS, NumberStatus, is_withdrawal, move_permissions
from .forms import (
    BulkMoveForm,
    HolderSubscriberForm,
    MoveForm,
    NumberAddForm,
    SellForm,
    SubscriberForm,
    TransferLiftForm,
    TransferLockForm,
)
from .models import (
    Branch,
    Holding,
    InactivityWarning,
    MobileNumber,
    Subscriber,
    TransferConsent,
    TransferLock,
    TransferRequest,
    WithdrawalRequest,
)
from .selectors import (
    holding_list,
    inactivity_warning_list,
    number_list,
    number_search,
    subscriber_list,
    subscribers_by_document_query,
)

BULK_ACTION_LIMIT = 500
# How many transfer requests the number and subscriber pages list (newest first).
TRANSFER_ROWS_SHOWN = 20
# How many complaints the number and subscriber pages list (newest first).
COMPLAINT_ROWS_SHOWN = 20


def search_by_msisdn(queryset, term: str, path: str):
    """An MSISDN in any format: exact on the index when whole, else its beginning; never icontains."""
    term = term.strip()
    if not term:
        return queryset
    query = msisdn_search_query(term)
    if query is None:
        return queryset.none()
    lookup = path if query.exact else f"{path}__startswith"
    return queryset.filter(**{lookup: query.value})


def transfer_rows(request, queryset) -> list[TransferRequest]:
    """Transfer requests for a number or subscriber page: scoped, newest first, with
    the link to each one's transfer screen; one query however many there are."""
    rows = list(
        branch_scope(request.user, "view_branch_numbers")
        .filter(queryset, path="branch")
        .select_related("number", "from_holder", "to_subscriber", "requested_by", "decided_by")
        .order_by("-created_at", "-id")[:TRANSFER_ROWS_SHOWN]
    )
    for row in rows:
        row.screen_url = screen_url("numbers:transfer_detail", row.pk)
    return rows


def complaints_field(request, complaints_of):
    """The read-only "complaints" field of a number's or a subscriber's page: their
    complaints in the branches the user sees, newest first, each linked to its admin
    page and to the complaint screen; one query however many there are.

    ``complaints_of(obj)`` gives the complaints and the query string of the complaint
    list holding them all. The field needs the request (for the scope), so it is made
    per request, once: the admin must find the same field in the fieldsets and among
    the read-only fields.
    """
    field = getattr(request, "_portal_complaints_field", None)
    if field is not None:
        return field

    @admin.display(description="complaints")
    def complaints_on_record(obj):
        condition, query = complaints_of(obj)
        rows = list(
            branch_scope(request.user, "view_branch_numbers")
            .filter(registry.complaints_matching(condition), path="branch")
            .only("pk", "reference", "category", "state", "received_at")
            .order_by("-received_at", "-id")[:COMPLAINT_ROWS_SHOWN]
        )
        if not rows:
            return "No complaints in the branches you can see."
        items = format_html_join(
            "",
            '<li class="complaint" data-complaint="{}"><a href="{}">{}</a> {}, {}, received {}{}</li>',
            (
                (
                    row.pk,
                    reverse("admin:complaints_complaint_change", args=[row.pk]),
                    row.reference,
                    row.get_category_display(),
                    row.get_state_display().lower(),
                    timezone.localtime(row.received_at).strftime("%d %b %Y %H:%M"),
                    _complaint_screen_link(row.pk),
                )
                for row in rows
            ),
        )
        more = ""
        if len(rows) == COMPLAINT_ROWS_SHOWN:
            url = f"{reverse('admin:complaints_complaint_changelist')}?{urlencode(query)}"
            more = format_html('<p><a href="{}">All complaints</a></p>', url)
        return format_html('<ul class="complaints">{}</ul>{}', items, more)

    request._portal_complaints_field = complaints_on_record
    return complaints_on_record


def _complaint_screen_link(complaint_id: int):
    url = screen_url("complaints:complaint_detail", complaint_id)
    if url is None:
        return ""
    return format_html(' · <a href="{}" class="complaint-screen-link">Open in complaint handling</a>', url)


def number_complaints(number: MobileNumber):
    return Q(complaint_numbers__number=number), {"q": number.msisdn}


def subscriber_complaints(subscriber: Subscriber):
    return Q(complainant=subscriber), {"complainant__id__exact": subscriber.pk}


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

    def _number_or_404(self, request, object_id) -> MobileNumber:
        number = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, number):
            raise PermissionDenied
        return number

    def _screen(self, request, number, form, template, title, **extra):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "number": number,
            "original": number,
            "form": form,
            "title": title,
            **extra,
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
            request,
            number,
            form,
            "admin/numbers/mobilenumber/move.html",
            f"Change status of {number.msisdn}",
            request_withdrawal_url=self._withdrawal_url(request, number),
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

    # --- Transfer locks --------------------------------------------------------

    def _operated_number_or_403(self, request, object_id) -> MobileNumber:
        """Locks are counter work: only staff who operate the number's branch may open these screens."""
        number = self._number_or_404(request, object_id)
        if not has_branch_perm(request.user, "operate_branch", number.branch_id):
            raise PermissionDenied
        return number

    def _back_to_number(self, number) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:numbers_mobilenumber_change", args=[number.pk]))

    def lock_view(self, request, object_id):
        number = self._operated_number_or_403(request, object_id)
        if request.method != "POST":
            # A refusal on POST comes from the service itself (it re-checks under a row lock).
            if number.holder_id is None:
                messages.error(request, f"{number.msisdn} is {number.status}: it has no holder to lock it for.")
                return self._back_to_number(number)
            if TransferLock.objects.filter(number=number, lifted_at__isnull=True).exists():
                messages.error(request, f"{number.msisdn} is already locked against transfers.")
                return self._back_to_number(number)
        form = TransferLockForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.transfer_lock_place(number=number, actor=request.user, reason=form.cleaned_data["reason"])
            except (ValidationError, PermissionDenied) as exc:
                report_service_error(request, exc)
            else:
                messages.success(request, f"{number.msisdn} is locked against transfers; its holder was told by SMS.")
                return self._back_to_number(number)
        return self._screen(
            request, number, form, "admin/numbers/mobilenumber/lock.html", f"Lock {number.msisdn} against transfers"
        )

    def lift_view(self, request, object_id):
        number = self._operated_number_or_403(request, object_id)
        lock = (
            TransferLock.objects.filter(number=number, lifted_at__isnull=True)
            .select_related("subscriber", "placed_by")
            .first()
        )
        if lock is None and request.method != "POST":
            messages.error(request, f"{number.msisdn} is not locked against transfers.")
            return self._back_to_number(number)
        form = TransferLiftForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.transfer_lock_lift(
                    number=number,
                    document_type=form.cleaned_data["document_type"],
                    document_number=form.cleaned_data["document_number"],
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except (ValidationError, PermissionDenied) as exc:
                report_service_error(request, exc)
            else:
                messages.success(
                    request, f"The transfer lock on {number.msisdn} is lifted; the holder was told by SMS."
                )
                return self._back_to_number(number)
        return self._screen(
            request,
            number,
            form,
            "admin/numbers/mobilenumber/lift.html",
            f"Lift the transfer lock on {number.msisdn}",
            lock=lock,
        )

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
    # Searched by get_search_results: a whole document number is hashed and matched exactly.
    search_fields = ("full_name",)
    search_help_text = "A whole document number, a phone number (contact or held), or the start of a name."
    readonly_fields = ("created_by", "created_at")
    ordering = ("full_name", "id")
    inlines = [SubscriberHoldingInline]
    actions = ["request_identity_export"]
    # A holder's name, document and contacts change only by a consented change request.
    HOLDER_READONLY = ("full_name", "id_document_type", "masked_document", "contact_msisdn", "alternate_msisdn")

    def get_queryset(self, request):
        return subscriber_list(user=request.user)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/change-details/",
                self.admin_site.admin_view(lambda request, object_id: change_request_view(self, request, object_id)),
                name="{}_{}_change_details".format(*info),
            ),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        subscriber = self.get_object(request, object_id)
        if subscriber is not None:
            # Identity and contact details on screen: the access log names who looked.
            record_subscriber_view(request=request, subscriber=subscriber)
            # As current holder (giving a number away) or as new subscriber (receiving one).
            requests = TransferRequest.objects.filter(Q(from_holder=subscriber) | Q(to_subscriber=subscriber))
            extra_context["transfer_requests"] = transfer_rows(request, requests)
            if self._holds(subscriber):
                extra_context["change_details_url"] = reverse(
                    "admin:numbers_subscriber_change_details", args=[subscriber.pk]
                )
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl") if response.status_code == 200 else None
        if changelist is not None:
            # Each row shows a subscriber's masked document and contact number.
            record_subscriber_views(request=request, subscribers=changelist.result_list)
        return response

    def history_view(self, request, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        # Shown only once scoped like the change page (ScopedHistoryMixin refuses first).
        record_subscriber_view(request=request, subscriber=self.get_object(request, object_id))
        return response

    def history_version_viewed(self, request, obj, version) -> None:
        record_subscriber_view(request=request, subscriber=obj)

    @staticmethod
    def _holds(obj) -> bool:
        if obj is None or obj.pk is None:
            return False
        if not hasattr(obj, "_holds_a_number"):
            obj._holds_a_number = services.subscriber_holds_a_number(obj)
        return obj._holds_a_number

    def get_form(self, request, obj=None, **kwargs):
        if self._holds(obj):
            kwargs["form"] = HolderSubscriberForm
        return super().get_form(request, obj, **kwargs)

    @admin.display(description="identity document")
    def masked_document(self, obj):
        return obj.masked_document

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is None:
            return fields
        extra = self.HOLDER_READONLY if self._holds(obj) else ("masked_document",)
        # As complainant, in the branches the user sees.
        return (*fields, *extra, complaints_field(request, subscriber_complaints))

    def has_export_identity_permission(self, request) -> bool:
        return request.user.has_perm("numbers.export_identity")

    @admin.action(description="Ask for a compliance export of identity documents…", permissions=["export_identity"])
    def request_identity_export(self, request, queryset):
        return ask_identity_export(self, request, queryset)

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
        by_document = queryset.filter(pk__in=subscribers_by_document_query(term).values("pk"))
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


class NumberRecordAdmin(PortalModelAdmin):
    """Rows about a number that only the services or jobs write: read here, scoped
    to the user's branches by ``selector``, found by the number in any format."""

    selector = None
    search_fields = ("number__msisdn",)
    search_help_text = "An MSISDN in any format."

    def get_queryset(self, request):
        return type(self).selector(user=request.user)

    def get_search_results(self, request, queryset, search_term):
        return search_by_msisdn(queryset, search_term, "number__msisdn"), False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Holding)
class HoldingAdmin(NumberRecordAdmin):
    """The ledger is read here, written only by the services."""

    selector = staticmethod(holding_list)
    list_display = ("number", "subscriber", "started_at", "start_reason", "ended_at", "end_reason", "started_by")
    list_select_related = ("number", "subscriber", "started_by")
    list_filter = ("start_reason", "end_reason", HoldingBranchFilter)
    ordering = ("-started_at", "-id")


@admin.register(InactivityWarning)
class InactivityWarningAdmin(NumberRecordAdmin):
    """What the lifecycle job warned, and when: written only by the job."""

    selector = staticmethod(inactivity_warning_list)
    list_display = ("number", "subscriber", "warning_day", "period_start", "withdrawal_on", "sent_at")
    list_select_related = ("number", "subscriber")
    list_filter = ("warning_day",)
    ordering = ("-sent_at", "-id")


@admin.register(Branch)
class BranchAdmin(PortalModelAdmin):
    form = ReasonModelForm
    list_display = ("code", "name", "is_active", "created_at")
    search_fields = ("code", "name")
    fields = ("code", "name", "is_active", "change_reason")


# --- Transfers: read here, written only by the transfer services ------------------


class TransferConsentBranchFilter(ScopedBranchFilter):
    path = "request__branch"


class NumberBranchFilter(ScopedBranchFilter):
    path = "number__branch"


class EvidenceAdmin(PortalModelAdmin):
    """Read-only for everyone, the superuser included: transfer requests, consents
    and locks are made by the services on the staff screens and kept as evidence.
    Each is scoped to the branches the user may see, by ``branch_path``."""

    branch_path = "branch"
    # Where the number's MSISDN is: search takes it in any format, on its index.
    msisdn_path = "number__msisdn"
    search_help_text = "The number's MSISDN in any format (whole number or its beginning)."

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return branch_scope(request.user, "view_branch_numbers").filter(queryset, path=self.branch_path)

    def get_search_results(self, request, queryset, search_term):
        return search_by_msisdn(queryset, search_term, self.msisdn_path), False

    def branch_of(self, obj) -> int | None:
        return obj.branch_id

    def has_view_permission(self, request, obj=None) -> bool:
        if not super().has_view_permission(request, obj):
            return False
        # Also guards the history pages, which look objects up without get_queryset.
        return obj is None or has_branch_perm(request.user, "view_branch_numbers", self.branch_of(obj))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field for _, options in self.get_fieldsets(request, obj) for field in options["fields"]]


class SignedFormOnFile:
    @admin.display(description="signed form", boolean=True)
    def signed_form_on_file(self, obj):
        # Whether a scan is on file, never a link: the scan itself is served only by
        # the transfer screen, which checks authority.
        return bool(obj.signed_form)

    @admin.display(description="document photo", boolean=True)
    def document_photo_on_file(self, obj):
        # Never a link either: reviewers open it through the transfer screen's checked view.
        return bool(obj.document_photo)


class TransferConsentInline(SignedFormOnFile, admin.TabularInline):
    """Both parties' consents on the request page, read-only; documents only masked."""

    model = TransferConsent
    fk_name = "request"
    extra = 0
    can_delete = False
    fields = (
        "party",
        "subscriber",
        "method",
        "document_type",
        "document_reference",
        "signed_form_on_file",
        "document_photo_on_file",
        "captured_by",
        "captured_at",
        "confirmed_by",
        "confirmed_at",
        "lapses_at",
        "revoked_at",
        "revoked_by",
        "revocation_reason",
    )
    readonly_fields = fields
    ordering = ("captured_at", "id")
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("subscriber", "captured_by", "revoked_by")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(TransferRequest)
class TransferRequestAdmin(EvidenceAdmin):
    list_display = (
        "__str__",
        "number",
        "from_holder",
        "to_subscriber",
        "branch",
        "requested_by",
        "state",
        "created_at",
        "expires_at",
        "decided_by",
    )
    list_select_related = ("number", "from_holder", "to_subscriber", "branch", "requested_by", "decided_by")
    list_filter = ("state", ScopedBranchFilter)
    search_fields = ("number__msisdn",)
    ordering = ("-created_at", "-id")
    inlines = [TransferConsentInline]
    fieldsets = (
        (None, {"fields": ("number", "state", "branch", "reason")}),
        ("Parties", {"fields": ("from_holder", "to_subscriber")}),
        ("Request", {"fields": ("requested_by", "created_at", "expires_at", "holder_notified_at")}),
        (
            "First approval (two supervisors for a high risk flag)",
            {"fields": ("second_approval_required", "first_approved_by", "first_approved_at", "first_approval_reason")},
        ),
        ("Decision", {"fields": ("decided_by", "decided_at", "decision_reason")}),
        ("Closed without a decision", {"fields": ("closed_by", "closed_at", "close_reason")}),
    )

    def _create_screen_url(self, request) -> str | None:
        """The transfer screen, for those who may request transfers somewhere."""
        scope = branch_scope(request.user, "operate_branch")
        if not scope.anywhere or not request.user.has_perm("numbers.add_transferrequest"):
            return None
        return screen_url("numbers:transfer_create")

    def add_view(self, request, form_url="", extra_context=None):
        """No admin form makes a request: "add" leads to the transfer screen, which
        asks for both consents and a supervisor's approval."""
        url = self._create_screen_url(request)
        if url is None:
            raise PermissionDenied
        return HttpResponseRedirect(url)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "request_transfer_url": self._create_screen_url(request)}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        transfer = self.get_object(request, object_id)
        if transfer is not None:
            extra_context["transfer_screen_url"] = screen_url("numbers:transfer_detail", transfer.pk)
            if has_branch_perm(request.user, "supervise_branch", transfer.branch_id):
                extra_context["approval_screen_url"] = screen_url("numbers:approval_detail", transfer.pk)
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(TransferConsent)
class TransferConsentAdmin(SignedFormOnFile, EvidenceAdmin):
    """Consents as captured: the document checked is only ever shown masked."""

    branch_path = "request__branch"
    msisdn_path = "request__number__msisdn"
    list_display = (
        "__str__",
        "request",
        "request_number",
        "party",
        "subscriber",
        "method",
        "document_type",
        "document_reference",
        "captured_by",
        "captured_at",
        "lapses_at",
        "revoked_at",
    )
    list_select_related = ("request__number", "subscriber", "captured_by")
    list_filter = ("party", "method", TransferConsentBranchFilter)
    search_fields = ("request__number__msisdn",)
    ordering = ("-captured_at", "-id")
    fieldsets = (
        (None, {"fields": ("request", "party", "subscriber", "method")}),
        (
            "Evidence",
            {
                "fields": (
                    "document_type",
                    "document_reference",
                    "signed_form_on_file",
                    "document_photo_on_file",
                    "note",
                )
            },
        ),
        ("Captured", {"fields": ("captured_by", "captured_at", "lapses_at")}),
        ("Confirmed by a second employee", {"fields": ("confirmed_by", "confirmed_at")}),
        ("Revoked", {"fields": ("revoked_at", "revoked_by", "revocation_reason")}),
    )

    def branch_of(self, obj) -> int | None:
        return obj.request.branch_id

    @admin.display(description="number", ordering="request__number__msisdn")
    def request_number(self, obj):
        return obj.request.number


TransferLockStateFilter = standing_filter(
    field="lifted_at", title="lock", standing=("active", "In force"), ended=("lifted", "Lifted")
)


@admin.register(TransferLock)
class TransferLockAdmin(EvidenceAdmin):
    """Holders' locks against transfers; placed and lifted on the number's page."""

    branch_path = "number__branch"
    list_display = (
        "__str__",
        "number",
        "subscriber",
        "in_force",
        "placed_at",
        "placed_by",
        "place_reason",
        "lifted_at",
        "lifted_by",
    )
    list_select_related = ("number", "subscriber", "placed_by", "lifted_by")
    list_filter = (TransferLockStateFilter, NumberBranchFilter)
    search_fields = ("number__msisdn",)
    ordering = ("-placed_at", "-id")
    fieldsets = (
        (None, {"fields": ("number", "subscriber")}),
        ("Placed", {"fields": ("placed_at", "placed_by", "place_reason")}),
        ("Lifted", {"fields": ("lifted_at", "lifted_by", "lift_reason", "lift_evidence")}),
    )

    def branch_of(self, obj) -> int | None:
        return obj.number.branch_id

    @admin.display(description="in force", boolean=True)
    def in_force(self, obj):
        return obj.is_active


@admin.register(WithdrawalRequest)
class WithdrawalRequestAdmin(EvidenceAdmin):
    """Withdrawal requests of held numbers, read-only: asked and decided on the
    withdrawal screens (/withdrawals/), never edited or deleted here."""

    list_display = ("__str__", "number", "holder", "ground", "state", "branch", "requested_by", "created_at")
    list_select_related = ("number", "holder", "branch", "requested_by")
    list_filter = ("state", "ground", ScopedBranchFilter)
    search_fields = ("number__msisdn",)
    ordering = ("-created_at", "-id")
    fieldsets = (
        (None, {"fields": ("number", "holder", "branch", "ground", "state", "reason", "document_on_file")}),
        ("Request", {"fields": ("requested_by", "created_at", "holder_notified_at", "holder_consented_at")}),
        ("Decision", {"fields": ("decided_by", "decided_at", "decision_reason")}),
        ("Cancelled", {"fields": ("closed_by", "closed_at", "close_reason")}),
    )

    @admin.display(description="order or evidence on file", boolean=True)
    def document_on_file(self, obj):
        # Never a link: the document is served only by the withdrawal screen, which checks authority.
        return bool(obj.document)


from .admin_identity import ask_identity_export, change_request_view  # noqa: E402  (registers its admins too)
