"""Subscribers, numbers and the holding ledger, one module per sub-domain.

The rule the portal exists for (an active number never changes holder behind its
owner's back) is held in three layers: the service layer is the only code that
writes ``status`` and ``holder``; a pre_save guard and the queryset refuse any
other write of those fields (admin forms, actions, commands, fixtures, shell);
and the database keeps one open holding per number and a holder exactly in the
held states.

Every model and every name other modules import from ``numbers.models`` is
imported here; importing a module also connects its pre_save guards.
"""

from backoffice.evidence import (
    UndeletableModel,
    UndeletableQuerySet,
    in_service_scope,
    kept_as_evidence,
    service_write_scope,
)

from ..identity import mask_last4, normalize_document_number

# isort: off
# In the order of the old single module: models register (content types, permissions) in this order.
from .branches import Branch, BranchGroupObjectPermission, BranchUserObjectPermission
from .subscribers import Subscriber, mask_document_number
from .guards import ServiceWrittenQuerySet, guard_service_written
from .numbers import GUARDED_NUMBER_FIELDS, MobileNumber, MobileNumberQuerySet, guard_number_fields
from .ledger import Holding, HoldingQuerySet, InactivityWarning
from .transfers import (
    CONSENT_COUNTS,
    ConsentCode,
    TransferConsent,
    TransferConsentQuerySet,
    TransferLock,
    TransferRequest,
    needs_confirmation,
)
from .withdrawals import WithdrawalRequest
from .disputes import TransferDispute
from .identity import IdentityExport, SubscriberChangeRequest

# isort: on

__all__ = [
    "CONSENT_COUNTS",
    "GUARDED_NUMBER_FIELDS",
    "Branch",
    "BranchGroupObjectPermission",
    "BranchUserObjectPermission",
    "ConsentCode",
    "Holding",
    "HoldingQuerySet",
    "IdentityExport",
    "InactivityWarning",
    "MobileNumber",
    "MobileNumberQuerySet",
    "ServiceWrittenQuerySet",
    "Subscriber",
    "SubscriberChangeRequest",
    "TransferConsent",
    "TransferConsentQuerySet",
    "TransferDispute",
    "TransferLock",
    "TransferRequest",
    "UndeletableModel",
    "UndeletableQuerySet",
    "WithdrawalRequest",
    "guard_number_fields",
    "guard_service_written",
    "in_service_scope",
    "kept_as_evidence",
    "mask_document_number",
    "mask_last4",
    "needs_confirmation",
    "normalize_document_number",
    "service_write_scope",
]
