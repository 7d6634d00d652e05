"""Admin of holders' consented detail changes and of the compliance exports: read-only
pages; their screens (code, approval, rejection, export) are in numbers.views.identity,
wired here under the admin's URLs."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path, reverse

from backoffice.adminkit import PortalModelAdmin

from ..models import IdentityExport, SubscriberChangeRequest
from ..views.identity import ChangeRequestScreens, IdentityExportScreens
from .kit import EvidenceAdmin


@admin.register(SubscriberChangeRequest)
class SubscriberChangeRequestAdmin(ChangeRequestScreens, EvidenceAdmin):
    """Holders' detail changes: asked on the subscriber's page, consented by code, approved by a supervisor."""

    msisdn_path = "code_sent_to"
    list_display = ("__str__", "subscriber", "state", "changed_fields", "requested_by", "requested_at", "decided_by")
    list_select_related = ("subscriber", "requested_by", "decided_by")
    list_filter = ("state",)
    ordering = ("-requested_at", "-id")
    fieldsets = (
        (None, {"fields": ("subscriber", "branch", "state", "changed_fields")}),
        (
            "New details",
            {
                "fields": (
                    "new_full_name",
                    "new_document_type",
                    "new_masked_document",
                    "new_contact_msisdn",
                    "new_alternate_msisdn",
                )
            },
        ),
        ("Holder's consent", {"fields": ("code_sent_to", "code_attempts", "consented_at")}),
        ("Asked", {"fields": ("requested_by", "requested_at", "request_reason")}),
        ("Decided", {"fields": ("decided_by", "decided_at", "decision_reason")}),
    )

    @admin.display(description="new identity document")
    def new_masked_document(self, obj):
        return obj.new_masked_document

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/consent/",
                self.admin_site.admin_view(self.consent_view),
                name="{}_{}_consent".format(*info),
            ),
            path(
                "<path:object_id>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="{}_{}_approve".format(*info),
            ),
            path(
                "<path:object_id>/reject/",
                self.admin_site.admin_view(self.reject_view),
                name="{}_{}_reject".format(*info),
            ),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        change = self.get_object(request, object_id)
        if change is not None and change.is_open:
            base = f"admin:{self.opts.app_label}_{self.opts.model_name}"
            extra_context["identity_actions"] = [
                (reverse(f"{base}_consent", args=[change.pk]), "Enter the holder's code"),
                (reverse(f"{base}_approve", args=[change.pk]), "Approve"),
                (reverse(f"{base}_reject", args=[change.pk]), "Reject or withdraw"),
            ]
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(IdentityExport)
class IdentityExportAdmin(IdentityExportScreens, PortalModelAdmin):
    """Compliance exports of identity documents: asked from the subscriber list, approved here."""

    list_display = ("__str__", "state", "requested_by", "requested_at", "approved_by", "approved_at")
    list_select_related = ("requested_by", "approved_by")
    list_filter = ("state",)
    ordering = ("-requested_at", "-id")
    fields = (
        "state",
        "subscribers",
        "requested_by",
        "requested_at",
        "request_reason",
        "approved_by",
        "approved_at",
        "approve_reason",
    )
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/approve/",
                self.admin_site.admin_view(self.approve_view),
                name="{}_{}_approve".format(*info),
            ),
        ] + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        extra_context["identity_actions"] = [
            (reverse("admin:numbers_identityexport_approve", args=[object_id]), "Approve and download once")
        ]
        return super().change_view(request, object_id, form_url, extra_context)
