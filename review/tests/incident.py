"""The incident the review tests look into: a wrongful transfer, the holder's complaint and the handler's flag."""

from __future__ import annotations

from complaints import services as cs
from complaints.choices import Channel, ComplaintCategory, Severity
from numbers import services as ns
from numbers.choices import ConsentParty, TransferState
from numbers.models import MobileNumber, TransferRequest
from tests.factories import consent_by_code, consent_in_person, transfer_request

TRANSFER_REASON = "Customer asked to move the line to her cousin"
CONSENT_REASON = "Both parties showed their ID at the counter"
FLAG_REASON = "Pushed the transfer through without the holder"


def wrongful_transfer(*, agent, supervisor, number, newcomer) -> TransferRequest:
    """The incident: ``agent`` records both consents "in person" and a supervisor approves."""
    request = transfer_request(
        actor=agent, branch=number.branch, number=number, new_subscriber=newcomer, reason=TRANSFER_REASON
    )
    consent_by_code(request, actor=agent, reason=CONSENT_REASON)
    consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=agent, reason=CONSENT_REASON)
    ns.transfer_approve(request=TransferRequest.objects.get(pk=request.pk), actor=supervisor, reason="looked fine")
    return TransferRequest.objects.get(pk=request.pk)


def wrongful_change(request: TransferRequest, agent):
    """The history record where the agent's consents put the request up for approval."""
    return TransferRequest.history.get(
        id=request.pk, history_user=agent, state=TransferState.AWAITING_APPROVAL, history_type="~"
    )


def incident(*, agent, supervisor, handler, holder, number, newcomer):
    """The wrongful transfer, the holder's complaint, and the handler's flag on the agent's change."""
    request = wrongful_transfer(agent=agent, supervisor=supervisor, number=number, newcomer=newcomer)
    complaint = cs.complaint_create(
        complainant=holder,
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        severity=Severity.CRITICAL,
        channel=Channel.BRANCH,
        description="My number was given to someone else without my consent",
        numbers=[MobileNumber.objects.get(pk=number.pk)],
        actor=handler,
        reason="Holder at the counter with her ID",
    )
    change = wrongful_change(request, agent)
    flag = cs.employee_flag(
        complaint=complaint, change=f"numbers.transferrequest:{change.history_id}", actor=handler, reason=FLAG_REASON
    )
    return request, complaint, flag
