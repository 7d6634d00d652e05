"""What the audit review reads: an employee's changes across every history table with
field-by-field before and after, an object's history, one request's changes, the
access log and the employee's summary; read in a fixed number of queries.

The incident is in incident.py, shared with test_views.py and test_exports.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.choices import AccessKind
from audit.models import AccessEvent
from numbers import services as ns
from numbers.choices import NumberStatus, TransferState
from numbers.models import TransferRequest
from review import selectors
from review.tests.incident import (
    CONSENT_REASON,
    TRANSFER_REASON,
    incident,
    wrongful_change,
    wrongful_transfer,
)
from staff.choices import Role
from staff.selectors import can_review
from staff.services import employee_set_roles
from tests.factories import SubscriberFactory, number_in_state, transfer_request

pytestmark = pytest.mark.django_db


def period(days: int = 1):
    now = timezone.now()
    return now - timedelta(days=days), now + timedelta(days=days)


def changes_of(entry) -> dict[str, tuple[str, str]]:
    return {change.field: (change.before, change.after) for change in entry.changes}


# --- The employee's timeline ------------------------------------------------------------------


def test_the_timeline_shows_each_change_with_before_after_reason_and_request(
    agent_b, supervisor_a, active, newcomer, holder
):
    request = wrongful_transfer(agent=agent_b, supervisor=supervisor_a, number=active, newcomer=newcomer)
    since, until = period()
    page = selectors.employee_timeline(agent_b, since, until)
    assert not page.has_more
    transfer = [e for e in page.entries if e.model_label == "numbers.transferrequest"]
    assert [e.action for e in transfer] == ["~", "+"]  # newest first
    changed, created = transfer
    assert changes_of(changed)["State"] == ("Awaiting consent", "Awaiting approval")
    assert changed.reason == CONSENT_REASON
    assert changed.request_id == wrongful_change(request, agent_b).history_request_id
    assert changed.actor_label == "agent_b"
    assert changed.object_url == f"/review/object/numbers.transferrequest/{request.pk}/"
    assert created.reason == TRANSFER_REASON
    created_changes = changes_of(created)
    assert created_changes["State"] == ("", "Awaiting consent")
    assert created_changes["Stated reason"] == ("", TRANSFER_REASON)
    assert created_changes["Number"][1] == f"{active.msisdn} (#{active.pk})"
    assert created_changes["Requested by"][1] == "Bopha Agent (agent_b)"
    # The consents agent_b recorded are there too, and nothing supervisor_a did.
    assert {e.model_label for e in page.entries} >= {"numbers.transferconsent", "numbers.transferrequest"}
    assert all(e.actor_label == "agent_b" for e in page.entries)
    whens = [e.when for e in page.entries]
    assert whens == sorted(whens, reverse=True)


def test_the_timeline_keeps_to_the_period(agent_b, supervisor_a, active, newcomer):
    wrongful_transfer(agent=agent_b, supervisor=supervisor_a, number=active, newcomer=newcomer)
    now = timezone.now()
    assert selectors.employee_timeline(agent_b, now - timedelta(days=1), now + timedelta(days=1)).entries
    earlier = selectors.employee_timeline(agent_b, now - timedelta(days=30), now - timedelta(days=1))
    assert earlier.entries == []
    later = selectors.employee_timeline(agent_b, now + timedelta(minutes=1), now + timedelta(days=1))
    assert later.entries == []


def test_the_timeline_filters_by_model_and_action(agent_b, supervisor_a, active, newcomer):
    wrongful_transfer(agent=agent_b, supervisor=supervisor_a, number=active, newcomer=newcomer)
    since, until = period()
    requests_only = selectors.employee_timeline(agent_b, since, until, models=["numbers.transferrequest"])
    assert {e.model_label for e in requests_only.entries} == {"numbers.transferrequest"}
    created = selectors.employee_timeline(agent_b, since, until, actions=["+"])
    assert created.entries and {e.action for e in created.entries} == {"+"}
    both = selectors.employee_timeline(agent_b, since, until, models=["numbers.transferrequest"], actions=["~"])
    assert [(e.model_label, e.action) for e in both.entries] == [("numbers.transferrequest", "~")]
    # An unknown model or action filters nothing in (and raises nothing).
    assert selectors.employee_timeline(agent_b, since, until, models=["nope.nothing"]).entries == []


def test_the_timeline_pages_and_says_when_there_is_more(agent_b, supervisor_a, active, newcomer):
    wrongful_transfer(agent=agent_b, supervisor=supervisor_a, number=active, newcomer=newcomer)
    since, until = period()
    everything = selectors.employee_timeline(agent_b, since, until).entries
    assert len(everything) >= 4
    first = selectors.employee_timeline(agent_b, since, until, per_page=2)
    second = selectors.employee_timeline(agent_b, since, until, page=2, per_page=2)
    assert first.has_more and len(first.entries) == 2
    assert [e.key for e in first.entries + second.entries] == [e.key for e in everything[:4]]
    assert list(selectors.employee_timeline_all(agent_b, since, until)) == everything


def test_many_to_many_changes_show_as_added_and_removed(admin_user, agent_a):
    employee_set_roles(employee=agent_a.employee, roles=[Role.SUPERVISOR], actor=admin_user, reason="Promoted")
    since, until = period()
    users = selectors.employee_timeline(admin_user, since, until, models=["auth.user"]).entries
    promoted = [e for e in users if e.object_id == str(agent_a.pk) and e.reason == "Promoted"]
    assert promoted, "the roles change is on the user's history"
    groups = [changes_of(e)["Groups"] for e in promoted if "Groups" in changes_of(e)]
    assert ("removed: agent", "") in groups
    assert ("", "added: supervisor") in groups
    # Made by employee_create, the persona's record shows its group added with no "before".
    created = next(e for e in users if e.object_id == str(agent_a.pk) and e.action == "+")
    assert changes_of(created)["Username"] == ("", "agent_a")


def test_a_deleted_object_still_shows_with_what_it_was(admin_user, agent_a):
    """Guardian rows are deleted when authority is recomputed: the history keeps them."""
    employee_set_roles(employee=agent_a.employee, roles=[Role.SUPERVISOR], actor=admin_user, reason="Promoted")
    since, until = period()
    deleted = selectors.employee_timeline(
        admin_user, since, until, models=["numbers.branchuserobjectpermission"], actions=["-"]
    ).entries
    assert deleted
    entry = deleted[0]
    assert not entry.object_exists and entry.object_str.endswith(f"#{entry.object_id}")
    assert all(after == "" for _, after in changes_of(entry).values())
    assert changes_of(entry)["User"][0] == "Anan Agent (agent_a)"


def test_secrets_are_never_shown(agent_a, active, newcomer):
    request = transfer_request(actor=agent_a, branch=active.branch, number=active, new_subscriber=newcomer)
    ns.consent_code_send(request=request, actor=agent_a, reason="Code to the holder's phone")
    since, until = period()
    codes = selectors.employee_timeline(agent_a, since, until, models=["numbers.consentcode"]).entries
    assert codes
    assert changes_of(codes[0])["Code hash"] == ("", "(hidden)")


def test_the_timeline_page_costs_the_same_queries_however_many_entries(agent_a, branch_a):
    """Two sizes, the same tables: the number of queries does not follow the number of entries."""
    since, until = period()

    def sell(count: int):
        for _ in range(count):
            number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=SubscriberFactory())

    def measure() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            page = selectors.employee_timeline(agent_a, since, until)
        return len(page.entries), len(queries)

    sell(2)
    small_entries, small_queries = measure()
    sell(8)
    large_entries, large_queries = measure()
    assert large_entries >= small_entries + 8
    assert large_queries == small_queries


# --- Objects and requests -----------------------------------------------------------------------


def test_the_history_of_a_number_shows_who_held_it_and_who_changed_what(
    agent_b, supervisor_a, active, holder, newcomer
):
    request = wrongful_transfer(agent=agent_b, supervisor=supervisor_a, number=active, newcomer=newcomer)
    history = selectors.object_history("numbers.mobilenumber", str(active.pk))
    assert history.obj == active and history.title == active.msisdn
    holders = [(h.subscriber, h.ended_at is None) for h in history.holdings]
    assert holders == [(newcomer, True), (holder, False)]
    assert {e.actor_label for e in history.entries} >= {"agent_a", "supervisor_a"}
    holder_change = next(e for e in history.entries if "Holder" in changes_of(e))
    assert holder_change.actor_label == "supervisor_a"
    assert changes_of(holder_change)["Holder"][1].startswith("New Subscriber")
    related = {(e.model_label, e.actor_label) for e in history.related}
    assert ("numbers.transferrequest", "agent_b") in related
    assert ("numbers.transferconsent", "agent_b") in related
    assert ("numbers.holding", "supervisor_a") in related
    assert all(e.object_id == str(request.pk) for e in history.related if e.model_label == "numbers.transferrequest")


def test_an_unknown_object_or_model_has_no_history(active):
    assert selectors.object_history("numbers.mobilenumber", "999999") is None
    assert selectors.object_history("numbers.mobilenumber", "not-a-number") is None
    assert selectors.object_history("nope.nothing", "1") is None
    other = selectors.object_history("numbers.subscriber", str(active.holder_id))
    assert other is not None and other.holdings == []


def test_a_request_shows_everything_it_changed_in_order(agent_b, supervisor_a, active, newcomer):
    request = wrongful_transfer(agent=agent_b, supervisor=supervisor_a, number=active, newcomer=newcomer)
    approval = TransferRequest.history.filter(id=request.pk, state=TransferState.EXECUTED).get()
    entries, more, events = selectors.request_changes(approval.history_request_id)
    assert not more and events == []
    labels = {e.model_label for e in entries}
    assert {"numbers.transferrequest", "numbers.mobilenumber", "numbers.holding"} <= labels
    assert {e.request_id for e in entries} == {approval.history_request_id}
    whens = [e.when for e in entries]
    assert whens == sorted(whens)
    assert selectors.request_changes("0" * 32) == ([], False, [])
    assert selectors.request_changes("not a request id!") == ([], False, [])


# --- The access log and the summary --------------------------------------------------------------


def test_access_events_of_the_employee_in_the_period(agent_b, agent_a):
    AccessEvent.objects.create(kind=AccessKind.LOGIN, user=agent_b, username="agent_b")
    AccessEvent.objects.create(kind=AccessKind.LOGIN_FAILED, user=None, username="agent_b")
    AccessEvent.objects.create(kind=AccessKind.LOGIN, user=agent_a, username="agent_a")
    since, until = period()
    events, more = selectors.access_events(agent_b, since, until)
    assert not more
    assert sorted(e.kind for e in events) == [AccessKind.LOGIN, AccessKind.LOGIN_FAILED]
    assert selectors.access_events(agent_b, until, until + timedelta(days=1)) == ([], False)


def test_the_summary_of_an_employee(agent_b, supervisor_a, handler_a, holder, active, newcomer, branch_a):
    _, complaint, flag = incident(
        agent=agent_b, supervisor=supervisor_a, handler=handler_a, holder=holder, number=active, newcomer=newcomer
    )
    summary = selectors.employee_summary(agent_b)
    assert summary.name == "Bopha Agent (agent_b)"
    assert summary.employee.employee_code == "E-AGENT_B"
    assert summary.branches == [branch_a]
    assert summary.roles == [Role.AGENT]
    assert summary.employment_status == "Active"
    assert summary.suspension is None and summary.open_case is None
    assert summary.flags == [flag] and summary.live_flags == [flag]
    assert list(selectors.flags_for_grounds(agent_b)) == [flag]
    assert list(selectors.complaints_for_grounds(agent_b)) == [complaint]
    assert list(selectors.flags_for_grounds(handler_a)) == []


# --- Who may review -------------------------------------------------------------------------------


def test_only_working_auditors_and_administrators_review(admin_user, auditor, agent_a, handler_a, supervisor_a):
    assert can_review(auditor) and can_review(admin_user)
    assert not any(can_review(user) for user in (agent_a, handler_a, supervisor_a))
    auditor.is_active = False
    assert not can_review(auditor)
