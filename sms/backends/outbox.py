from . import BaseSmsBackend, Sms


class OutboxBackend(BaseSmsBackend):
    """Delivers nothing: messages stay readable in the SMS outbox (the admin).

    The default, for the demo and development; production sets a gateway backend.
    """

    def send_messages(self, messages: list[Sms]) -> int:
        return len(messages)
