"""The gateway's door for subscribers' replies: POST /sms/inbound/.

Token-authenticated (``SMS_INBOUND_TOKEN``, compared in constant time), JSON in
and out. Each message is acted on once per gateway id; a replay gets the first
answer. Every message that reaches the portal is answered 200 with its status,
an unknown keyword or reference included, so the gateway does not retry it.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from audit.context import job_scope

from . import services


def _refused(status: int, detail: str) -> JsonResponse:
    response = JsonResponse({"status": "refused", "detail": detail}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="sms-inbound"'
    return response


@csrf_exempt  # a machine-to-machine endpoint: the bearer token stands in for the session
@require_POST
def inbound(request):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return _refused(401, "A bearer token is required.")
    expected = settings.SMS_INBOUND_TOKEN
    if not expected or not constant_time_compare(token.strip(), expected):
        return _refused(403, "This token is not accepted.")
    try:
        payload = json.loads(request.body or b"{}")
        fields = {key: payload[key] for key in ("id", "from", "text")}
    except (ValueError, TypeError, KeyError):
        return JsonResponse({"status": "bad_request", "detail": "Post JSON with id, from and text."}, status=400)
    if not all(isinstance(value, str) for value in fields.values()):
        return JsonResponse({"status": "bad_request", "detail": "id, from and text are strings."}, status=400)
    try:
        with job_scope("sms.inbound"):
            message = services.inbound_sms_receive(message_id=fields["id"], sender=fields["from"], text=fields["text"])
    except ValidationError as exc:
        return JsonResponse({"status": "bad_request", "detail": " ".join(exc.messages)}, status=400)
    return JsonResponse({"id": message.gateway_message_id, "status": message.status, "detail": message.answer})
