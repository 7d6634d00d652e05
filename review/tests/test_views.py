"""The audit review screens at /review/, allowed and refused, through Django's test
client: auditors and administrators only; the employee's timeline with its filters,
an object's and a request's history, and the disciplinary cases (open, note,
suspend, close). Views only call services, so each test checks both the page and
what was (or was not) written."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.choices import CaseOutcome, CaseState
from audit.models import CaseNote, DisciplinaryCase
from numbers.choices import NumberStatus
from numbers.models import TransferRequest
from review import services
from review.tests.incident import (
    CONSENT_REASON,
    FLAG_REASON,
    TRANSFER_REASON,
    incident,
    wrongful_change,
)
from staff.choices import EmploymentStatus
from staff.models import Employee, Suspension
from staff.personas import demo_password
from tests.factories import SubscriberFactory, number_in_state

pytestmark = pytest.mark.django_db

REVIEW = reverse("audit:review")
CASES = reverse("audit:case-list")


def review_url(user, **params) -> str:
    return f"{REVIEW}?{urlencode({'employee': user.pk, **params})}"


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def signed_in(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def the_incident(agent_b, supervisor_a, handler_a, holder, active, newcomer):
    request, complaint, flag = incident(
        agent=agent_b, supervisor=supervisor_a, handler=handler_a, holder=holder, number=active, newcomer=newcomer
    )
    return {"request": request, "complaint": complaint, "flag": flag}


@pytest.fixture
def a_case(the_incident, agent_b, auditor):
    flag = the_incident["flag"]
    return services.case_open(
        employee=agent_b, summary="Pushed a transfer through", actor=auditor, reason="Flag raised", flags=[flag]
    )


def snapshot(user) -> dict:
    """What the case screens could change: cases, notes, suspensions, the account."""
    fresh = get_user_model().objects.get(pk=user.pk)
    employee = Employee.objects.filter(user=fresh).first()
    return {
        "cases": list(DisciplinaryCase.objects.order_by("pk").values_list("pk", "state", "outcome")),
        "case_history": DisciplinaryCase.history.count(),
        "notes": list(CaseNote.objects.values_list("pk", flat=True)),
        "suspensions": list(Suspension.objects.values_list("pk", "reinstated_at")),
        "active": fresh.is_active,
        "groups": sorted(fresh.groups.values_list("name", flat=True)),
        "status": employee.employment_status if employee else None,
    }


# --- Who may look ---------------------------------------------------------------------------


def every_url(the_incident, a_case, agent_b) -> list[str]:
    request = the_incident["request"]
    change = wrongful_change(request, agent_b)
    return [
        REVIEW,
        review_url(agent_b),
        reverse("audit:export-csv") + "?" + urlencode({"employee": agent_b.pk}),
        reverse("audit:export-pdf") + "?" + urlencode({"employee": agent_b.pk}),
        reverse("audit:object", args=["numbers.transferrequest", request.pk]),
        reverse("audit:object", args=["numbers.mobilenumber", request.number_id]),
        reverse("audit:request", args=[change.history_request_id]),
        CASES,
        reverse("audit:case-detail", args=[a_case.pk]),
    ]


def post_urls(a_case, agent_b) -> dict[str, dict]:
    return {
        reverse("audit:employee-open-case", args=[agent_b.pk]): {"case-summary": "x", "case-reason": "x"},
        reverse("audit:employee-suspend", args=[agent_b.pk]): {"suspend-summary": "x", "suspend-reason": "x"},
        reverse("audit:case-note", args=[a_case.pk]): {"note-text": "A note"},
        reverse("audit:case-suspend", args=[a_case.pk]): {"suspend-reason": "Suspend"},
        reverse("audit:case-close", args=[a_case.pk]): {"close-outcome": "cleared", "close-reason": "Done"},
    }


@pytest.mark.parametrize("persona", ["admin_user", "auditor"])
def test_auditors_and_administrators_open_every_review_screen(request, client, persona, the_incident, a_case, agent_b):
    signed_in(client, request.getfixturevalue(persona))
    for url in every_url(the_incident, a_case, agent_b):
        response = client.get(url)
        assert response.status_code == 200, url
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)


@pytest.mark.parametrize("persona", ["agent_a", "handler_a", "supervisor_a"])
def test_agents_handlers_and_supervisors_get_403_everywhere(request, client, persona, the_incident, a_case, agent_b):
    signed_in(client, request.getfixturevalue(persona))
    before = snapshot(agent_b)
    for url in every_url(the_incident, a_case, agent_b):
        assert client.get(url).status_code == 403, url
    for url, data in post_urls(a_case, agent_b).items():
        assert client.post(url, data).status_code == 403, url
    assert snapshot(agent_b) == before


def test_the_anonymous_are_sent_to_sign_in(client, the_incident, a_case, agent_b):
    for url in every_url(the_incident, a_case, agent_b):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next="), url
    before = snapshot(agent_b)
    for url, data in post_urls(a_case, agent_b).items():
        assert client.post(url, data).status_code == 302
    assert snapshot(agent_b) == before


def test_a_suspended_auditor_is_refused(client, auditor, admin_user, agent_b):
    signed_in(client, auditor)
    assert client.get(REVIEW).status_code == 200
    employee = Employee.objects.get(user=auditor)
    employee.employment_status = EmploymentStatus.SUSPENDED
    employee.save()
    # Signed out on the next request (staff.middleware), so sent to sign in again.
    response = client.get(REVIEW)
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_review_link_is_in_the_header_for_reviewers_only(client, auditor, agent_a):
    assert b'id="nav-review"' in signed_in(client, auditor).get(reverse("admin:index")).content
    assert b'id="nav-review"' not in signed_in(client, agent_a).get(reverse("admin:index")).content


# --- The employee's timeline -------------------------------------------------------------------


def test_the_timeline_shows_the_change_before_after_reason_and_request(client, auditor, the_incident, agent_b):
    change = wrongful_change(the_incident["request"], agent_b)
    response = signed_in(client, auditor).get(review_url(agent_b))
    assert response.status_code == 200
    page = response.content.decode()
    row = page.split(f'id="entry-numberstransferrequest-{change.history_id}"')[1].split('<tr class="audit-entry')[0]
    assert "Awaiting consent" in row and "Awaiting approval" in row
    assert CONSENT_REASON in page and TRANSFER_REASON in page
    assert reverse("audit:request", args=[change.history_request_id]) in row
    assert reverse("audit:object", args=["numbers.transferrequest", the_incident["request"].pk]) in row
    # The summary, the flag and the forms to act on it.
    assert "E-AGENT_B" in page and FLAG_REASON in page
    assert 'id="suspend-form"' in page and 'id="open-case-form"' in page
    assert 'id="export-csv"' in page and 'id="export-pdf"' in page


def test_the_period_defaults_to_the_last_30_days(client, auditor, agent_b):
    today = timezone.localdate()
    since = today - timedelta(days=30)
    page = signed_in(client, auditor).get(REVIEW).content.decode()
    assert f'name="since" value="{since.isoformat()}"' in page and f'name="until" value="{today.isoformat()}"' in page
    form = client.get(review_url(agent_b)).context["form"]
    assert (form.cleaned_data["since"], form.cleaned_data["until"]) == (since, today)


def test_the_timeline_filters_by_model_and_action(client, auditor, the_incident, agent_b):
    signed_in(client, auditor)
    response = client.get(review_url(agent_b, model="numbers.transferrequest"))
    entries = response.context["timeline"].entries
    assert entries and {e.model_label for e in entries} == {"numbers.transferrequest"}
    response = client.get(review_url(agent_b, model="numbers.transferrequest", action="+"))
    assert [(e.model_label, e.action) for e in response.context["timeline"].entries] == [
        ("numbers.transferrequest", "+")
    ]
    response = client.get(review_url(agent_b, action="~"))
    assert {e.action for e in response.context["timeline"].entries} == {"~"}


def test_a_period_that_ends_before_it_starts_is_refused_clearly(client, auditor, the_incident, agent_b):
    response = signed_in(client, auditor).get(review_url(agent_b, since="2026-03-10", until="2026-03-01"))
    assert response.status_code == 200
    assert "timeline" not in response.context
    assert "The period starts after it ends" in response.content.decode()
    response = client.get(review_url(agent_b, model="nope.nothing"))
    assert "timeline" not in response.context and "Select a valid choice" in response.content.decode()


def test_inactive_employees_can_be_chosen(client, auditor, admin_user, agent_c):
    services.case_suspend_employee(
        case=services.case_open(employee=agent_c, summary="x", actor=auditor, reason="x"), actor=auditor, reason="x"
    )
    response = signed_in(client, auditor).get(REVIEW)
    assert "agent_c (Chenda Agent), inactive" in response.content.decode()
    response = client.get(review_url(agent_c))
    assert response.status_code == 200 and response.context["summary"].suspension is not None
    assert 'id="suspend-form"' not in response.content.decode()


def test_the_timeline_page_costs_the_same_queries_however_many_entries(client, auditor, agent_a, branch_a):
    signed_in(client, auditor)
    url = review_url(agent_a)

    def sell(count: int):
        for _ in range(count):
            number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=SubscriberFactory())

    def measure() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        return len(response.context["timeline"].entries), len(queries)

    sell(2)
    small_entries, small_queries = measure()
    sell(10)
    large_entries, large_queries = measure()
    assert large_entries >= small_entries + 10
    assert large_queries == small_queries


# --- Objects and requests ----------------------------------------------------------------------


def test_the_history_of_a_number_shows_its_holders(client, auditor, the_incident, holder, newcomer, active):
    response = signed_in(client, auditor).get(reverse("audit:object", args=["numbers.mobilenumber", active.pk]))
    page = response.content.decode()
    holdings = page.split('id="holdings"')[1].split("</table>")[0]
    assert holder.full_name in holdings and newcomer.full_name in holdings
    assert "holds it now" in holdings
    related = page.split('id="related-history"')[1]
    assert "agent_b" in related and TRANSFER_REASON in related


def test_look_up_a_number_or_any_record(client, auditor, agent_a, active):
    signed_in(client, auditor)
    lookup = reverse("audit:object-lookup")
    typed = "0" + active.msisdn.removeprefix("+855")  # as staff type it
    response = client.get(lookup, {"lookup-msisdn": typed})
    assert response["Location"] == reverse("audit:object", args=["numbers.mobilenumber", active.pk])
    response = client.get(lookup, {"lookup-model": "auth.user", "lookup-pk": str(agent_a.pk)})
    assert response["Location"] == reverse("audit:object", args=["auth.user", agent_a.pk])
    page = client.get(response["Location"]).content.decode()
    assert '<td class="change-after">Anan</td>' in page and 'id="admin-link"' in page
    response = client.get(lookup, {"lookup-msisdn": "012 309 999"}, follow=True)
    assert "No number +85512309999 has ever been recorded." in messages_of(response)
    response = client.get(lookup, {"lookup-msisdn": "hello"}, follow=True)
    assert any(m.startswith("Nothing to show. 'hello' is not a phone number") for m in messages_of(response))
    response = client.get(lookup, {"lookup-model": "auth.user"}, follow=True)
    assert "Nothing to show. Enter a mobile number, or choose a kind of record and give its id." in messages_of(
        response
    )
    signed_in(client, agent_a)
    assert client.get(lookup, {"lookup-msisdn": typed}).status_code == 403


def test_an_unknown_object_or_request_is_404(client, auditor):
    signed_in(client, auditor)
    assert client.get(reverse("audit:object", args=["numbers.mobilenumber", 999999])).status_code == 404
    assert client.get(reverse("audit:object", args=["nope.nothing", 1])).status_code == 404
    assert client.get(reverse("audit:request", args=["0" * 32])).status_code == 404


def test_a_request_page_shows_what_one_click_changed(client, auditor, the_incident, agent_b, supervisor_a):
    approval = TransferRequest.history.filter(id=the_incident["request"].pk, history_user=supervisor_a).get()
    response = signed_in(client, auditor).get(reverse("audit:request", args=[approval.history_request_id]))
    labels = {e.model_label for e in response.context["entries"]}
    assert {"numbers.transferrequest", "numbers.holding", "numbers.mobilenumber"} <= labels
    assert "looked fine" in response.content.decode()


# --- Acting on an employee ---------------------------------------------------------------------


def test_suspend_pending_review_opens_a_case_and_suspends_in_one_step(client, auditor, the_incident, agent_b):
    signed_in(client, agent_b)  # a session that must end
    reviewer = client.__class__()
    reviewer.force_login(auditor)
    response = reviewer.post(
        reverse("audit:employee-suspend", args=[agent_b.pk]),
        {"suspend-summary": "Wrongful transfer", "suspend-reason": "Pending the hearing"},
        follow=True,
    )
    assert any("Suspended pending review: agent_b (case D-" in m for m in messages_of(response))
    case = DisciplinaryCase.objects.get(employee=agent_b)
    assert case.state == CaseState.SUSPENDED and case.summary == "Wrongful transfer"
    assert list(case.flags.all()) == [the_incident["flag"]]
    assert list(case.complaints.all()) == [the_incident["complaint"]]
    suspension = Suspension.objects.get(user=agent_b)
    assert suspension.case == case and suspension.reason == "Pending the hearing" and suspension.sessions_ended == 1
    agent_b.refresh_from_db()
    assert not agent_b.is_active and list(agent_b.groups.all()) == []
    assert client.get(REVIEW).status_code == 302  # signed out
    response = client.post(reverse("admin:login"), {"username": "agent_b", "password": demo_password()})
    assert response.status_code == 200 and "_auth_user_id" not in client.session  # stays on the sign-in page


def test_suspend_without_a_reason_or_summary_changes_nothing(client, auditor, the_incident, agent_b):
    signed_in(client, auditor)
    url = reverse("audit:employee-suspend", args=[agent_b.pk])
    before = snapshot(agent_b)
    response = client.post(url, {"suspend-summary": "Wrongful transfer", "suspend-reason": "  "}, follow=True)
    assert any(
        "Suspension refused: nothing was recorded" in m and "Reason for the suspension: This field is required" in m
        for m in messages_of(response)
    )
    response = client.post(url, {"suspend-summary": "", "suspend-reason": "Pending"}, follow=True)
    assert any("Say what the employee is accused of" in m for m in messages_of(response))
    assert snapshot(agent_b) == before


def test_a_refused_suspension_leaves_no_case_behind(client, auditor, admin_user, agent_b):
    """An auditor may not suspend a superuser: the case opened in the same step is rolled back."""
    signed_in(client, auditor)
    before = snapshot(admin_user)
    response = client.post(
        reverse("audit:employee-suspend", args=[admin_user.pk]),
        {"suspend-summary": "x", "suspend-reason": "Pending"},
        follow=True,
    )
    assert any("Suspension refused, nothing changed: Only a superuser" in m for m in messages_of(response))
    assert snapshot(admin_user) == before


def test_nobody_suspends_themselves(client, admin_user, auditor):
    signed_in(client, auditor)
    before = snapshot(auditor)
    response = client.post(
        reverse("audit:employee-suspend", args=[auditor.pk]),
        {"suspend-summary": "x", "suspend-reason": "x"},
        follow=True,
    )
    assert any("nothing changed" in m for m in messages_of(response))
    assert snapshot(auditor) == before


def test_open_a_case_on_chosen_grounds(client, auditor, the_incident, agent_b):
    flag, complaint = the_incident["flag"], the_incident["complaint"]
    response = signed_in(client, auditor).post(
        reverse("audit:employee-open-case", args=[agent_b.pk]),
        {"case-summary": "Wrongful transfer", "case-reason": "Flag raised", "case-flags": [flag.pk]},
    )
    case = DisciplinaryCase.objects.get(employee=agent_b)
    assert response.status_code == 302 and response["Location"] == reverse("audit:case-detail", args=[case.pk])
    assert case.state == CaseState.OPEN and list(case.flags.all()) == [flag]
    assert list(case.complaints.all()) == [complaint]
    agent_b.refresh_from_db()
    assert agent_b.is_active  # opening a case suspends nobody


def test_a_case_needs_a_summary_and_only_one_is_open(client, auditor, the_incident, a_case, agent_b, agent_a):
    signed_in(client, auditor)
    before = snapshot(agent_b)
    url = reverse("audit:employee-open-case", args=[agent_b.pk])
    response = client.post(url, {"case-summary": "Again", "case-reason": "x"}, follow=True)
    assert any("already has an open case" in m for m in messages_of(response))
    response = client.post(
        reverse("audit:employee-open-case", args=[agent_a.pk]), {"case-summary": "", "case-reason": "x"}, follow=True
    )
    assert any("Case not opened: nothing was recorded" in m for m in messages_of(response))
    # A flag about someone else is not a choice.
    response = client.post(
        reverse("audit:employee-open-case", args=[agent_a.pk]),
        {"case-summary": "x", "case-reason": "x", "case-flags": [the_incident["flag"].pk]},
        follow=True,
    )
    assert any("Select a valid choice" in m for m in messages_of(response))
    assert snapshot(agent_b) == before


# --- The case screens --------------------------------------------------------------------------


def test_the_case_page_shows_its_grounds(client, auditor, the_incident, a_case, agent_b):
    response = signed_in(client, auditor).get(reverse("audit:case-detail", args=[a_case.pk]))
    page = response.content.decode()
    complaint = the_incident["complaint"]
    assert reverse("complaints:complaint_detail", args=[complaint.pk]) in page and complaint.reference in page
    flags = page.split('id="case-flags"')[1].split("</table>")[0]
    assert the_incident["flag"].change_summary in flags
    assert "Awaiting consent" in flags and "Awaiting approval" in flags and CONSENT_REASON in flags
    assert 'id="case-suspend-form"' in page and 'id="close-form"' in page and 'id="note-form"' in page


def test_case_note_suspend_and_close_with_reinstatement(client, auditor, a_case, agent_b):
    signed_in(client, auditor)
    response = client.post(
        reverse("audit:case-note", args=[a_case.pk]), {"note-text": "Hearing on Monday"}, follow=True
    )
    assert any("Note added" in m for m in messages_of(response))
    assert "Hearing on Monday" in response.content.decode()
    response = client.post(
        reverse("audit:case-suspend", args=[a_case.pk]), {"suspend-reason": "Pending the hearing"}, follow=True
    )
    assert any("Suspended pending review: agent_b (case D-" in m for m in messages_of(response))
    agent_b.refresh_from_db()
    assert not agent_b.is_active
    response = client.post(
        reverse("audit:case-close", args=[a_case.pk]),
        {"close-outcome": CaseOutcome.WARNING, "close-reinstate": "on", "close-reason": "Written warning given"},
        follow=True,
    )
    assert any("closed: written warning; agent_b is reinstated" in m for m in messages_of(response))
    a_case.refresh_from_db()
    agent_b.refresh_from_db()
    assert a_case.state == CaseState.CLOSED and a_case.outcome == CaseOutcome.WARNING
    assert agent_b.is_active and sorted(agent_b.groups.values_list("name", flat=True)) == ["agent"]


def test_case_actions_refused_change_nothing(client, auditor, a_case, agent_b):
    signed_in(client, auditor)
    before = snapshot(agent_b)
    response = client.post(reverse("audit:case-note", args=[a_case.pk]), {"note-text": " "}, follow=True)
    assert any("Note: nothing was recorded" in m for m in messages_of(response))
    response = client.post(reverse("audit:case-suspend", args=[a_case.pk]), {"suspend-reason": ""}, follow=True)
    assert any("Suspension: nothing was recorded" in m for m in messages_of(response))
    response = client.post(reverse("audit:case-close", args=[a_case.pk]), {"close-reason": "Done"}, follow=True)
    assert any("Closing: nothing was recorded" in m for m in messages_of(response))
    # Reinstating someone who was never suspended: the service refuses.
    response = client.post(
        reverse("audit:case-close", args=[a_case.pk]),
        {"close-outcome": CaseOutcome.CLEARED, "close-reinstate": "on", "close-reason": "Done"},
        follow=True,
    )
    assert any("Closing refused, nothing changed: The employee was not suspended" in m for m in messages_of(response))
    assert snapshot(agent_b) == before


def test_dismissed_employees_are_not_reinstated(client, auditor, a_case, agent_b):
    services.case_suspend_employee(case=a_case, actor=auditor, reason="Pending")
    before = snapshot(agent_b)
    response = signed_in(client, auditor).post(
        reverse("audit:case-close", args=[a_case.pk]),
        {"close-outcome": CaseOutcome.DISMISSED, "close-reinstate": "on", "close-reason": "Dismissed"},
        follow=True,
    )
    assert any("A dismissed employee is not reinstated" in m for m in messages_of(response))
    assert snapshot(agent_b) == before


def test_the_case_list_filters_by_state(client, auditor, a_case, agent_c):
    other = services.case_open(employee=agent_c, summary="Another", actor=auditor, reason="x")
    services.case_close(case=other, outcome=CaseOutcome.CLEARED, actor=auditor, reason="Nothing in it")
    signed_in(client, auditor)
    listed = lambda **params: [c.pk for c in client.get(CASES, params).context["page"].object_list]  # noqa: E731
    assert listed() == [other.pk, a_case.pk]
    assert listed(state=CaseState.OPEN) == [a_case.pk]
    assert listed(state=CaseState.CLOSED) == [other.pk]
    assert client.get(CASES, {"state": "bogus"}).status_code == 200
