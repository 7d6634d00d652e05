"""The employee's timeline exported: a CSV with one row per field change, and a PDF
dossier for the hearing (read back with pypdf) that carries the grounds, the
changes with their reasons, the access log and whether the audit chains hold."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from audit.choices import AccessKind
from audit.models import AccessEvent
from backoffice.spreadsheet import safe_cell as _cell
from numbers.models import TransferRequest
from review import services
from review.exports import CSV_HEADER
from review.tests.incident import CONSENT_REASON, FLAG_REASON, TRANSFER_REASON, incident, wrongful_change

pytestmark = pytest.mark.django_db

CSV_URL = reverse("audit:export-csv")
PDF_URL = reverse("audit:export-pdf")


@pytest.fixture
def the_incident(agent_b, supervisor_a, handler_a, holder, active, newcomer):
    request, complaint, flag = incident(
        agent=agent_b, supervisor=supervisor_a, handler=handler_a, holder=holder, number=active, newcomer=newcomer
    )
    return {"request": request, "complaint": complaint, "flag": flag}


def query(user, **params) -> str:
    return "?" + urlencode({"employee": user.pk, **params})


def csv_of(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def pdf_text(response) -> str:
    reader = PdfReader(io.BytesIO(response.content))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


# --- CSV ------------------------------------------------------------------------------------


def test_the_csv_has_a_row_per_field_change(client, auditor, the_incident, agent_b):
    client.force_login(auditor)
    response = client.get(CSV_URL + query(agent_b))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    today = timezone.localdate()
    since = today - timedelta(days=30)
    assert response["Content-Disposition"] == (
        f'attachment; filename="review-agent_b-{since.isoformat()}-{today.isoformat()}.csv"'
    )
    rows = csv_of(response)
    assert list(rows[0].keys()) == CSV_HEADER
    change = wrongful_change(the_incident["request"], agent_b)
    state = [
        r
        for r in rows
        if r["model"] == "numbers.transferrequest" and r["field"] == "State" and r["action"] == "changed"
    ]
    assert state == [
        {
            "when": timezone.localtime(change.history_date).isoformat(),
            "request id": change.history_request_id,
            "action": "changed",
            "model": "numbers.transferrequest",
            "object id": str(the_incident["request"].pk),
            "object": f"Transfer request #{the_incident['request'].pk}",
            "field": "State",
            "before": "Awaiting consent",
            "after": "Awaiting approval",
            "reason": CONSENT_REASON,
            "actor": "agent_b",
        }
    ]
    assert any(r["reason"] == TRANSFER_REASON and r["action"] == "created" for r in rows)
    assert {r["actor"] for r in rows} == {"agent_b"}
    # Text a spreadsheet would run as a formula is quoted (a bare phone number is not: see below).
    number = the_incident["request"].number
    assert [r["after"] for r in rows if r["field"] == "Number"] == [f"'{number.msisdn} (#{number.pk})"]


def test_the_csv_follows_the_filters(client, auditor, the_incident, agent_b):
    client.force_login(auditor)
    rows = csv_of(client.get(CSV_URL + query(agent_b, model="numbers.transferconsent", action="+")))
    assert rows and {(r["model"], r["action"]) for r in rows} == {("numbers.transferconsent", "created")}


def test_formulas_are_neutralised_in_the_csv():
    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("@SUM(A1)") == "'@SUM(A1)"
    assert _cell("-2+3") == "'-2+3"
    assert _cell("+85512345678") == "+85512345678"
    assert _cell("plain") == "plain"


def test_a_bad_period_exports_nothing_and_says_why(client, auditor, agent_b):
    client.force_login(auditor)
    response = client.get(CSV_URL + query(agent_b, since="2026-03-10", until="2026-03-01"), follow=True)
    assert response.redirect_chain and response.redirect_chain[-1][0].startswith(reverse("audit:review"))
    assert "The period starts after it ends" in response.content.decode()
    response = client.get(PDF_URL, follow=True)
    assert "Nothing exported. Employee: This field is required." in response.content.decode()


@pytest.mark.parametrize("persona", ["agent_a", "handler_a", "supervisor_a"])
def test_exports_are_refused_to_others(request, client, persona, the_incident, agent_b):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(CSV_URL + query(agent_b)).status_code == 403
    assert client.get(PDF_URL + query(agent_b)).status_code == 403


# --- PDF dossier -----------------------------------------------------------------------------


def test_the_dossier_carries_the_wrongful_change_its_reason_and_the_grounds(
    client, auditor, the_incident, agent_b, admin_user
):
    case = services.case_open(
        employee=agent_b, summary="Pushed a transfer through", actor=auditor, reason="x", flags=[the_incident["flag"]]
    )
    services.case_suspend_employee(case=case, actor=admin_user, reason="Pending the hearing")
    AccessEvent.objects.create(kind=AccessKind.LOGIN, user=agent_b, username="agent_b", ip_address="10.1.2.3")
    client.force_login(auditor)
    response = client.get(PDF_URL + query(agent_b))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith('attachment; filename="dossier-agent_b-')
    text = pdf_text(response)
    # Cover.
    for expected in ("Disciplinary dossier", "Bopha Agent (agent_b)", "E-AGENT_B", "Branch A", "Suspended pending"):
        assert expected in text, expected
    assert "Audrey Auditor (auditor)" in text  # generated by
    # Grounds: the flag, the case, the complaint.
    assert the_incident["complaint"].reference in text and case.reference in text and FLAG_REASON in text
    # The wrongful change, before and after, and why.
    assert "Awaiting consent" in text and "Awaiting approval" in text
    assert CONSENT_REASON in text and TRANSFER_REASON in text
    # The access log and the chains.
    assert "10.1.2.3" in text
    assert "numbers_historicaltransferrequest" in text and "audit_accessevent" in text
    assert "intact" in text and "BROKEN" not in text


def test_the_dossier_says_when_a_chain_is_broken(client, auditor, the_incident, agent_b):
    change = wrongful_change(the_incident["request"], agent_b)
    table = TransferRequest.history.model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            f"UPDATE {table} SET history_change_reason = %s WHERE history_id = %s",  # noqa: S608 - our own table name
            ["edited later", change.history_id],
        )
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = origin")
    client.force_login(auditor)
    text = pdf_text(client.get(PDF_URL + query(agent_b)))
    assert f"BROKEN: {table}: record {change.history_id}" in text
    assert "altered after it was written" in text


def test_an_empty_period_still_makes_a_dossier(client, auditor, agent_c):
    client.force_login(auditor)
    text = pdf_text(client.get(PDF_URL + query(agent_c, since="2020-01-01", until="2020-01-31")))
    assert "No change recorded in the period" in text
    assert "2020-01-01 to 2020-01-31" in text
