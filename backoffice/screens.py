"""What the staff screens (transfers, approvals, complaints) share: the admin's
look, a row count that ignores annotations, and form errors as one message."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.functional import cached_property

from .adminkit import CappedCountPaginator


def render_screen(request, template: str, context: dict) -> TemplateResponse:
    """Our screens carry the admin's header, sidebar and title, so they look like the admin."""
    return TemplateResponse(request, template, {**admin.site.each_context(request), **context})


class RowPaginator(CappedCountPaginator):
    """Counts ids only: a row's joins and annotations (consents, risk flags, the
    complainant) are not needed to count rows, and COUNT over them would evaluate
    every subquery up to the cap."""

    @cached_property
    def count(self) -> int:
        return self.object_list.order_by().values("pk")[: self.cap + 1].count()


def report_form_errors(request, form: forms.Form, what: str) -> None:
    parts = []
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        parts.append(f"{label}: {' '.join(errors)}" if label else " ".join(errors))
    messages.error(request, f"{what}: nothing was recorded. {' '.join(parts)}")
