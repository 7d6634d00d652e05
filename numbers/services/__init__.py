"""The number services: the only code that writes a number's status or holder,
the holding ledger, transfer requests, consents and transfer locks.

Inventory and lifecycle moves live in ``inventory``; the dual-consent transfer
in ``transfers`` (requests, one-time codes), ``consents``, ``approvals`` and
``locks``; withdrawals by hand in ``withdrawals`` and the return to the last holder in
``reinstatements``. Helpers they share are in ``_shared`` and ``_requests``.
Callers import from here.
"""

from .approvals import transfer_approval_blockers, transfer_approve, transfer_reject
from .consents import consent_record_in_person, consent_record_signed_form, consent_revoke, transfer_confirm_consent
from .disputes import transfer_dispute
from .identity import (
    identity_export_approve,
    identity_export_request,
    subscriber_change_approval_blockers,
    subscriber_change_approve,
    subscriber_change_consent,
    subscriber_change_reject,
    subscriber_change_request,
)
from .inventory import (
    HOLDER_GUARDED_FIELDS,
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
    subscriber_holds_a_number,
    subscriber_update,
)
from .locks import transfer_lock_lift, transfer_lock_place
from .reinstatements import number_reinstate
from .transfers import consent_code_send, consent_code_verify, transfer_cancel, transfer_create, transfer_expire_due
from .withdrawals import (
    holder_cooling_off_ends,
    withdrawal_approval_blockers,
    withdrawal_approve,
    withdrawal_cancel,
    withdrawal_confirm_code,
    withdrawal_confirm_holder_check,
    withdrawal_record_holder_in_person,
    withdrawal_reject,
    withdrawal_request,
    withdrawal_send_code,
)

__all__ = [
    "HOLDER_GUARDED_FIELDS",
    "SUBSCRIBER_EDITABLE_FIELDS",
    "identity_export_approve",
    "identity_export_request",
    "subscriber_change_approval_blockers",
    "subscriber_change_approve",
    "subscriber_change_consent",
    "subscriber_change_reject",
    "subscriber_change_request",
    "subscriber_holds_a_number",
    "consent_code_send",
    "transfer_dispute",
    "consent_code_verify",
    "consent_record_in_person",
    "consent_record_signed_form",
    "consent_revoke",
    "number_block",
    "number_create",
    "number_record_topup",
    "number_reinstate",
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
    "holder_cooling_off_ends",
    "withdrawal_approval_blockers",
    "withdrawal_approve",
    "withdrawal_cancel",
    "withdrawal_confirm_code",
    "withdrawal_confirm_holder_check",
    "withdrawal_record_holder_in_person",
    "withdrawal_reject",
    "withdrawal_request",
    "withdrawal_send_code",
]
