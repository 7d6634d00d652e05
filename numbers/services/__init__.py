"""The number services: the only code that writes a number's status or holder,
the holding ledger, transfer requests, consents and transfer locks.

Inventory and lifecycle moves live in ``inventory``; the dual-consent transfer
in ``transfers``. Callers import from here.
"""

from .inventory import (
    SUBSCRIBER_EDITABLE_FIELDS,
    number_block,
    number_create,
    number_record_topup,
    number_restore,
    number_sell,
    number_transition,
    number_unblock,
    require_previous_holder,
    subscriber_create,
    subscriber_update,
)
from .transfers import (
    consent_code_send,
    consent_code_verify,
    consent_record_in_person,
    consent_record_signed_form,
    consent_revoke,
    transfer_approval_blockers,
    transfer_approve,
    transfer_cancel,
    transfer_confirm_consent,
    transfer_create,
    transfer_expire_due,
    transfer_lock_lift,
    transfer_lock_place,
    transfer_reject,
)

__all__ = [
    "SUBSCRIBER_EDITABLE_FIELDS",
    "consent_code_send",
    "consent_code_verify",
    "consent_record_in_person",
    "consent_record_signed_form",
    "consent_revoke",
    "number_block",
    "number_create",
    "number_record_topup",
    "number_restore",
    "number_sell",
    "number_transition",
    "number_unblock",
    "require_previous_holder",
    "subscriber_create",
    "subscriber_update",
    "transfer_approval_blockers",
    "transfer_approve",
    "transfer_cancel",
    "transfer_confirm_consent",
    "transfer_create",
    "transfer_expire_due",
    "transfer_lock_lift",
    "transfer_lock_place",
    "transfer_reject",
]
