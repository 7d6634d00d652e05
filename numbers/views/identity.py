"""The screens of a holder's consented detail changes and of the compliance export of
identity documents. They open from the admin pages and keep the admin's URLs (wired by
SubscriberAdmin, SubscriberChangeRequestAdmin and IdentityExportAdmin in
numbers/admin/); each reads a form and calls one service in numbers.services.identity.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.utils.decorators import method_decorator

from backoffice.adminkit import ReasonForm, report_service_error
from staff.reauth import reauth_required

from ..forms import ChangeCodeForm, SubscriberChangeRequestForm
from ..models import IdentityExport, MobileNumber, SubscriberChangeRequest
from ..selectors import subscriber_list
from ..services import identity as identity_services

SCREEN = "admin/numbers/identity_screen.html"


def _screen(model_admin, request, *, form, title: str, intro: list[str], submit: str, obj=None):
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "original": obj,
        "form": form,
        "title": title,
        "intro": intro,
        "submit_label": submit,
    }
    return TemplateResponse(request, SCREEN, context)


def change_request_view(model_admin, request, object_id):
    """From the subscriber's page: ask to change a holder's details (their code, a supervisor's approval)."""
    subscriber = get_object_or_404(subscriber_list(user=request.user), pk=object_id)
    if not model_admin.has_view_permission(request, subscriber):
        raise PermissionDenied
    held = list(MobileNumber.objects.filter(holder=subscriber).order_by("msisdn").values_list("msisdn", flat=True))
    initial = {
        "full_name": subscriber.full_name,
        "id_document_type": subscriber.id_document_type,
        "contact_msisdn": subscriber.contact_msisdn,
        "alternate_msisdn": subscriber.alternate_msisdn,
    }
    form = SubscriberChangeRequestForm(request.POST or None, initial=initial, held=held)
    if request.method == "POST" and form.is_valid():
        try:
            change = identity_services.subscriber_change_request(
                subscriber=subscriber,
                code_to=form.cleaned_data["code_to"],
                actor=request.user,
                reason=form.cleaned_data["reason"],
                **form.changes(),
            )
        except (ValidationError, PermissionDenied) as exc:
            report_service_error(request, exc, "Refused, nothing changed: ")
        else:
            messages.success(
                request,
                f"Change {change.reference} asked. The holder was sent a code at {change.code_sent_to}; "
                "their contact number and held numbers were told.",
            )
            return redirect("admin:numbers_subscriberchangerequest_change", change.pk)
    return _screen(
        model_admin,
        request,
        form=form,
        obj=subscriber,
        title=f"Change the details of {subscriber.full_name}",
        intro=[
            f"{subscriber} holds {len(held)} number(s). Their name, identity document and contact numbers "
            "change only with their consent: a one-time code goes to a number they hold, and a supervisor "
            "of the branch who did not ask approves.",
        ],
        submit="Ask for this change",
    )


def ask_identity_export(model_admin, request, queryset):
    """Subscriber list action: ask for a compliance export of the selected subscribers."""
    form = ReasonForm(request.POST if "apply" in request.POST else None)
    if "apply" in request.POST and form.is_valid():
        try:
            export = identity_services.identity_export_request(
                subscribers=list(queryset[:500]), actor=request.user, reason=form.cleaned_data["reason"]
            )
        except (ValidationError, PermissionDenied) as exc:
            report_service_error(request, exc, "Refused: ")
        else:
            messages.success(request, f"{export} asked: a second employee with the export authority approves it.")
        return None
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.opts,
        "form": form,
        "title": "Ask for a compliance export of identity documents",
        "intro": [f"{queryset.count()} subscriber(s) selected. A second employee approves and downloads it once."],
        "submit_label": "Ask for the export",
        "action": "request_identity_export",
        "selected": queryset.values_list("pk", flat=True),
    }
    return TemplateResponse(request, SCREEN, context)


class ChangeRequestScreens:
    """Mixed into SubscriberChangeRequestAdmin: the holder's code, the approval, the rejection."""

    def _change_or_404(self, request, object_id) -> SubscriberChangeRequest:
        change = get_object_or_404(self.get_queryset(request), pk=object_id)
        if not self.has_view_permission(request, change):
            raise PermissionDenied
        return change

    def _act(self, request, object_id, *, form_class, call, title: str, submit: str, done: str, intro: list[str]):
        change = self._change_or_404(request, object_id)
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                call(change, form.cleaned_data)
            except (ValidationError, PermissionDenied) as exc:
                report_service_error(request, exc, "Refused: ")
            else:
                messages.success(request, done.format(ref=change.reference))
                return redirect("admin:numbers_subscriberchangerequest_change", change.pk)
        return _screen(
            self, request, form=form, obj=change, title=f"{title} {change.reference}", intro=intro, submit=submit
        )

    def consent_view(self, request, object_id):
        return self._act(
            request,
            object_id,
            form_class=ChangeCodeForm,
            call=lambda change, data: identity_services.subscriber_change_consent(
                change=change, code=data["code"], actor=request.user, reason=data["reason"]
            ),
            title="The holder's code for",
            submit="Record the holder's consent",
            done="The holder's consent to {ref} is recorded; a supervisor approves next.",
            intro=["Type the code the holder reads from the SMS on their number. Staff never see it."],
        )

    @method_decorator(reauth_required)
    def approve_view(self, request, object_id):
        return self._act(
            request,
            object_id,
            form_class=ReasonForm,
            call=lambda change, data: identity_services.subscriber_change_approve(
                change=change, actor=request.user, reason=data["reason"]
            ),
            title="Approve",
            submit="Approve and apply",
            done="{ref} approved: the subscriber's details are changed.",
            intro=["A supervisor of the branch who did not ask approves, after the holder's code."],
        )

    def reject_view(self, request, object_id):
        return self._act(
            request,
            object_id,
            form_class=ReasonForm,
            call=lambda change, data: identity_services.subscriber_change_reject(
                change=change, actor=request.user, reason=data["reason"]
            ),
            title="Reject or withdraw",
            submit="Reject",
            done="{ref} is rejected; nothing changed.",
            intro=["Nothing changes on the subscriber."],
        )


class IdentityExportScreens:
    """Mixed into IdentityExportAdmin: the approval, which delivers the file once."""

    @method_decorator(reauth_required)
    def approve_view(self, request, object_id):
        export = get_object_or_404(IdentityExport, pk=object_id)
        if not self.has_view_permission(request, export):
            raise PermissionDenied
        form = ReasonForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                content = identity_services.identity_export_approve(
                    export=export, actor=request.user, reason=form.cleaned_data["reason"]
                )
            except (ValidationError, PermissionDenied) as exc:
                report_service_error(request, exc, "Refused: ")
            else:
                response = HttpResponse(content, content_type="text/csv; charset=utf-8")
                response["Content-Disposition"] = f'attachment; filename="identity-export-{export.pk}.csv"'
                response["Cache-Control"] = "no-store"
                return response
        return _screen(
            self,
            request,
            form=form,
            obj=export,
            title=f"Approve {export}",
            intro=[
                f"{len(export.subscribers)} subscriber(s), asked by {export.requested_by} ({export.request_reason}).",
                "The file holds the documents in full and is delivered once, to you; it is not kept.",
            ],
            submit="Approve and download",
        )
