from . import BaseSmsBackend, Sms, SmsDeliveryError


class LocmemBackend(BaseSmsBackend):
    """Keeps what it was given in ``LocmemBackend.sent``, like Django's locmem email
    backend; ``fail_next`` makes that many next calls fail as a gateway would."""

    sent: list[Sms] = []
    fail_next: int = 0

    def send_messages(self, messages: list[Sms]) -> int:
        if LocmemBackend.fail_next > 0:
            LocmemBackend.fail_next -= 1
            raise SmsDeliveryError("gateway unavailable (simulated)")
        LocmemBackend.sent.extend(messages)
        return len(messages)
