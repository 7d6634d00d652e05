"""The audit records in the admin: the access log, disciplinary cases and their
notes, and suspensions are read by auditors and administrators, by nobody else,
and added, changed or deleted by nobody (the superuser included); the chain heads
are not shown; list pages cost the same number of queries however many rows."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.choices import AccessKind
from audit.models import AccessEvent, CaseNote, ChainHead, DisciplinaryCase, RefusedAttempt
from complaints import services as cs
from complaints.choices import Channel, ComplaintCategory, Severity
from complaints.selectors import flaggable_changes
from numbers import services as ns
from numbers.choices import ConsentParty
from review import services
from staff.models import Suspension
from staff.personas import demo_password, ensure_persona
from staff.services import employee_suspend
from tests.factories import consent_by_code, consent_in_person, transfer_request

pytestmark = pytest.mark.django_db

EVENTS = "/admin/audit/accessevent/"
CASES = "/admin/audit/disciplinarycase/"
NOTES = "/admin/audit/casenote/"
SUSPENSIONS = "/admin/staff/suspension/"
REFUSALS = "/admin/audit/refusedattempt/"
LOGIN = "/admin/login/"
LISTS = [EVENTS, CASES, NOTES, SUSPENSIONS, REFUSALS]
MODELS = [AccessEvent, DisciplinaryCase, CaseNote, Suspension, RefusedAttempt]


def open_case(employee, auditor, **kwargs) -> DisciplinaryCase:
    return services.case_open(
        employee=employee, summary=f"Review of {employee.username}", actor=auditor, reason="Flagged", **kwargs
    )


def failed_sign_in(username: str) -> None:
    response = Client().post(LOGIN, {"username": username, "password": "not-the-password"})
    assert response.status_code == 200  # the form again, with an error


def sign_in(username: str) -> None:
    response = Client().post(LOGIN, {"username": username, "password": demo_password(), "next": "/admin/"})
    assert response.status_code == 302 and response.url == "/admin/"


@pytest.fixture
def records(auditor, agent_b, agent_c):
    """One of each: a sign-in and a failed one, a case with a note, a suspension on it,
    and agent_c's refused attempt to suspend the auditor."""
    with pytest.raises(PermissionDenied):
        employee_suspend(user=auditor, actor=agent_c, reason="payback")
    sign_in("agent_b")
    failed_sign_in("agent_b")
    case = open_case(agent_b, auditor)
    note = services.case_add_note(case=case, text="Check the CCTV of that day.", actor=auditor, reason="Note")
    suspension = services.case_suspend_employee(case=case, actor=auditor, reason="Pending review")
    return {
        AccessEvent: AccessEvent.objects.filter(kind=AccessKind.LOGIN_FAILED).get(),
        DisciplinaryCase: case,
        CaseNote: note,
        Suspension: suspension,
        RefusedAttempt: RefusedAttempt.objects.get(actor=agent_c),
    }


def change_url(obj) -> str:
    return f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/{obj.pk}/change/"


# --- Who reads them -------------------------------------------------------------------


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("persona", ["auditor", "admin_user"])
def test_auditors_and_administrators_read_the_lists_and_records(request, client, records, url, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.get(url)
    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1
    for obj in records.values():
        assert client.get(change_url(obj)).status_code == 200


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("persona", ["agent_a", "supervisor_a", "handler_a"])
def test_other_staff_are_refused(request, client, records, url, persona):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url).status_code == 403
    for obj in records.values():
        assert client.get(change_url(obj)).status_code == 403


def test_signed_out_visitors_are_sent_to_sign_in(client, records):
    for url in LISTS:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_the_index_lists_the_audit_records_for_the_auditor_only(client, auditor, agent_a):
    client.force_login(auditor)
    page = client.get("/admin/").content.decode()
    for url in LISTS:
        assert url in page
    client.force_login(agent_a)
    page = client.get("/admin/").content.decode()
    for url in LISTS:
        assert url not in page


def test_chain_heads_are_not_in_the_admin(client, admin_user, records):
    assert ChainHead.objects.exists()
    assert ChainHead not in admin.site._registry
    client.force_login(admin_user)
    assert client.get("/admin/audit/chainhead/").status_code == 404


# --- Nobody writes them here ----------------------------------------------------------


@pytest.mark.parametrize("persona", ["auditor", "admin_user"])
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_nobody_adds_changes_or_deletes_them(request, rf, records, persona, model):
    user = request.getfixturevalue(persona)
    http = rf.get("/admin/")
    http.user = user
    model_admin = admin.site._registry[model]
    obj = records[model]
    assert model_admin.has_view_permission(http, obj)
    assert not model_admin.has_add_permission(http)
    assert not model_admin.has_change_permission(http, obj)
    assert not model_admin.has_delete_permission(http, obj)
    assert "delete_selected" not in model_admin.get_actions(http)


def snapshot(records) -> dict:
    return {model.__name__: (list(model.objects.order_by("pk").values()), model.objects.count()) for model in records}


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_superuser_cannot_write_them_by_hand(client, admin_user, records, model):
    obj = records[model]
    client.force_login(admin_user)
    before = snapshot(records)
    base = f"/admin/{obj._meta.app_label}/{obj._meta.model_name}/"

    assert client.get(f"{base}add/").status_code == 403
    assert client.post(f"{base}add/", {"summary": "by hand"}).status_code == 403
    assert client.post(change_url(obj), {"summary": "edited", "text": "edited"}).status_code == 403
    assert client.post(f"{base}{obj.pk}/delete/", {"post": "yes"}).status_code == 403
    response = client.post(base, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})
    assert response.status_code in (200, 302)
    assert snapshot(records) == before


@pytest.mark.parametrize("model", [DisciplinaryCase, CaseNote, Suspension], ids=lambda m: m.__name__)
def test_history_is_read_never_reverted(client, auditor, records, model):
    obj = records[model]
    client.force_login(auditor)
    history = obj.history.order_by("history_id").first()
    assert client.get(f"{change_url(obj)[: -len('change/')]}history/").status_code == 200
    url = f"{change_url(obj)[: -len('change/')]}history/{history.history_id}/"
    assert client.get(url).status_code == 200
    before = snapshot(records)
    assert client.post(url, {"summary": "reverted", "text": "reverted"}).status_code == 403
    assert snapshot(records) == before


# --- What the pages show --------------------------------------------------------------


def test_a_case_page_links_to_the_review_screen_with_its_grounds(
    client, auditor, agent_b, supervisor_a, handler_a, branch_a, holder, newcomer, active
):
    request = transfer_request(actor=agent_b, branch=branch_a, number=active, new_subscriber=newcomer)
    consent_by_code(request, actor=agent_b)
    consent_in_person(request, ConsentParty.NEW_SUBSCRIBER, actor=agent_b)
    request.refresh_from_db()
    ns.transfer_approve(request=request, actor=supervisor_a, reason="Both consents on file")
    complaint = cs.complaint_create(
        complainant=holder,
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        severity=Severity.CRITICAL,
        channel=Channel.BRANCH,
        description="My number was given to someone else",
        numbers=[active],
        actor=handler_a,
    )
    key = next(key for key, summary in flaggable_changes(complaint) if "by agent_b:" in summary)
    flag = cs.employee_flag(complaint=complaint, change=key, actor=handler_a, reason="Recorded a consent unseen")
    case = open_case(agent_b, auditor, flags=[flag])
    services.case_add_note(case=case, text="Asked the branch for the visitor log.", actor=auditor, reason="Note")

    client.force_login(auditor)
    page = client.get(change_url(case)).content.decode()
    assert f"/review/cases/{case.pk}/" in page
    assert case.reference in page
    assert complaint.reference in page and f"/admin/complaints/complaint/{complaint.pk}/change/" in page
    assert f"Flag #{flag.pk}" in page and "Recorded a consent unseen" in page
    assert "Asked the branch for the visitor log." in page

    notes = client.get(NOTES).content.decode()
    assert f"/review/cases/{case.pk}/" in notes


def test_a_suspension_page_shows_what_was_taken(client, auditor, agent_b, records):
    suspension = records[Suspension]
    client.force_login(auditor)
    page = client.get(change_url(suspension)).content.decode()
    assert "agent" in page  # the role (group) removed
    assert "operate_branch on numbers.branch" in page  # a branch object permission removed
    assert "Pending review" in page


def test_a_standing_suspension_is_filtered_from_a_reinstated_one(client, auditor, agent_b, agent_c, records):
    case = records[DisciplinaryCase]
    services.case_close(case=case, outcome="warning", actor=auditor, reason="Warned", reinstate=True)
    standing = employee_suspend(user=agent_c, actor=auditor, reason="Pending another review")
    client.force_login(auditor)

    shown = client.get(SUSPENSIONS, {"suspension": "standing"}).context["cl"].result_list
    assert [s.pk for s in shown] == [standing.pk]
    shown = client.get(SUSPENSIONS, {"suspension": "reinstated"}).context["cl"].result_list
    assert [s.pk for s in shown] == [records[Suspension].pk]


# --- Search ---------------------------------------------------------------------------


def listed(client, url, **params) -> set[int]:
    response = client.get(url, params)
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def test_access_log_is_searched_by_user_name_beginning_or_request_id(client, auditor, agent_a, agent_b):
    failed_sign_in("agent_a")
    failed_sign_in("agent_b")
    failed_sign_in("ghost")  # an unknown name, as typed
    client.force_login(auditor)
    by_name = {event.username: event.pk for event in AccessEvent.objects.filter(kind=AccessKind.LOGIN_FAILED)}

    assert listed(client, EVENTS, q="agent_b") == {by_name["agent_b"]}
    assert listed(client, EVENTS, q="agent_") == {by_name["agent_a"], by_name["agent_b"]}
    assert listed(client, EVENTS, q="ghost") == {by_name["ghost"]}
    assert listed(client, EVENTS, q="gent_b") == set()  # not a substring search
    event = AccessEvent.objects.get(pk=by_name["agent_a"])
    if event.history_request_id:
        assert listed(client, EVENTS, q=event.history_request_id) == {event.pk}
    assert listed(client, EVENTS, q="0" * 32) == set()


def test_access_log_is_filtered_by_kind(client, auditor, agent_a):
    sign_in("agent_a")
    failed_sign_in("agent_a")
    client.force_login(auditor)
    failed = listed(client, EVENTS, kind__exact=AccessKind.LOGIN_FAILED)
    assert failed == set(AccessEvent.objects.filter(kind=AccessKind.LOGIN_FAILED).values_list("pk", flat=True))
    signed_in = listed(client, EVENTS, kind__exact=AccessKind.LOGIN)
    assert signed_in and not failed & signed_in


def test_cases_are_searched_by_reference_or_employee(client, auditor, agent_b, agent_c):
    case_b = open_case(agent_b, auditor)
    case_c = open_case(agent_c, auditor)
    client.force_login(auditor)

    assert listed(client, CASES, q=case_b.reference) == {case_b.pk}
    assert listed(client, CASES, q="agent_c") == {case_c.pk}
    assert listed(client, CASES, q="agent_") == {case_b.pk, case_c.pk}
    assert listed(client, CASES, q="gent") == set()


# --- Query counts ---------------------------------------------------------------------

REVIEWED = ("agent_a", "agent_b", "agent_c", "supervisor_a", "supervisor_b", "handler_a")


def _queries(client, url) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries), [query["sql"] for query in captured.captured_queries]


def _grow_events(auditor, times):
    for username in REVIEWED[: 1 if times == 1 else 3]:
        failed_sign_in(username)
        sign_in(username)


def _grow_cases(auditor, times):
    start = DisciplinaryCase.objects.count()
    for username in REVIEWED[start : start + (1 if times == 1 else 2)]:
        open_case(ensure_persona(username), auditor)


def _grow_notes(auditor, times):
    case = DisciplinaryCase.objects.first() or open_case(ensure_persona("agent_a"), auditor)
    for step in range(1 if times == 1 else 2):
        services.case_add_note(case=case, text=f"Note {step}", actor=auditor, reason="Note")


def _grow_suspensions(auditor, times):
    start = Suspension.objects.count()
    for username in REVIEWED[start : start + (1 if times == 1 else 2)]:
        employee_suspend(user=ensure_persona(username), actor=auditor, reason="Pending review")


# (url, who looks, how to add rows, pinned query count). The superuser's five: session, user,
# capped count, employee status (the SMS outbox in the menu), rows; an auditor's two more are
# their permissions (direct and through their role's group).
LIST_PAGES = [
    # Each count includes django-otp's look-up of the session's verified device.
    pytest.param(EVENTS, "auditor", _grow_events, 8, id="events-auditor"),
    pytest.param(EVENTS, "admin_user", _grow_events, 6, id="events-admin"),
    pytest.param(CASES, "auditor", _grow_cases, 8, id="cases-auditor"),
    pytest.param(NOTES, "auditor", _grow_notes, 8, id="notes-auditor"),
    pytest.param(SUSPENSIONS, "auditor", _grow_suspensions, 8, id="suspensions-auditor"),
    pytest.param(SUSPENSIONS, "admin_user", _grow_suspensions, 6, id="suspensions-admin"),
]


@pytest.mark.parametrize(("url", "persona", "grow", "pinned"), LIST_PAGES)
def test_list_page_query_count_does_not_grow_with_rows(request, client, auditor, url, persona, grow, pinned):
    for username in REVIEWED:
        ensure_persona(username)
    client.force_login(request.getfixturevalue(persona))
    grow(auditor, 1)
    client.get(url)  # warm the content-type cache so both measurements start alike

    small_count, small_sql = _queries(client, url)
    small_rows = client.get(url).context["cl"].result_count
    grow(auditor, 2)
    large_count, large_sql = _queries(client, url)
    large_rows = client.get(url).context["cl"].result_count

    assert large_rows > small_rows > 0
    assert small_count == large_count, "\n".join(large_sql)
    assert large_count == pinned, "\n".join(large_sql)
