"""What the number services announce to the apps above them (complaints listens)."""

from django.dispatch import Signal

# Sent inside the dispute's transaction with ``dispute`` (a TransferDispute) and
# ``text`` (what the holder sent): the complaints app opens a complaint draft.
transfer_disputed = Signal()
