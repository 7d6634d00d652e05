"""What a number's and a subscriber's admin pages show beside their fields: their
transfer requests and their complaints, scoped to the user's branches, one query each."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from backoffice.screens import screen_url
from staff.selectors import branch_scope

from .. import registry
from ..models import MobileNumber, Subscriber, TransferRequest

# How many transfer requests the number and subscriber pages list (newest first).
TRANSFER_ROWS_SHOWN = 20
# How many complaints the number and subscriber pages list (newest first).
COMPLAINT_ROWS_SHOWN = 20


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
