"""The inventory admin: branch scoping, search, read-only numbers, lifecycle
screens, adding numbers and subscribers, and the cost of every list page."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from demo.numbers_seed import withdraw_as_lifecycle
from numbers import services
from numbers.choices import HoldingStartReason, IdentityDocumentType, NumberStatus
from numbers.models import Branch, Holding, MobileNumber, Subscriber
from staff.choices import Role
from staff.services import employee_create
from tests.factories import BranchFactory, MobileNumberFactory, SubscriberFactory, document_of, number_in_state
from tests.helpers import chain_lock_queries, quarantine_over

# Personas are loaded lazily (request.getfixturevalue): the mark opens the database first.
pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/numbers/mobilenumber/"
SUBSCRIBERS = "/admin/numbers/subscriber/"
HOLDINGS = "/admin/numbers/holding/"
BRANCHES = "/admin/numbers/branch/"
EMPLOYEES = "/admin/staff/employee/"


# --- Helpers ------------------------------------------------------------------


def change_url(number) -> str:
    return reverse("admin:numbers_mobilenumber_change", args=[number.pk])


def move_url(number) -> str:
    return reverse("admin:numbers_mobilenumber_move", args=[number.pk])


def sell_url(number) -> str:
    return reverse("admin:numbers_mobilenumber_sell", args=[number.pk])


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def listed(response) -> set[str]:
    """The MSISDNs on a number changelist page."""
    assert response.status_code == 200
    return {number.msisdn for number in response.context["cl"].result_list}


def state_of(number) -> tuple[str, int | None, int]:
    """Status, holder and how many history rows: all three stay put when nothing changes."""
    number.refresh_from_db()
    return number.status, number.holder_id, number.history.count()


def action_names(response) -> set[str]:
    action_form = response.context["action_form"]
    if action_form is None:  # the admin offers no action at all
        return set()
    return {name for name, _ in action_form.fields["action"].choices if name}


@pytest.fixture
def numbers_ab(admin_user, branch_a, branch_b):
    """One held and one available number in each branch."""
    return {
        "a_active": number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a),
        "a_available": number_in_state(NumberStatus.AVAILABLE, actor=admin_user, branch=branch_a),
        "b_active": number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_b),
        "b_available": number_in_state(NumberStatus.AVAILABLE, actor=admin_user, branch=branch_b),
    }


def msisdns(numbers: dict, prefix: str) -> set[str]:
    return {number.msisdn for key, number in numbers.items() if key.startswith(prefix)}


# --- Branch scoping -----------------------------------------------------------


def test_agent_a_lists_branch_a_numbers_and_none_of_branch_b(client, agent_a, numbers_ab):
    client.force_login(agent_a)
    response = client.get(CHANGELIST)
    assert listed(response) == msisdns(numbers_ab, "a_")
    content = response.content.decode()
    for number in (numbers_ab["b_active"], numbers_ab["b_available"]):
        assert number.msisdn not in content


def test_agent_c_lists_branch_b_numbers_and_none_of_branch_a(client, agent_c, numbers_ab):
    client.force_login(agent_c)
    response = client.get(CHANGELIST)
    assert listed(response) == msisdns(numbers_ab, "b_")
    content = response.content.decode()
    for number in (numbers_ab["a_active"], numbers_ab["a_available"]):
        assert number.msisdn not in content


@pytest.mark.parametrize(
    ("persona", "own", "foreign"),
    [("agent_a", "a_active", "b_active"), ("agent_c", "b_active", "a_active")],
)
def test_agent_opening_another_branchs_number_is_told_it_does_not_exist(
    request, client, numbers_ab, persona, own, foreign
):
    client.force_login(request.getfixturevalue(persona))
    hidden = numbers_ab[foreign]

    response = client.get(change_url(hidden))

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    assert any("doesn’t exist" in message for message in messages_of(response))
    landing = client.get(response["Location"])
    assert hidden.msisdn not in landing.content.decode()
    # Nor through the lifecycle screens or the history.
    assert client.get(move_url(hidden)).status_code == 404
    assert client.get(sell_url(hidden)).status_code == 404
    history = client.get(reverse("admin:numbers_mobilenumber_history", args=[hidden.pk]))
    assert history.status_code in (403, 404)
    assert hidden.msisdn not in history.content.decode()

    visible = numbers_ab[own]
    own_page = client.get(change_url(visible))
    assert own_page.status_code == 200
    assert visible.msisdn in own_page.content.decode()


def test_auditor_sees_both_branches(client, auditor, numbers_ab):
    client.force_login(auditor)
    assert listed(client.get(CHANGELIST)) == msisdns(numbers_ab, "")
    for number in numbers_ab.values():
        page = client.get(change_url(number))
        assert page.status_code == 200
        assert number.msisdn in page.content.decode()


def test_auditor_cannot_move_sell_or_act_in_bulk(client, auditor, agent_a, numbers_ab):
    active, available = numbers_ab["a_active"], numbers_ab["a_available"]
    subscriber = SubscriberFactory()
    before = {key: state_of(number) for key, number in numbers_ab.items()}
    client.force_login(auditor)

    moved = client.post(move_url(active), {"to_status": NumberStatus.SUSPENDED, "reason": "Auditor tries"})
    assert moved.status_code == 200
    assert any("no authority" in message for message in messages_of(moved))

    sold = client.post(sell_url(available), {"subscriber": subscriber.pk, "reason": "Auditor tries"})
    assert sold.status_code == 200
    assert any("no authority" in message for message in messages_of(sold))

    listing = client.get(CHANGELIST)
    assert "change_status" not in action_names(listing)
    bulk = client.post(
        CHANGELIST,
        {
            "action": "change_status",
            "_selected_action": [active.pk],
            "apply": "1",
            "to_status": NumberStatus.SUSPENDED,
            "reason": "Auditor tries",
        },
    )
    assert bulk.status_code in (200, 302)
    assert {key: state_of(number) for key, number in numbers_ab.items()} == before
    assert not Holding.objects.filter(number=available).exists()

    # The same requests from an agent of the branch do change the numbers.
    client.force_login(agent_a)
    assert "change_status" in action_names(client.get(CHANGELIST))
    assert client.post(move_url(active), {"to_status": NumberStatus.SUSPENDED, "reason": "Agent"}).status_code == 302
    assert client.post(sell_url(available), {"subscriber": subscriber.pk, "reason": "Agent"}).status_code == 302
    assert state_of(active)[0] == NumberStatus.SUSPENDED
    assert state_of(available)[:2] == (NumberStatus.ACTIVE, subscriber.pk)


def _branch_filter_choices(response, parameter="branch") -> set[str]:
    specs = [spec for spec in response.context["cl"].filter_specs if getattr(spec, "parameter_name", "") == parameter]
    assert len(specs) == 1
    return {label for _, label in specs[0].lookup_choices}


@pytest.mark.parametrize("url", [CHANGELIST, HOLDINGS])
def test_branch_filter_lists_only_the_users_branches(request, client, url, branch_a, branch_b):
    BranchFactory(code="branch-z", name="Branch Z")
    expected = {
        "agent_a": {str(branch_a)},
        "agent_c": {str(branch_b)},
        "auditor": {str(branch) for branch in Branch.objects.all()},
        "admin_user": {str(branch) for branch in Branch.objects.all()},
    }
    assert len(expected["auditor"]) == 3
    for persona, branches in expected.items():
        client.force_login(request.getfixturevalue(persona))
        assert _branch_filter_choices(client.get(url)) == branches, persona


def test_branch_filter_cannot_reach_another_branch(client, agent_a, numbers_ab, branch_a, branch_b):
    client.force_login(agent_a)
    assert listed(client.get(CHANGELIST, {"branch": branch_b.pk})) == set()
    assert listed(client.get(CHANGELIST, {"branch": branch_a.pk})) == msisdns(numbers_ab, "a_")


# --- Search -------------------------------------------------------------------


@pytest.fixture
def searchable(admin_user, branch_a):
    """+855 12 345 678, its neighbour, a number elsewhere in the block, and their holders."""
    target = MobileNumberFactory(msisdn="+85512345678", branch=branch_a)
    neighbour = MobileNumberFactory(msisdn="+85512345679", branch=branch_a)
    elsewhere = MobileNumberFactory(msisdn="+85512300000", branch=branch_a)
    holder = SubscriberFactory(id_document_number="AB123456")
    other = SubscriberFactory(id_document_number="AB123457")
    target = services.number_sell(number=target, subscriber=holder, actor=admin_user, reason="test")
    elsewhere = services.number_sell(number=elsewhere, subscriber=other, actor=admin_user, reason="test")
    return {"target": target, "neighbour": neighbour, "elsewhere": elsewhere}


@pytest.mark.parametrize(
    "term",
    ["012 345 678", "012345678", "+855 12 345 678", "+85512345678", "85512345678", "855 12 345 678", " 012-345-678 "],
)
def test_search_finds_a_whole_number_exactly_in_any_format(client, agent_a, searchable, term):
    client.force_login(agent_a)
    assert listed(client.get(CHANGELIST, {"q": term})) == {"+85512345678"}


@pytest.mark.parametrize("term", ["012 34", "+855 12 34", "8551234", "01234"])
def test_search_finds_a_partial_number_by_prefix(client, agent_a, searchable, term):
    client.force_login(agent_a)
    assert listed(client.get(CHANGELIST, {"q": term})) == {"+85512345678", "+85512345679"}


def test_search_by_prefix_does_not_match_the_middle_of_a_number(client, agent_a, searchable):
    client.force_login(agent_a)
    # "345678" is inside +85512345678 but is not its beginning.
    assert listed(client.get(CHANGELIST, {"q": "345678"})) == set()


@pytest.mark.parametrize("term", ["AB123456", "ab-123 456", " ab123456 "])
def test_search_by_holders_document_number(client, agent_a, searchable, term):
    client.force_login(agent_a)
    assert listed(client.get(CHANGELIST, {"q": term})) == {"+85512345678"}


def test_search_by_unknown_document_finds_nothing(client, agent_a, searchable):
    client.force_login(agent_a)
    assert listed(client.get(CHANGELIST, {"q": "ZZ999999"})) == set()


def test_search_is_scoped_to_the_users_branches(client, agent_c, searchable):
    client.force_login(agent_c)
    assert listed(client.get(CHANGELIST, {"q": "012 345 678"})) == set()
    assert listed(client.get(CHANGELIST, {"q": "AB123456"})) == set()


LEADING_WILDCARD = re.compile(r"LIKE\s+(UPPER\()?'%|ILIKE", re.IGNORECASE)


@pytest.mark.parametrize(
    ("term", "expect_like"),
    [("012 345 678", False), ("+855 12 34", True), ("01234", True), ("ab-123 456", False)],
)
def test_number_search_never_scans_with_a_leading_wildcard(client, agent_a, searchable, term, expect_like):
    client.force_login(agent_a)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    sql = [query["sql"] for query in queries.captured_queries]
    searching = [statement for statement in sql if "numbers_mobilenumber" in statement]
    assert searching
    assert not [statement for statement in sql if LEADING_WILDCARD.search(statement)]
    # A prefix search is a LIKE anchored at the start of the E.164 value.
    assert any("LIKE '+8551234%'" in statement for statement in searching) is expect_like


def test_leading_wildcard_pattern_recognises_a_substring_scan(db):
    """The check above would see an icontains (or contains) search if there were one."""
    with CaptureQueriesContext(connection) as queries:
        list(MobileNumber.objects.filter(msisdn__icontains="2345"))
        list(MobileNumber.objects.filter(msisdn__contains="2345"))
        list(MobileNumber.objects.filter(msisdn__startswith="+8551234"))
    found = [bool(LEADING_WILDCARD.search(query["sql"])) for query in queries.captured_queries]
    assert found == [True, True, False]


# --- The number change form -----------------------------------------------------


@pytest.mark.parametrize(
    "forged", [{"holder": "other"}, {"status": NumberStatus.AVAILABLE}, {"holder": "", "status": ""}]
)
def test_posting_holder_or_status_to_a_number_changes_nothing(client, agent_a, admin_user, branch_a, forged):
    number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    other = SubscriberFactory()
    data = {"change_reason": "Give it to someone else", "msisdn": number.msisdn, "branch": branch_a.pk}
    data.update({key: (other.pk if value == "other" else value) for key, value in forged.items()})
    before = state_of(number)
    client.force_login(agent_a)

    response = client.post(change_url(number), data)

    assert response.status_code == 302
    assert response["Location"] == change_url(number)
    assert any("cannot be edited" in message and "transfer" in message for message in messages_of(response))
    assert state_of(number) == before


def test_posting_a_number_change_without_holder_or_status_is_forbidden(client, agent_a, admin_user, branch_a, branch_b):
    number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    before = state_of(number)
    client.force_login(agent_a)

    response = client.post(
        change_url(number), {"msisdn": "+85512999999", "branch": branch_b.pk, "change_reason": "Edit it"}
    )

    assert response.status_code == 403
    assert state_of(number) == before
    number.refresh_from_db()
    assert (number.msisdn, number.branch_id) != ("+85512999999", branch_b.pk)
    assert number.branch_id == branch_a.pk


def test_number_change_page_is_read_only_and_shows_the_holder(client, agent_a, admin_user, branch_a):
    holder = SubscriberFactory(full_name="Sokha Holder")
    number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a, subscriber=holder)
    client.force_login(agent_a)

    response = client.get(change_url(number))

    assert response.status_code == 200
    content = response.content.decode()
    assert "Sokha Holder" in content
    assert 'name="holder"' not in content
    assert 'name="status"' not in content
    assert 'name="_save"' not in content
    assert "holder" not in response.context["adminform"].form.fields
    assert "holder" in response.context["adminform"].readonly_fields


@pytest.mark.parametrize(
    ("model", "make"), [("mobilenumber", "number"), ("subscriber", "subscriber"), ("holding", "holding")]
)
def test_nothing_is_deleted_through_the_admin(client, admin_user, branch_a, model, make):
    number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    obj = {"number": number, "subscriber": number.holder, "holding": number.holdings.get()}[make]
    client.force_login(admin_user)

    assert client.get(f"/admin/numbers/{model}/{obj.pk}/delete/").status_code == 403
    assert client.post(f"/admin/numbers/{model}/{obj.pk}/delete/", {"post": "yes"}).status_code == 403
    listing = client.get(f"/admin/numbers/{model}/")
    assert listing.status_code == 200
    assert "delete_selected" not in action_names(listing)
    refused = client.post(f"/admin/numbers/{model}/", {"action": "delete_selected", "_selected_action": [obj.pk]})
    assert refused.status_code in (200, 302)
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_the_numbers_own_action_is_offered(client, admin_user):
    """The action list read above is the real one: the number action is in it."""
    client.force_login(admin_user)
    assert action_names(client.get(CHANGELIST)) == {"change_status"}


# --- The bulk action "change_status" -------------------------------------------------


def bulk_post(client, numbers, **data):
    payload = {"action": "change_status", "_selected_action": [number.pk for number in numbers]}
    payload.update(data)
    return client.post(CHANGELIST, payload)


def test_bulk_change_status_shows_an_intermediate_page(client, agent_a, admin_user, branch_a):
    numbers = [number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a) for _ in range(2)]
    before = [state_of(number) for number in numbers]
    client.force_login(agent_a)

    response = bulk_post(client, numbers)

    assert response.status_code == 200
    assert "admin/numbers/mobilenumber/bulk_move.html" in [t.name for t in response.templates]
    content = response.content.decode()
    for number in numbers:
        assert number.msisdn in content
        assert f'value="{number.pk}"' in content
    assert 'name="reason"' in content
    assert [state_of(number) for number in numbers] == before


def test_bulk_change_status_applies_a_legal_move_with_its_reason(client, agent_a, admin_user, branch_a):
    numbers = [number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a) for _ in range(2)]
    holders = [number.holder_id for number in numbers]
    client.force_login(agent_a)

    response = bulk_post(client, numbers, apply="1", to_status=NumberStatus.SUSPENDED, reason="Customer asked")

    assert response.status_code == 302
    assert any("2 number(s) moved to suspended" in message for message in messages_of(response))
    for number, holder in zip(numbers, holders, strict=True):
        number.refresh_from_db()
        assert (number.status, number.holder_id) == (NumberStatus.SUSPENDED, holder)
        latest = number.history.first()
        assert latest.status == NumberStatus.SUSPENDED
        assert latest.history_change_reason == "Customer asked"
        assert latest.history_user == agent_a


def test_bulk_change_status_refuses_an_illegal_move_per_number(client, agent_a, admin_user, branch_a):
    active = [number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a) for _ in range(2)]
    suspended = number_in_state(NumberStatus.SUSPENDED, actor=admin_user, branch=branch_a)
    before = {number.pk: state_of(number) for number in active}
    client.force_login(agent_a)

    response = bulk_post(client, [*active, suspended], apply="1", to_status=NumberStatus.ACTIVE, reason="Reactivate")

    assert response.status_code == 302
    errors = [message for message in messages_of(response) if message.startswith("Refused")]
    assert len(errors) == 2
    for number in active:
        assert any(number.msisdn in error and "cannot move from active to active" in error for error in errors)
        assert state_of(number) == before[number.pk]
    # The legal part of the same request went through.
    assert state_of(suspended)[0] == NumberStatus.ACTIVE
    assert any("1 number(s) moved to active" in message for message in messages_of(response))


def test_bulk_change_status_without_reason_reshows_the_form(client, agent_a, admin_user, branch_a):
    numbers = [number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a) for _ in range(2)]
    before = [state_of(number) for number in numbers]
    client.force_login(agent_a)

    for reason in ("", "   "):
        response = bulk_post(client, numbers, apply="1", to_status=NumberStatus.SUSPENDED, reason=reason)
        assert response.status_code == 200
        assert "admin/numbers/mobilenumber/bulk_move.html" in [t.name for t in response.templates]
        assert "reason" in response.context["form"].errors
        assert [state_of(number) for number in numbers] == before


def test_bulk_change_status_ignores_a_forged_holder(client, agent_a, admin_user, branch_a):
    numbers = [number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a) for _ in range(2)]
    holders = [number.holder_id for number in numbers]
    thief = SubscriberFactory()
    client.force_login(agent_a)

    response = bulk_post(
        client, numbers, apply="1", to_status=NumberStatus.SUSPENDED, reason="Suspend", holder=thief.pk
    )

    assert response.status_code == 302
    for number, holder in zip(numbers, holders, strict=True):
        number.refresh_from_db()
        assert number.holder_id == holder != thief.pk
        assert number.status == NumberStatus.SUSPENDED
    assert not Holding.objects.filter(subscriber=thief).exists()


def test_bulk_change_status_cannot_reach_another_branch(client, agent_a, admin_user, branch_b):
    foreign = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_b)
    before = state_of(foreign)
    client.force_login(agent_a)

    response = bulk_post(client, [foreign], apply="1", to_status=NumberStatus.SUSPENDED, reason="Not mine")

    assert response.status_code in (200, 302)
    assert state_of(foreign) == before


# --- Sell and move screens ----------------------------------------------------------


def test_agent_sells_an_available_number_of_their_branch(client, agent_a, branch_a):
    number = MobileNumberFactory(branch=branch_a)
    subscriber = SubscriberFactory()
    client.force_login(agent_a)

    page = client.get(sell_url(number))
    assert page.status_code == 200
    assert 'name="subscriber"' in page.content.decode()

    response = client.post(sell_url(number), {"subscriber": subscriber.pk, "reason": "Counter sale"})

    assert response.status_code == 302
    assert response["Location"] == change_url(number)
    number.refresh_from_db()
    assert (number.status, number.holder_id) == (NumberStatus.ACTIVE, subscriber.pk)
    holding = Holding.objects.open().get(number=number)
    assert (holding.subscriber_id, holding.start_reason, holding.started_by) == (
        subscriber.pk,
        HoldingStartReason.SALE,
        agent_a,
    )
    assert holding.start_note == "Counter sale"
    assert number.history.first().history_change_reason == "Counter sale"


def test_selling_needs_a_reason(client, agent_a, branch_a):
    number = MobileNumberFactory(branch=branch_a)
    subscriber = SubscriberFactory()
    client.force_login(agent_a)
    response = client.post(sell_url(number), {"subscriber": subscriber.pk, "reason": " "})
    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert state_of(number)[:2] == (NumberStatus.AVAILABLE, None)


@pytest.mark.parametrize("status", [NumberStatus.ACTIVE, NumberStatus.SUSPENDED, NumberStatus.BLOCKED])
def test_selling_a_held_number_is_refused(client, agent_a, admin_user, branch_a, status):
    number = number_in_state(status, actor=admin_user, branch=branch_a)
    buyer = SubscriberFactory()
    before = state_of(number)
    client.force_login(agent_a)

    for response in (
        client.get(sell_url(number)),
        client.post(sell_url(number), {"subscriber": buyer.pk, "reason": "Resell it"}),
    ):
        assert response.status_code == 302
        assert response["Location"] == change_url(number)
        assert any("not for sale" in message for message in messages_of(response))

    assert state_of(number) == before
    assert not Holding.objects.filter(subscriber=buyer).exists()


@pytest.mark.parametrize(("persona", "allowed"), [("agent_a", False), ("agent_c", True)])
def test_selling_a_branch_b_number_needs_branch_b(request, client, branch_b, persona, allowed):
    number = MobileNumberFactory(branch=branch_b)
    subscriber = SubscriberFactory()
    client.force_login(request.getfixturevalue(persona))

    response = client.post(sell_url(number), {"subscriber": subscriber.pk, "reason": "Counter sale"})

    assert response.status_code == (302 if allowed else 404)
    number.refresh_from_db()
    expected = (NumberStatus.ACTIVE, subscriber.pk) if allowed else (NumberStatus.AVAILABLE, None)
    assert (number.status, number.holder_id) == expected


def test_the_change_page_offers_sell_only_for_numbers_for_sale(client, agent_a, admin_user, branch_a):
    available = MobileNumberFactory(branch=branch_a)
    active = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    client.force_login(agent_a)
    assert sell_url(available) in client.get(change_url(available)).content.decode()
    active_page = client.get(change_url(active)).content.decode()
    assert sell_url(active) not in active_page
    assert move_url(active) in active_page


def test_move_view_applies_a_legal_move_and_back(client, agent_a, admin_user, branch_a):
    number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    holder = number.holder_id
    client.force_login(agent_a)

    page = client.get(move_url(number))
    assert page.status_code == 200
    offered = {value for value, _ in page.context["form"].fields["to_status"].choices}
    # Withdrawn is not offered for a held number: only a withdrawal request does that.
    assert offered == {NumberStatus.SUSPENDED, NumberStatus.BLOCKED}
    assert "request a withdrawal" in page.content.decode()

    there = client.post(move_url(number), {"to_status": NumberStatus.SUSPENDED, "reason": "Lost phone"})
    assert there.status_code == 302
    assert state_of(number)[:2] == (NumberStatus.SUSPENDED, holder)
    assert number.history.first().history_change_reason == "Lost phone"

    back = client.post(move_url(number), {"to_status": NumberStatus.ACTIVE, "reason": "Phone found"})
    assert back.status_code == 302
    assert state_of(number)[:2] == (NumberStatus.ACTIVE, holder)
    assert number.history.first().history_user == agent_a


def test_move_view_refuses_a_move_the_lifecycle_does_not_allow(client, agent_a, admin_user, branch_a):
    number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    before = state_of(number)
    client.force_login(agent_a)

    for to_status in (NumberStatus.AGING, NumberStatus.AVAILABLE, NumberStatus.ACTIVE):
        response = client.post(move_url(number), {"to_status": to_status, "reason": "Try"})
        assert response.status_code == 200
        assert "to_status" in response.context["form"].errors
    missing_reason = client.post(move_url(number), {"to_status": NumberStatus.SUSPENDED, "reason": ""})
    assert "reason" in missing_reason.context["form"].errors
    assert state_of(number) == before


def test_move_view_offers_no_withdrawal_of_a_held_number_to_anyone(client, agent_a, supervisor_a, admin_user, branch_a):
    """The recycle path's first step is closed on the screen too: the supervisor (and the
    superuser) are sent to the withdrawal request instead."""
    number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    before = state_of(number)
    for user in (agent_a, supervisor_a, admin_user):
        client.force_login(user)
        page = client.get(move_url(number))
        assert NumberStatus.WITHDRAWN not in {value for value, _ in page.context["form"].fields["to_status"].choices}
        assert page.context["request_withdrawal_url"].startswith("/withdrawals/new/?msisdn=")
        refused = client.post(move_url(number), {"to_status": NumberStatus.WITHDRAWN, "reason": "Withdraw"})
        assert refused.status_code == 200
        assert "to_status" in refused.context["form"].errors
    assert state_of(number) == before


@pytest.mark.parametrize(("persona", "allowed"), [("agent_a", False), ("agent_c", True)])
def test_move_view_of_a_branch_b_number_needs_branch_b(request, client, admin_user, branch_b, persona, allowed):
    number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_b)
    client.force_login(request.getfixturevalue(persona))

    response = client.post(move_url(number), {"to_status": NumberStatus.SUSPENDED, "reason": "Lost phone"})

    assert response.status_code == (302 if allowed else 404)
    assert state_of(number)[0] == (NumberStatus.SUSPENDED if allowed else NumberStatus.ACTIVE)


# --- Adding numbers -----------------------------------------------------------


ADD_NUMBER = "/admin/numbers/mobilenumber/add/"


def add_number(client, **data):
    """POST the add form as the browser does, with the (empty) holdings inline."""
    return client.post(ADD_NUMBER, {"holdings-TOTAL_FORMS": "0", "holdings-INITIAL_FORMS": "0", **data})


@pytest.mark.parametrize("typed", ["012 345 678", "+855 12 345 678", "85512345678", "+85512345678", "012-345-678"])
def test_admin_adds_a_number_in_any_format_stored_as_e164(client, admin_user, branch_a, typed):
    client.force_login(admin_user)

    response = add_number(client, **{"msisdn": typed, "branch": branch_a.pk, "change_reason": "New stock"})

    assert response.status_code == 302
    number = MobileNumber.objects.get()
    assert (number.msisdn, number.branch, number.status, number.holder) == (
        "+85512345678",
        branch_a,
        NumberStatus.AVAILABLE,
        None,
    )
    record = number.history.get()
    assert (record.history_change_reason, record.history_user) == ("New stock", admin_user)


def test_adding_a_number_without_reason_creates_nothing(client, admin_user, branch_a):
    client.force_login(admin_user)
    response = add_number(client, **{"msisdn": "012 345 678", "branch": branch_a.pk, "change_reason": "  "})
    assert response.status_code == 200
    assert "change_reason" in response.context["adminform"].form.errors
    assert not MobileNumber.objects.exists()


@pytest.mark.parametrize("typed", ["012 345 678", "+855 12 345 678", "85512345678"])
def test_adding_a_duplicate_in_another_format_is_refused(client, admin_user, branch_a, branch_b, typed):
    existing = MobileNumberFactory(msisdn="+85512345678", branch=branch_a)
    client.force_login(admin_user)

    response = add_number(client, **{"msisdn": typed, "branch": branch_b.pk, "change_reason": "New stock"})

    assert response.status_code == 200
    assert "already exists" in " ".join(response.context["adminform"].form.errors.get("msisdn", []))
    assert list(MobileNumber.objects.values_list("pk", flat=True)) == [existing.pk]
    existing.refresh_from_db()
    assert existing.branch == branch_a


def test_adding_an_invalid_number_is_refused_with_a_clear_error(client, admin_user, branch_a):
    client.force_login(admin_user)
    response = add_number(client, **{"msisdn": "12ab", "branch": branch_a.pk, "change_reason": "New stock"})
    assert response.status_code == 200
    assert "not a phone number" in " ".join(response.context["adminform"].form.errors["msisdn"])
    assert not MobileNumber.objects.exists()


def test_only_administrators_add_numbers(client, agent_a, admin_user, branch_a):
    client.force_login(agent_a)
    assert client.get(ADD_NUMBER).status_code == 403
    refused = add_number(client, **{"msisdn": "012 345 678", "branch": branch_a.pk, "change_reason": "Mine"})
    assert refused.status_code == 403
    assert not MobileNumber.objects.exists()
    assert 'href="/admin/numbers/mobilenumber/add/"' not in client.get(CHANGELIST).content.decode()

    client.force_login(admin_user)
    assert client.get(ADD_NUMBER).status_code == 200
    assert (
        add_number(client, **{"msisdn": "012 345 678", "branch": branch_a.pk, "change_reason": "Stock"}).status_code
        == 302
    )
    assert MobileNumber.objects.filter(msisdn="+85512345678").exists()
    assert 'href="/admin/numbers/mobilenumber/add/"' in client.get(CHANGELIST).content.decode()


# --- Subscribers --------------------------------------------------------------


def subscriber_url(subscriber) -> str:
    return reverse("admin:numbers_subscriber_change", args=[subscriber.pk])


def subscriber_data(subscriber, **changes) -> dict:
    data = {
        "full_name": subscriber.full_name,
        "id_document_type": subscriber.id_document_type,
        "id_document_number": document_of(subscriber),
        "contact_msisdn": subscriber.contact_msisdn,
        "alternate_msisdn": subscriber.alternate_msisdn,
        "registered_branch": subscriber.registered_branch_id or "",
        "change_reason": "Correction at the counter",
        # The read-only holdings inline's management form, as the browser sends it.
        "holdings-TOTAL_FORMS": "0",
        "holdings-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def test_neither_the_subscriber_list_nor_the_change_page_shows_the_document(client, agent_a, branch_a):
    subscriber = SubscriberFactory(id_document_number="KH0012345678", registered_branch=branch_a)
    client.force_login(agent_a)

    listing = client.get(SUBSCRIBERS).content.decode()
    assert "••••5678" in listing
    assert "KH0012345678" not in listing

    detail = client.get(subscriber_url(subscriber)).content.decode()
    assert "••••5678" in detail
    assert "KH0012345678" not in detail
    assert subscriber.id_document_sealed not in detail


@pytest.mark.parametrize(("persona", "editable"), [("agent_a", False), ("agent_c", True)])
def test_subscriber_of_another_branch_is_view_only(request, client, branch_b, persona, editable):
    subscriber = SubscriberFactory(full_name="Dara Chan", registered_branch=branch_b)
    client.force_login(request.getfixturevalue(persona))

    page = client.get(subscriber_url(subscriber))
    assert page.status_code == 200
    assert ('name="full_name"' in page.content.decode()) is editable

    response = client.post(subscriber_url(subscriber), subscriber_data(subscriber, full_name="Dara Renamed"))

    assert response.status_code == (302 if editable else 403)
    subscriber.refresh_from_db()
    assert subscriber.full_name == ("Dara Renamed" if editable else "Dara Chan")
    if editable:
        assert subscriber.history.first().history_change_reason == "Correction at the counter"


def test_agent_cannot_rewrite_an_identity_document(client, agent_a, supervisor_a, branch_a):
    subscriber = SubscriberFactory(id_document_number="AB123456", registered_branch=branch_a)
    client.force_login(agent_a)
    refused = client.post(subscriber_url(subscriber), subscriber_data(subscriber, id_document_number="ZZ999999"))
    assert refused.status_code == 302
    assert any("no authority" in message for message in messages_of(refused))
    subscriber.refresh_from_db()
    assert document_of(subscriber) == "AB123456"

    client.force_login(supervisor_a)
    done = client.post(subscriber_url(subscriber), subscriber_data(subscriber, id_document_number="zz-999 999"))
    assert done.status_code == 302
    subscriber.refresh_from_db()
    assert document_of(subscriber) == "ZZ999999"


ADD_SUBSCRIBER = "/admin/numbers/subscriber/add/"


def new_subscriber_data(branch, **changes) -> dict:
    data = {
        "full_name": "Vanna Sok",
        "id_document_type": IdentityDocumentType.PASSPORT,
        "id_document_number": "n0-12 345",
        "contact_msisdn": "012 345 678",
        "alternate_msisdn": "",
        "registered_branch": branch.pk,
        "change_reason": "Registered at the counter",
        "holdings-TOTAL_FORMS": "0",
        "holdings-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def test_subscriber_created_through_the_admin_is_normalized(client, agent_a, branch_a):
    client.force_login(agent_a)

    response = client.post(ADD_SUBSCRIBER, new_subscriber_data(branch_a))

    assert response.status_code == 302
    subscriber = Subscriber.objects.get()
    assert (document_of(subscriber), subscriber.contact_msisdn) == ("N012345", "+85512345678")
    assert (subscriber.registered_branch, subscriber.created_by) == (branch_a, agent_a)
    assert subscriber.history.get().history_change_reason == "Registered at the counter"


@pytest.mark.parametrize("typed", ["N012345", "n0 12345", "N0-12-345"])
def test_duplicate_subscriber_document_is_refused(client, agent_a, branch_a, typed):
    SubscriberFactory(id_document_type=IdentityDocumentType.PASSPORT, id_document_number="N012345")
    client.force_login(agent_a)

    response = client.post(
        ADD_SUBSCRIBER, new_subscriber_data(branch_a, full_name="Someone Else", id_document_number=typed)
    )

    assert response.status_code == 200
    errors = " ".join(response.context["adminform"].form.non_field_errors())
    assert "A subscriber with this identity document already exists." in errors
    assert Subscriber.objects.count() == 1
    # The same document number of another document type is somebody else's.
    other_type = client.post(
        ADD_SUBSCRIBER,
        new_subscriber_data(branch_a, id_document_type=IdentityDocumentType.NATIONAL_ID, id_document_number=typed),
    )
    assert other_type.status_code == 302
    assert Subscriber.objects.count() == 2


def test_subscriber_cannot_be_registered_at_another_branch(client, agent_a, branch_b):
    client.force_login(agent_a)
    response = client.post(ADD_SUBSCRIBER, new_subscriber_data(branch_b))
    assert response.status_code == 200
    assert "registered_branch" in response.context["adminform"].form.errors
    assert not Subscriber.objects.exists()


# --- History is read, never replayed ------------------------------------------------


@pytest.mark.parametrize("persona", ["agent_a", "auditor"])
def test_history_page_cannot_be_posted_back(request, client, persona, branch_b):
    record = branch_b.history.first()
    client.force_login(request.getfixturevalue(persona))
    url = f"/admin/numbers/branch/{branch_b.pk}/history/{record.history_id}/"

    assert client.get(url).status_code == 200
    response = client.post(url, {"code": "hijacked", "name": "Hijacked", "change_reason": "Revert"})

    assert response.status_code == 403
    branch_b.refresh_from_db()
    assert (branch_b.code, branch_b.is_active) == ("branch-b", True)


def test_branch_changes_need_the_change_permission(client, admin_user, agent_a, branch_b):
    data = {"code": "branch-b", "name": "Branch B renamed", "is_active": "on", "change_reason": "Rename"}
    client.force_login(agent_a)
    assert client.post(f"/admin/numbers/branch/{branch_b.pk}/change/", data).status_code == 403
    branch_b.refresh_from_db()
    assert branch_b.name == "Branch B, Siem Reap"
    client.force_login(admin_user)
    assert client.post(f"/admin/numbers/branch/{branch_b.pk}/change/", data).status_code == 302
    branch_b.refresh_from_db()
    assert branch_b.name == "Branch B renamed"
    assert branch_b.history.first().history_change_reason == "Rename"


# --- Query counts ---------------------------------------------------------------


def _queries(client, url) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries), [query["sql"] for query in captured.captured_queries]


def _grow_numbers(admin_user, branch_a, branch_b, times):
    for _ in range(times):
        number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
        MobileNumberFactory(branch=branch_a)
        number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_b)


def _grow_subscribers(admin_user, branch_a, branch_b, times):
    for _ in range(times):
        SubscriberFactory(registered_branch=branch_a, created_by=admin_user)
        SubscriberFactory(registered_branch=branch_b, created_by=admin_user)
        SubscriberFactory()


def _grow_branches(admin_user, branch_a, branch_b, times):
    """branch-a and branch-b plus one make the small list (3); six more triple it."""
    for _ in range(1 if times == 1 else 6):
        BranchFactory()


def _grow_employees(admin_user, branch_a, branch_b, times):
    """The nine personas are the small list; eighteen more agents, hired through the
    service as an administrator hires them, triple it."""
    if times == 2:
        for i in range(18):
            employee_create(
                username=f"hired_{i:02}",
                employee_code=f"E-HIRED-{i:02}",
                roles=[Role.AGENT],
                branches=[branch_a if i % 2 else branch_b],
                actor=admin_user,
                reason="Hired for the list's size",
            )


# (url, who looks, how to add rows, rows per step, pinned query count)
LIST_PAGES = [
    # Each count includes django-otp's look-up of the session's verified device (one query a request).
    pytest.param(CHANGELIST, "agent_a", _grow_numbers, 10, id="numbers-agent"),
    pytest.param(CHANGELIST, "admin_user", _grow_numbers, 7, id="numbers-admin"),
    # 14: the access log records a view of each subscriber listed, in one insert (+5: savepoint,
    # chain head, insert, head move, release), however many rows.
    pytest.param(SUBSCRIBERS, "agent_a", _grow_subscribers, 14, id="subscribers-agent"),
    pytest.param(HOLDINGS, "agent_a", _grow_numbers, 10, id="holdings-agent"),
    pytest.param(HOLDINGS, "auditor", _grow_numbers, 9, id="holdings-auditor"),
    # 8: signing in checks the employee record on every request (staff.backends), here the only reader.
    pytest.param(BRANCHES, "agent_a", _grow_branches, 8, id="branches-agent"),
    # 9: the SMS outbox in the menu checks the viewer's employment status (codes are in it).
    pytest.param(EMPLOYEES, "admin_user", _grow_employees, 9, id="employees-admin"),
]


@pytest.mark.parametrize(("url", "persona", "grow", "pinned"), LIST_PAGES)
def test_list_page_query_count_does_not_grow_with_rows(
    request, client, admin_user, agent_a, branch_a, branch_b, url, persona, grow, pinned
):
    client.force_login(request.getfixturevalue(persona))
    grow(admin_user, branch_a, branch_b, 1)
    client.get(url)  # warm the content-type cache so both measurements start alike

    small_count, small_sql = _queries(client, url)
    small_rows = client.get(url).context["cl"].result_count
    grow(admin_user, branch_a, branch_b, 2)
    large_count, large_sql = _queries(client, url)
    large_rows = client.get(url).context["cl"].result_count

    assert large_rows == 3 * small_rows > 0
    assert small_count == large_count, "\n".join(large_sql)
    writes = chain_lock_queries() if url == SUBSCRIBERS else 0
    assert large_count == pinned + writes, "\n".join(large_sql)


def _cycle_holding(number, actor):
    """Give a number a new holder the legal way: withdrawn (as the job does), aged a full quarantine, sold."""
    number = withdraw_as_lifecycle(number, actor=actor, reason="cycle withdrawn")
    number = services.number_transition(number=number, to_status=NumberStatus.AGING, actor=actor, reason="cycle aging")
    quarantine_over(number)
    number = services.number_transition(number=number, to_status=NumberStatus.AVAILABLE, actor=actor, reason="cycle")
    return services.number_sell(number=number, subscriber=SubscriberFactory(), actor=actor, reason="resale")


# Includes the transfer lock, the transfer requests and the complaints (one query each, whatever their number),
# and the access log's views of the holder and past holders, in one insert (+5: savepoint, chain head, insert,
# head move, release).
# +1: django-otp looks up the session's verified device.
NUMBER_PAGE_QUERIES = {"agent_a": 18, "admin_user": 15}


@pytest.mark.parametrize("persona", sorted(NUMBER_PAGE_QUERIES))
def test_number_change_page_query_count_does_not_grow_with_holdings(request, client, admin_user, branch_a, persona):
    number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
    client.force_login(request.getfixturevalue(persona))
    url = change_url(number)
    client.get(url)

    small_count, small_sql = _queries(client, url)
    number = _cycle_holding(_cycle_holding(number, admin_user), admin_user)
    assert number.holdings.count() == 3
    large_count, large_sql = _queries(client, url)
    page = client.get(url)

    assert len(page.context["inline_admin_formsets"][0].formset.forms) == 3
    assert small_count == large_count, "\n".join(large_sql)
    assert large_count == NUMBER_PAGE_QUERIES[persona] + chain_lock_queries(), "\n".join(large_sql)


# --- The capped count -----------------------------------------------------------


def test_changelist_count_is_capped(client, settings, agent_a, branch_a):
    settings.ADMIN_COUNT_CAP = 5
    for _ in range(8):
        MobileNumberFactory(branch=branch_a)
    client.force_login(agent_a)

    with CaptureQueriesContext(connection) as captured:
        response = client.get(CHANGELIST)

    assert response.status_code == 200
    assert "More than 5 mobile numbers" in response.content.decode()
    counts = [query["sql"] for query in captured.captured_queries if "COUNT(" in query["sql"]]
    assert len(counts) == 1
    assert re.search(r"SELECT COUNT\(\*\) FROM \(SELECT .* LIMIT 6\) subquery", counts[0]), counts[0]


def test_changelist_count_below_the_cap_is_exact(client, settings, agent_a, branch_a):
    settings.ADMIN_COUNT_CAP = 5
    for _ in range(4):
        MobileNumberFactory(branch=branch_a)
    client.force_login(agent_a)

    content = client.get(CHANGELIST).content.decode()

    assert "4 mobile numbers" in content
    assert "More than" not in content


def test_subscriber_page_lists_their_holdings_in_branches_the_user_sees(
    client, admin_user, agent_a, auditor, branch_a, branch_b
):
    subscriber = SubscriberFactory(registered_branch=branch_a)
    own = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a, subscriber=subscriber)
    elsewhere = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_b, subscriber=subscriber)

    def holdings_shown(user) -> set[str]:
        client.force_login(user)
        page = client.get(subscriber_url(subscriber))
        assert page.status_code == 200
        return {form.instance.number.msisdn for form in page.context["inline_admin_formsets"][0].formset.forms}

    assert holdings_shown(agent_a) == {own.msisdn}
    assert holdings_shown(auditor) == {own.msisdn, elsewhere.msisdn}
