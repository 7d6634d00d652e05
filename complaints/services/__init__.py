"""The complaint services: the only code that writes complaints, their blocks,
restorations, offers, regulator cases and employee flags.

Each function is one transaction, takes the acting user and a reason, checks the
actor's authority (the assigned handler's object permission, or the branch's
supervisors), leaves history with both, and adds a line to the complaint's
timeline. Callers import from here.
"""

from .blocks import (
    complaint_block_number,
    complaint_lift_block,
    restoration_approval_blockers,
    restoration_approve,
    restoration_cancel,
    restoration_reject,
    restoration_request,
)
from .calendar import calendar_load_holidays
from .configuration import sla_table_activate
from .handling import (
    complaint_acknowledge,
    complaint_add_number,
    complaint_assign,
    complaint_close,
    complaint_create,
    complaint_investigate,
    complaint_note,
    complaint_record_breaches,
    complaint_reopen,
    complaint_resolve,
    sla_rule_for,
)
from .offers import (
    offer_approve,
    offer_expire_due,
    offer_limit,
    offer_make,
    offer_propose,
    offer_record_response,
    offer_refuse,
    offer_withdraw,
)
from .records import employee_flag, employee_flag_withdraw, regulator_case_record, regulator_response_record

__all__ = [
    "calendar_load_holidays",
    "complaint_acknowledge",
    "complaint_add_number",
    "complaint_assign",
    "complaint_block_number",
    "complaint_close",
    "complaint_create",
    "complaint_investigate",
    "complaint_lift_block",
    "complaint_note",
    "complaint_record_breaches",
    "complaint_reopen",
    "complaint_resolve",
    "employee_flag",
    "employee_flag_withdraw",
    "offer_approve",
    "offer_expire_due",
    "offer_limit",
    "offer_make",
    "offer_propose",
    "offer_record_response",
    "offer_refuse",
    "offer_withdraw",
    "regulator_case_record",
    "regulator_response_record",
    "restoration_approval_blockers",
    "restoration_approve",
    "restoration_cancel",
    "restoration_reject",
    "restoration_request",
    "sla_rule_for",
    "sla_table_activate",
]
