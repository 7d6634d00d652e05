"""A transfer of a number under an open complaint is flagged in the approval queue."""

from __future__ import annotations

import pytest

from complaints import services as cs
from complaints.tests.casework import new_complaint
from numbers.models import TransferRequest
from numbers.selectors import (
    RiskLevel,
    approval_queue,
    attach_risk_flags,
    transfer_risk_flags,
    with_risk_annotations,
)
from tests.factories import transfer_awaiting_approval

pytestmark = pytest.mark.django_db


def flags(transfer, supervisor) -> set[str]:
    [row] = attach_risk_flags(approval_queue(user=supervisor).filter(pk=transfer.pk))
    return {flag.code for flag in row.risk_flags}


def test_a_number_under_an_open_complaint_is_flagged_until_the_complaint_is_resolved(
    agent_a, handler_a, supervisor_a, branch_a
):
    transfer = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    other = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    assert "open_complaint" not in flags(transfer, supervisor_a)

    complaint = new_complaint(actor=handler_a, complainant=transfer.from_holder, numbers=[transfer.number])
    assert "open_complaint" in flags(transfer, supervisor_a)
    assert "open_complaint" not in flags(other, supervisor_a)  # another number
    row = with_risk_annotations(TransferRequest.objects.select_related("number", "to_subscriber")).get(pk=transfer.pk)
    flag = next(flag for flag in transfer_risk_flags(row) if flag.code == "open_complaint")
    assert flag.label.startswith("The number is under an open complaint")
    assert (flag.short, flag.level) == ("Open complaint", RiskLevel.HIGH)

    cs.complaint_acknowledge(complaint=complaint, actor=handler_a, reason="called back")
    assert "open_complaint" in flags(transfer, supervisor_a)
    cs.complaint_investigate(complaint=complaint, actor=handler_a, reason="looking")
    assert "open_complaint" in flags(transfer, supervisor_a)

    cs.complaint_resolve(complaint=complaint, actor=handler_a, reason="the transfer is the holder's wish")
    assert "open_complaint" not in flags(transfer, supervisor_a)
    cs.complaint_reopen(complaint=complaint, actor=handler_a, reason="the holder came back")
    assert "open_complaint" in flags(transfer, supervisor_a)
    cs.complaint_resolve(complaint=complaint, actor=handler_a, reason="settled")
    cs.complaint_close(complaint=complaint, actor=supervisor_a, reason="done")
    assert "open_complaint" not in flags(transfer, supervisor_a)


def test_an_open_complaint_by_the_holder_about_anything_is_flagged(agent_a, handler_a, supervisor_a, branch_a):
    """A holder in a dispute with the operator (a bill, say) is a reason to look twice."""
    transfer = transfer_awaiting_approval(actor=agent_a, branch=branch_a)
    complaint = new_complaint(actor=handler_a, complainant=transfer.from_holder, branch=branch_a)
    [row] = attach_risk_flags(approval_queue(user=supervisor_a).filter(pk=transfer.pk))
    flag = next(flag for flag in row.risk_flags if flag.code == "open_complaint")
    assert flag.label.startswith("The holder has an open complaint") and flag.is_high
    cs.complaint_acknowledge(complaint=complaint, actor=handler_a, reason="called back")
    cs.complaint_investigate(complaint=complaint, actor=handler_a, reason="looking")
    cs.complaint_resolve(complaint=complaint, actor=handler_a, reason="refunded")
    assert "open_complaint" not in flags(transfer, supervisor_a)
