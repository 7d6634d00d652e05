"""The lifecycle screens of a number: change its status, sell it, lock it against
transfers and lift the lock. They open from the number's admin page and keep the
admin's URLs (admin:numbers_mobilenumber_move, _sell, _lock, _lift, wired by
MobileNumberAdmin.get_urls); each reads a form and calls one number service."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from backoffice.adminkit import report_service_error
from staff.selectors import has_branch_perm

from .. import services
from ..choices import HELD_STATUSES
from ..forms import MoveForm, SellForm, TransferLiftForm, TransferLockForm
from ..models import MobileNumber, TransferLock


class NumberScreens:
    """Mixed into MobileNumberAdmin: the screens use its scoped queryset, view permission and site."""

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
