import sys

from . import BaseSmsBackend, Sms


class ConsoleBackend(BaseSmsBackend):
    """Writes each message to standard output: for a developer's terminal."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def send_messages(self, messages: list[Sms]) -> int:
        for message in messages:
            self.stream.write(f"SMS to {message.to} [{message.purpose}]: {message.body}\n")
        self.stream.flush()
        return len(messages)
