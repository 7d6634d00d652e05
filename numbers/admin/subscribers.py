"""The admin of subscribers: a holder's details change only by a consented change request
(numbers.views.identity); every page that shows a document is on the access log."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.urls import path, reverse

from audit.signals import record_subscriber_view, record_subscriber_views
from backoffice.adminkit import PortalModelAdmin
from backoffice.msisdn import msisdn_search_query
from staff.selectors import branch_scope, has_branch_perm

from .. import services
from ..forms import HolderSubscriberForm, SubscriberForm
from ..models import Branch, Holding, MobileNumber, Subscriber, TransferRequest
from ..selectors import subscriber_list, subscribers_by_document_query
from ..views.identity import ask_identity_export, change_request_view
from .numbers import HoldingInline
from .panels import complaints_field, subscriber_complaints, transfer_rows


class SubscriberHoldingInline(HoldingInline):
    """Every number the subscriber holds or has held, newest first."""

    fk_name = "subscriber"
    fields = ("number", "started_at", "start_reason", "started_by", "ended_at", "end_reason", "ended_by")
    readonly_fields = fields

    def get_queryset(self, request):
        queryset = Holding.objects.select_related("number", "started_by", "ended_by")
        return branch_scope(request.user, "view_branch_numbers").filter(queryset, path="number__branch")


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
