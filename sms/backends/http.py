"""An HTTP SMS gateway: one JSON POST per message, as most operators' SMSCs accept.

Set ``SMS_BACKEND = "sms.backends.http.HttpGatewayBackend"``, ``SMS_GATEWAY_URL``
and ``SMS_GATEWAY_TOKEN``. Anything but a 2xx answer (or no answer within
``SMS_GATEWAY_TIMEOUT`` seconds) is a failed delivery, recorded and retried. Each
request carries the message's reference, so a gateway that deduplicates by it
drops the rare resend after a crash between its answer and our commit.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from . import BaseSmsBackend, Sms, SmsDeliveryError


class HttpGatewayBackend(BaseSmsBackend):
    def __init__(self) -> None:
        if not settings.SMS_GATEWAY_URL:
            raise ImproperlyConfigured("HttpGatewayBackend needs SMS_GATEWAY_URL.")
        self.url = settings.SMS_GATEWAY_URL
        self.token = settings.SMS_GATEWAY_TOKEN
        self.timeout = settings.SMS_GATEWAY_TIMEOUT

    def send_messages(self, messages: list[Sms]) -> int:
        for message in messages:
            payload = {"to": message.to, "text": message.body, "purpose": message.purpose}
            if message.reference:
                payload["reference"] = message.reference
            request = urllib.request.Request(  # noqa: S310 - the URL is the operator's configured gateway
                self.url,
                data=json.dumps(payload).encode(),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    status = response.status
            except urllib.error.HTTPError as exc:
                raise SmsDeliveryError(f"gateway answered {exc.code} {exc.reason}") from exc
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                raise SmsDeliveryError(f"gateway unreachable: {exc}") from exc
            if not 200 <= status < 300:
                raise SmsDeliveryError(f"gateway answered {status}")
        return len(messages)
