"""The numbers admin, one module per concern; importing them registers every admin
(autodiscovery imports this package). The workflow screens it links to live in
numbers/views/; the names other apps import from ``numbers.admin`` stay importable here."""

from backoffice.screens import screen_url

from .kit import EvidenceAdmin, ScopedBranchFilter, search_by_msisdn

# isort: off
# In the order of the old single module: the admins register in this order.
from . import numbers, subscribers, records, transfers, withdrawals, identity  # noqa: F401

# isort: on

__all__ = ["EvidenceAdmin", "ScopedBranchFilter", "screen_url", "search_by_msisdn"]
