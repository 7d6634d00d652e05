from . import BaseSmsBackend, Sms


class OutboxBackend(BaseSmsBackend):
    """Stores each message in the SMS outbox table, readable in the admin."""

    def send_messages(self, messages: list[Sms]) -> int:
        from sms.models import SmsMessage

        SmsMessage.objects.bulk_create(
            [SmsMessage(to_msisdn=message.to, body=message.body, purpose=message.purpose) for message in messages]
        )
        return len(messages)
