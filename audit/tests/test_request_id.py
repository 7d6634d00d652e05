"""Request ids: everything one request (or one job run, or one service call made
outside a request) changes shares one id, echoed in the X-Request-ID header; the next
request gets another. A job run records the job as its actor."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit import context
from audit.chain import chained_models, verify_table
from audit.context import audited_transaction
from backoffice.celery import app
from complaints.choices import Channel, ComplaintCategory, Severity
from complaints.models import Complaint
from numbers.choices import TransferState
from numbers.models import Branch, MobileNumber, TransferRequest
from numbers.services import number_create
from numbers.tasks import expire_transfer_requests
from review import services as audit_services
from staff.models import Suspension
from tests.factories import document_of
from tests.helpers import back_date

CREATE = "/complaints/new/"


def marks() -> dict:
    """The newest key of every audit table, to find what came after."""
    return {m: m._base_manager.order_by("-pk").values_list("pk", flat=True).first() or 0 for m in chained_models()}


def written_since(mark: dict) -> dict:
    """Every audit record written after ``mark``: {table: [records]}."""
    found = {}
    for model, last in mark.items():
        # An SMS delivery after commit is its own job run, with its own id (when eager).
        records = [
            record
            for record in model._base_manager.filter(pk__gt=last).order_by("pk")
            if getattr(record, "actor_label", "") != "job:sms.deliver"
        ]
        if records:
            found[model._meta.db_table] = records
    return found


def request_ids(written: dict) -> set[str]:
    return {record.history_request_id for records in written.values() for record in records}


def intake_data(number, **overrides) -> dict:
    return {
        "subscriber_mode": "existing",
        "document_type": number.holder.id_document_type,
        "document_number": document_of(number.holder),
        "msisdns": number.msisdn,
        "branch": number.branch_id,
        "category": ComplaintCategory.UNAUTHORISED_TRANSFER,
        "severity": Severity.CRITICAL,
        "channel": Channel.BRANCH,
        "description": "My number was given to someone else",
        "received_at": "",
        "reason": "Customer at the counter",
        **overrides,
    }


# --- Requests ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_everything_one_request_writes_shares_its_request_id(handler_a, active, sla_presets):
    """A complaint intake takes the complaint in, numbers its reference, links the number,
    grants the handler, writes the timeline and texts the customer (after commit): one id."""
    client = Client()
    client.force_login(handler_a)
    mark = marks()
    response = client.post(CREATE, intake_data(active))
    assert response.status_code == 302, response.context and response.context["form"].errors
    request_id = response["X-Request-ID"]
    assert len(request_id) == 32

    written = written_since(mark)
    assert {
        "complaints_historicalcomplaint",
        "complaints_historicalcomplaintsequence",
        "complaints_historicalcomplaintevent",
        "complaints_historicalcomplaintnumber",
        "complaints_historicalcomplaintuserobjectpermission",
        "sms_historicalsmsmessage",
    } <= set(written)
    assert request_ids(written) == {request_id}
    for records in written.values():
        for record in records:
            if hasattr(record, "actor_label"):
                assert (record.history_user_id, record.actor_label) == (handler_a.pk, "handler_a")

    # The next request is another id.
    complaint = Complaint.objects.get()
    mark = marks()
    response = client.post(f"/complaints/{complaint.pk}/acknowledge/", {"ack-reason": "Called the customer back"})
    assert response.status_code == 302
    second = written_since(mark)
    assert second and request_ids(second) == {response["X-Request-ID"]}
    assert response["X-Request-ID"] != request_id
    for model in chained_models():
        assert verify_table(model)[1] is None


@pytest.mark.django_db
def test_an_admin_change_shares_the_request_id(client, admin_user, branch_a):
    client.force_login(admin_user)
    mark = marks()
    response = client.post(
        f"/admin/numbers/branch/{branch_a.pk}/change/",
        {"code": branch_a.code, "name": "Branch A, renamed", "is_active": "on", "change_reason": "New sign"},
    )
    assert response.status_code == 302
    assert Branch.objects.get(pk=branch_a.pk).name == "Branch A, renamed"
    written = written_since(mark)
    assert "numbers_historicalbranch" in written
    assert request_ids(written) == {response["X-Request-ID"]}
    [record] = written["numbers_historicalbranch"]
    assert (record.history_user, record.history_change_reason) == (admin_user, "New sign")


@pytest.mark.django_db
def test_a_request_that_changes_nothing_still_gets_an_id(client, admin_user):
    client.force_login(admin_user)
    first, second = client.get("/admin/"), client.get("/admin/")
    assert len(first["X-Request-ID"]) == len(second["X-Request-ID"]) == 32
    assert first["X-Request-ID"] != second["X-Request-ID"]
    assert context.current_request_id() is None  # nothing leaks out of a request


# --- Service calls outside a request ----------------------------------------------------


@pytest.mark.django_db
def test_each_service_call_outside_a_request_gets_its_own_id(admin_user, branch_a):
    first = number_create(msisdn="+85512997001", branch=branch_a, actor=admin_user, reason="Stock")
    second = number_create(msisdn="+85512997002", branch=branch_a, actor=admin_user, reason="Stock")
    ids = [n.history.get().history_request_id for n in (first, second)]
    assert all(len(i) == 32 for i in ids)
    assert ids[0] != ids[1]
    assert context.current_request_id() is None


@pytest.mark.django_db
def test_calls_inside_one_unit_of_work_share_its_id(admin_user, branch_a):
    with audited_transaction(actor=admin_user, reason="Stock delivery"):
        request_id = context.current_request_id()
        numbers = [
            number_create(msisdn=f"+8551299700{i}", branch=branch_a, actor=admin_user, reason="Stock") for i in (3, 4)
        ]
    assert {n.history.get().history_request_id for n in numbers} == {request_id}


@pytest.mark.django_db
def test_a_nested_service_call_shares_its_callers_id(auditor, agent_b):
    """Suspending from a case calls staff.services.employee_suspend inside review.services."""
    case = audit_services.case_open(employee=agent_b, summary="Review", actor=auditor, reason="Flagged")
    opened_id = case.history.get().history_request_id
    mark = marks()
    audit_services.case_suspend_employee(case=case, actor=auditor, reason="Pending review")
    written = written_since(mark)
    assert {"audit_historicaldisciplinarycase", "staff_historicalsuspension", "audit_historicaluser"} <= set(written)
    [request_id] = request_ids(written)
    assert request_id != opened_id
    suspension = Suspension.objects.get(user=agent_b)
    assert {r.history_request_id for r in suspension.history.all()} == {request_id}


# --- Job runs ----------------------------------------------------------------------------


def lapsed_request(open_request) -> TransferRequest:
    now = timezone.now()
    back_date(
        TransferRequest, open_request.pk, created_at=now - timedelta(days=8), expires_at=now - timedelta(minutes=1)
    )
    return open_request


@pytest.mark.django_db
def test_a_job_run_records_the_job_as_actor_and_its_task_id(open_request):
    """Eager, as with no broker (the demo and these tests); test_jobs.py runs it on a real worker."""
    request = lapsed_request(open_request)
    mark = marks()
    app.conf.task_always_eager, previous = True, app.conf.task_always_eager
    try:
        result = expire_transfer_requests.delay()
    finally:
        app.conf.task_always_eager = previous
    assert result.get() == 1
    request.refresh_from_db()
    assert request.state == TransferState.EXPIRED

    written = written_since(mark)
    assert request_ids(written) == {result.id.replace("-", "")}
    record = request.history.latest("history_id")
    assert (record.history_user, record.actor_label) == (None, "job:numbers.expire_transfer_requests")
    assert record.history_change_reason.startswith("Expired: not approved by")
    assert context.current_job() is None and context.current_request_id() is None


@pytest.mark.django_db
def test_two_job_runs_have_two_ids_and_a_run_with_nothing_to_do_writes_nothing(open_request):
    request = lapsed_request(open_request)
    first = expire_transfer_requests.apply()
    mark = marks()
    second = expire_transfer_requests.apply()
    assert second.get() == 0 and first.id != second.id
    assert written_since(mark) == {}
    assert request.history.latest("history_id").history_request_id == first.id.replace("-", "")


@pytest.mark.django_db
def test_a_person_acting_is_not_labelled_as_a_job(admin_user, branch_a):
    number = number_create(msisdn="+85512997005", branch=branch_a, actor=admin_user, reason="Stock")
    record = MobileNumber.history.get(id=number.pk)
    assert (record.history_user, record.actor_label) == (admin_user, "admin")
    with context.job_scope("numbers.some_job") as job_id:
        number = number_create(msisdn="+85512997006", branch=branch_a, actor=admin_user, reason="Stock")
    record = MobileNumber.history.get(id=number.pk)
    # Someone named acts inside a job: they are the actor; the run still groups the change.
    assert (record.history_user, record.actor_label, record.history_request_id) == (admin_user, "admin", job_id)
