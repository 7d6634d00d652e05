"""The development phone screen: each number's messages as its handset received them.

Routed only with DEBUG on (backoffice.urls), and refusing to answer otherwise: the
demo needs to read a one-time code somewhere, and the outbox no longer shows it.
Not an admin page and not a staff screen: it stands for the subscriber's handset.
"""

from __future__ import annotations

from django.conf import settings
from django.http import Http404
from django.shortcuts import render
from django.urls import path

from backoffice.msisdn import InvalidMsisdn, normalize_msisdn

from .backends.devphone import received


def _require_debug() -> None:
    if not settings.DEBUG:
        raise Http404("The development phone exists only with DEBUG on.")


def phone_list(request):
    _require_debug()
    counts: dict[str, int] = {}
    for sms in received():
        counts[sms["to"]] = counts.get(sms["to"], 0) + 1
    return render(request, "sms/dev_phone.html", {"numbers": sorted(counts.items()), "msisdn": None})


def phone_detail(request, msisdn: str):
    _require_debug()
    try:
        msisdn = normalize_msisdn(msisdn)
    except InvalidMsisdn as exc:
        raise Http404("Not a mobile number.") from exc
    messages = list(reversed(received(msisdn)))
    return render(request, "sms/dev_phone.html", {"msisdn": msisdn, "messages": messages})


urlpatterns = [
    path("", phone_list, name="dev_phone"),
    path("<str:msisdn>/", phone_detail, name="dev_phone_number"),
]
