"""What the staff screens (transfers, approvals, withdrawals, complaints) share: the
admin's look, the action view (form, service, message, redirect), a row count that
ignores annotations, page numbers and dates that cannot overflow, and form errors as
one message."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Literal
from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.functional import cached_property

from .adminkit import CappedCountPaginator, report_service_error


def render_screen(request, template: str, context: dict) -> TemplateResponse:
    """Our screens carry the admin's header, sidebar and title, so they look like the admin."""
    return TemplateResponse(request, template, {**admin.site.each_context(request), **context})


def screen_url(name: str, *args, query: dict | None = None) -> str | None:
    """The URL of a staff screen, or None while that screen is not installed."""
    try:
        url = reverse(name, args=args)
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode(query)}" if query else url


# The deepest page any screen serves. Counts stop at ADMIN_COUNT_CAP anyway, and a
# page number beyond this (99999999999999999999999) would overflow the database's
# OFFSET: such a number is brought back to this page, never passed on.
MAX_PAGE = 10_000


def page_number(raw, *, last: int = MAX_PAGE) -> int:
    """A requested page as a number in [1, last]: garbage is page 1, huge is ``last``."""
    try:
        number = int(str(raw).strip())
    except (TypeError, ValueError):
        return 1
    return min(max(number, 1), last)


class RowPaginator(CappedCountPaginator):
    """Counts ids only: a row's joins and annotations (consents, risk flags, the
    complainant) are not needed to count rows, and COUNT over them would evaluate
    every subquery up to the cap."""

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by().values("pk")[: self.cap + 1].count()

    def get_page(self, number):
        """Any ?page= (empty, "abc", 1e400, 40 digits) is a page we can serve."""
        return super().get_page(page_number(number, last=max(self.num_pages, 1)))


# Dates a person can mean on a staff screen. 0001-01-01 and 9999-12-31 parse as
# dates, but a period's end plus one day, or a date made aware in a timezone,
# overflows (OverflowError: a 500). Forms refuse them with a message instead.
EARLIEST_DATE = datetime.date(2000, 1, 1)
LATEST_YEARS_AHEAD = 1


def latest_date() -> datetime.date:
    today = timezone.localdate()
    return today.replace(year=today.year + LATEST_YEARS_AHEAD, day=min(today.day, 28))


def check_date_bounds(value: datetime.date | None) -> None:
    if value is None:
        return
    day = value.date() if isinstance(value, datetime.datetime) else value
    latest = latest_date()
    if not EARLIEST_DATE <= day <= latest:
        raise ValidationError(
            f"Choose a date between {EARLIEST_DATE.isoformat()} and {latest.isoformat()}.", code="date_out_of_range"
        )


class BoundedDateField(forms.DateField):
    """A date between EARLIEST_DATE and a year from today, or a clear error."""

    default_validators = [check_date_bounds]


class BoundedDateTimeField(forms.DateTimeField):
    """A moment between EARLIEST_DATE and a year from today, or a clear error."""

    default_validators = [check_date_bounds]


def report_form_errors(request, form: forms.Form, what: str) -> None:
    parts = []
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        parts.append(f"{label}: {' '.join(errors)}" if label else " ".join(errors))
    messages.error(request, f"{what}: nothing was recorded. {' '.join(parts)}")


def post_action(
    request,
    form: forms.Form,
    perform: Callable[[dict], str],
    *,
    what: str,
    back: str,
    done: str | None = None,
    refused: str = "refused, nothing changed",
    denied: Literal["message", "403"] = "message",
) -> HttpResponseRedirect:
    """Every action on a staff screen (a POST to its own URL): validate the form, call
    one service, say what happened, redirect (post/redirect/get).

    ``perform(cleaned_data)`` calls the service and returns the success message.
    ``back`` is the URL an invalid form or a refusal returns to; ``done`` the URL a
    success goes to (``back`` unless given). A ValidationError from the service is a
    message "<what> <refused>: <why>" and nothing changed.

    ``denied`` is what a PermissionDenied raised by the service becomes, as each app
    has always answered it: ``"message"`` (complaints, the review) shows it like a
    refusal, ``"403"`` (transfers, withdrawals) lets it through to the 403 page.
    """
    if not form.is_valid():
        report_form_errors(request, form, what)
        return redirect(back)
    refusals = (ValidationError, PermissionDenied) if denied == "message" else (ValidationError,)
    try:
        success = perform(form.cleaned_data)
    except refusals as exc:
        report_service_error(request, exc, prefix=f"{what} {refused}: ")
        return redirect(back)
    messages.success(request, success)
    return redirect(done or back)
