"""Admin for the audit records: the access log and disciplinary cases, read-only.

Nobody adds, changes or deletes them here, the superuser included: sign-ins are
logged by the authentication signals, cases are kept on the review screens
(/review/) through review.services. The chain heads (audit.ChainHead) are not
shown: ``manage.py verify_audit`` checks them. Historical users and groups are
read on the user admin's history pages.
"""

from __future__ import annotations

import re

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from backoffice.adminkit import CappedCountPaginator, NoDeleteAdminMixin, PortalModelAdmin
from backoffice.screens import screen_url

from .models import AccessEvent, CaseNote, DisciplinaryCase, RefusedAttempt

REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
CASE_REFERENCE = re.compile(r"^D-\d{4}-0*(\d+)$", re.IGNORECASE)


def case_screen_url(case_id: int) -> str:
    """The case on the review screens (/review/cases/<pk>/)."""
    return screen_url("audit:case-detail", case_id) or f"/review/cases/{case_id}/"


def case_screen_link(case_id: int):
    return format_html('<a href="{}" class="review-screen-link">Open in the audit review</a>', case_screen_url(case_id))


class ReadOnlyAdminMixin:
    """Shown to whoever has the view permission; added, changed and deleted by nobody here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return [field for _, options in self.get_fieldsets(request, obj) for field in options["fields"]]


class AuditRecordAdmin(ReadOnlyAdminMixin, PortalModelAdmin):
    """A record with simple-history: read-only, with its history pages (never a revert)."""


def username_search(queryset, term: str, path: str):
    """A user name, whole or its beginning (case as typed: an index lookup, never icontains)."""
    term = term.strip()
    if not term:
        return queryset
    return queryset.filter(**{f"{path}__startswith": term})


# --- The access log -------------------------------------------------------------------


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdminMixin, NoDeleteAdminMixin, admin.ModelAdmin):
    """Sign-ins, failed sign-ins and sign-outs. Every event is on the audit chain and
    the table is append-only; it keeps no history of its own because it never changes."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    list_display = ("at", "kind", "username", "user", "subscriber", "ip_address", "user_agent", "history_request_id")
    list_select_related = ("user", "subscriber")
    list_filter = ("kind", "at")
    ordering = ("-at", "-id")
    search_fields = ("username",)
    search_help_text = "A user name (whole, or its beginning, as typed), or a request id (X-Request-ID)."
    fieldsets = (
        (None, {"fields": ("kind", "at", "username", "user", "subscriber")}),
        ("From", {"fields": ("ip_address", "user_agent", "history_request_id")}),
        ("Audit chain", {"fields": ("prev_hash", "record_hash")}),
    )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if REQUEST_ID.match(term.lower()):
            return queryset.filter(history_request_id=term.lower()), False
        return username_search(queryset, term, "username"), False


# --- Refused attempts ------------------------------------------------------------------


@admin.register(RefusedAttempt)
class RefusedAttemptAdmin(ReadOnlyAdminMixin, NoDeleteAdminMixin, admin.ModelAdmin):
    """What a service refused to do, for whom, on which rule. On the audit chain and
    append-only like the access log; written by ``audit.context.audited`` alone."""

    paginator = CappedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    list_display = ("at", "actor_label", "kind", "service", "rule", "target_model", "target_pk", "history_request_id")
    list_filter = ("kind", "service", "rule", "at")
    ordering = ("-at", "-id")
    search_fields = ("actor_label",)
    search_help_text = "A user name (whole, or its beginning), or a request id (X-Request-ID)."
    fieldsets = (
        (None, {"fields": ("at", "actor", "actor_label", "kind", "service", "rule", "message")}),
        ("Acted on", {"fields": ("target_model", "target_pk", "target_label", "history_request_id")}),
        ("Audit chain", {"fields": ("prev_hash", "record_hash")}),
    )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if REQUEST_ID.match(term.lower()):
            return queryset.filter(history_request_id=term.lower()), False
        return username_search(queryset, term, "actor_label"), False


# --- Disciplinary cases ---------------------------------------------------------------


class CaseNoteInline(admin.TabularInline):
    model = CaseNote
    fields = ("created_at", "author", "text")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    ordering = ("created_at", "id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DisciplinaryCase)
class DisciplinaryCaseAdmin(AuditRecordAdmin):
    """Cases are opened, noted, suspended on and closed on the review screens; here they are read."""

    list_display = ("reference_shown", "employee", "state", "opened_at", "opened_by", "outcome", "closed_at")
    list_select_related = ("employee", "opened_by")
    list_filter = ("state", "outcome")
    ordering = ("-opened_at", "-id")
    search_fields = ("employee__username",)
    search_help_text = "A case reference (D-2026-00001), or the employee's user name (whole or its beginning)."
    inlines = [CaseNoteInline]
    fieldsets = (
        (None, {"fields": ("reference_shown", "review_link", "employee", "state", "summary")}),
        ("Grounds", {"fields": ("complaints_shown", "flags_shown")}),
        ("Opened", {"fields": ("opened_by", "opened_at")}),
        ("Closed", {"fields": ("outcome", "closed_by", "closed_at")}),
        ("Suspensions", {"fields": ("suspensions_shown",)}),
    )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        reference = CASE_REFERENCE.match(term)
        if reference:
            return queryset.filter(pk=int(reference.group(1))), False
        return username_search(queryset, term, "employee__username"), False

    @admin.display(description="case", ordering="opened_at")
    def reference_shown(self, obj):
        return obj.reference

    @admin.display(description="audit review")
    def review_link(self, obj):
        return case_screen_link(obj.pk)

    @admin.display(description="complaints")
    def complaints_shown(self, obj):
        complaints = obj.complaints.order_by("received_at", "id")
        if not complaints:
            return "—"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:complaints_complaint_change", args=[c.pk]), c.reference) for c in complaints),
        )

    @admin.display(description="flagged changes")
    def flags_shown(self, obj):
        flags = obj.flags.select_related("complaint").order_by("flagged_at", "id")
        if not flags:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">Flag #{}</a> on {}: {}',
            (
                (reverse("admin:complaints_employeeflag_change", args=[f.pk]), f.pk, f.complaint.reference, f.reason)
                for f in flags
            ),
        )

    @admin.display(description="suspensions")
    def suspensions_shown(self, obj):
        suspensions = obj.suspensions.order_by("suspended_at", "id")
        if not suspensions:
            return "—"
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">Suspended {:%Y-%m-%d %H:%M}</a>{}',
            (
                (
                    reverse("admin:staff_suspension_change", args=[s.pk]),
                    s.suspended_at,
                    f", reinstated {s.reinstated_at:%Y-%m-%d %H:%M}" if s.reinstated_at else "",
                )
                for s in suspensions
            ),
        )


@admin.register(CaseNote)
class CaseNoteAdmin(AuditRecordAdmin):
    list_display = ("created_at", "case", "author", "excerpt", "review_link")
    list_select_related = ("case__employee", "author")
    ordering = ("-created_at", "-id")
    search_fields = ("author__username",)
    search_help_text = "A case reference (D-2026-00001), or the author's user name (whole or its beginning)."
    fieldsets = ((None, {"fields": ("case", "review_link", "author", "created_at", "text")}),)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        reference = CASE_REFERENCE.match(term)
        if reference:
            return queryset.filter(case_id=int(reference.group(1))), False
        return username_search(queryset, term, "author__username"), False

    @admin.display(description="note")
    def excerpt(self, obj):
        text = " ".join(obj.text.split())
        return text if len(text) <= 80 else f"{text[:79]}…"

    @admin.display(description="audit review")
    def review_link(self, obj):
        return case_screen_link(obj.case_id)
