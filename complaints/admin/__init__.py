"""Admin for complaints, one module per concern; importing them registers every admin.

The complaint case (complaints and their numbers, timeline, blocks, restorations,
offers, regulator cases and employee flags) is evidence: read-only here for
everyone, the superuser included, scoped to the branches the user sees, with its
history. It is handled on the complaint screens (/complaints/), through
complaints.services. The SLA configuration is edited here by administrators (sla.py).
"""

# isort: off
# In the order of the old single module: the admins register in this order.
from . import complaints, records, sla  # noqa: F401

# isort: on
