from . import BaseSmsBackend, Sms


class OutboxBackend(BaseSmsBackend):
    """Stores each message in the SMS outbox table, readable in the admin."""

    def send_messages(self, messages: list[Sms]) -> int:
        from simple_history.utils import bulk_create_with_history

        from sms.models import SmsMessage

        bulk_create_with_history(
            [SmsMessage(to_msisdn=message.to, body=message.body, purpose=message.purpose) for message in messages],
            SmsMessage,
            default_change_reason="Message to the subscriber.",
        )
        return len(messages)
