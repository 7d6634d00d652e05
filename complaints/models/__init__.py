"""Complaints, their SLA clocks, emergency blocks, restorations, compensation offers,
regulator cases and employee flags, one module per sub-domain.

Everything here is evidence for a regulator or a disciplinary hearing: rows are
written only by ``complaints.services`` (a pre_save guard and the queryset refuse
any other write), never deleted, and versioned by simple-history.

Every model and every name other modules import from ``complaints.models`` is
imported here (``_weekdays_validator`` too: migration 0001 names it by this path).
"""

from django.db import models
from django.db.models.signals import pre_save

from numbers.models import guard_service_written

# isort: off
# In the order of the old single module: models register (content types, permissions) in this order.
from .base import WRITTEN_BY, ComplaintWrittenQuerySet
from .sla_tables import Holiday, SlaRule, SlaTable, WorkingCalendar, _weekdays_validator
from .complaints import (
    Complaint,
    ComplaintEvent,
    ComplaintGroupObjectPermission,
    ComplaintNumber,
    ComplaintQuerySet,
    ComplaintSequence,
    ComplaintUserObjectPermission,
)
from .blocks import EmergencyBlock, Restoration
from .offers import CompensationOffer
from .regulator import RegulatorCase, RegulatorResponse
from .flags import EmployeeFlag

# isort: on

# The complaint case: evidence written only by the complaint services.
CASE_MODELS: tuple[type[models.Model], ...] = (
    Complaint,
    ComplaintNumber,
    ComplaintEvent,
    EmergencyBlock,
    Restoration,
    CompensationOffer,
    RegulatorCase,
    RegulatorResponse,
    EmployeeFlag,
)

for _model in CASE_MODELS:
    pre_save.connect(guard_service_written, sender=_model, dispatch_uid=f"guard_{_model.__name__}")

__all__ = [
    "CASE_MODELS",
    "WRITTEN_BY",
    "CompensationOffer",
    "Complaint",
    "ComplaintEvent",
    "ComplaintGroupObjectPermission",
    "ComplaintNumber",
    "ComplaintQuerySet",
    "ComplaintSequence",
    "ComplaintUserObjectPermission",
    "ComplaintWrittenQuerySet",
    "EmergencyBlock",
    "EmployeeFlag",
    "Holiday",
    "RegulatorCase",
    "RegulatorResponse",
    "Restoration",
    "SlaRule",
    "SlaTable",
    "WorkingCalendar",
    "_weekdays_validator",
]
