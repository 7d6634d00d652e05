"""The complaint queue and intake screens (and the complaints' part of the approval
queue), allowed and refused, through Django's test client. Views only call
services, so each test checks both the page and what was (or was not) written.

The complaint's own page and its actions are in test_views_detail.py; both use
the helpers in views_helpers.py."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from complaints import services as cs
from complaints.choices import Channel, ComplaintCategory, ComplaintState, OfferState, Severity
from complaints.models import Complaint
from complaints.tests.views_helpers import (
    detail_url,
    make_handler,
    make_incident,
    messages_of,
    national,
    new_complaint,
    wrongly_transferred,
)
from numbers.choices import IdentityDocumentType, NumberStatus
from numbers.models import Subscriber
from tests.factories import SubscriberFactory, document_of, number_in_state

pytestmark = pytest.mark.django_db

LIST = reverse("complaints:complaint_list")
CREATE = reverse("complaints:complaint_create")
APPROVALS = reverse("numbers:approval_queue")


@pytest.fixture
def incident(agent_b, supervisor_a, handler_a, holder, newcomer, active):
    return make_incident(
        agent_b=agent_b, supervisor_a=supervisor_a, handler_a=handler_a, holder=holder, newcomer=newcomer, active=active
    )


@pytest.fixture
def outsider(db):
    """A staff account with no branch authority at all."""
    return get_user_model().objects.create_user(username="outsider", password="x", is_staff=True)


# --- The queue ----------------------------------------------------------------------


def listed(client, query: str = "") -> list[int]:
    response = client.get(LIST + query)
    assert response.status_code == 200
    return [row.pk for row in response.context["rows"]]


def test_my_queue_and_the_branch_queue(client, admin_user, agent_a, handler_a, agent_c, branch_a, branch_b):
    second = make_handler("handler_a2", branch=branch_a, admin=admin_user)
    mine = new_complaint(actor=handler_a, complainant=SubscriberFactory(), branch=branch_a)
    theirs = new_complaint(actor=second, complainant=SubscriberFactory(), branch=branch_a)
    unassigned = new_complaint(actor=agent_a, complainant=SubscriberFactory(), branch=branch_a)
    elsewhere = new_complaint(actor=agent_c, complainant=SubscriberFactory(), branch=branch_b)
    client.force_login(handler_a)

    # A handler lands on their own queue.
    assert listed(client) == [mine.pk]
    assert listed(client, "?queue=mine") == [mine.pk]
    assert listed(client, "?queue=branch") == [unassigned.pk, theirs.pk, mine.pk]
    content = client.get(LIST + "?queue=branch").content.decode()
    assert elsewhere.reference not in content
    assert 'id="queue-mine"' in content  # the other tab is a link
    # Others land on the branch queue.
    client.force_login(agent_a)
    assert listed(client) == [unassigned.pk, theirs.pk, mine.pk]
    client.force_login(agent_c)
    assert listed(client) == [elsewhere.pk]


def test_the_queue_shows_its_columns_with_masked_identity(client, handler_a, incident, holder):
    client.force_login(handler_a)
    response = client.get(LIST)
    content = response.content.decode()
    [row_html] = re.findall(r'<tr class="complaint-row">.*?</tr>', content, re.S)
    assert f'<a href="{detail_url(incident)}">{incident.reference}</a>' in row_html
    for text in (
        holder.full_name,
        holder.masked_document,
        "<td>Unauthorised transfer or reallocation</td>",
        '"severity-critical">Critical<',
        '"state-new">New<',
        "Heng Handler",
        "acknowledge by",
    ):
        assert text in row_html, text
    assert document_of(holder) not in content
    row = response.context["rows"][0]
    assert row.deadline[0] == "acknowledge"
    assert "&nbsp;On time</td>" in row_html  # the SLA label, not just a colour


def test_the_queue_filters_by_state_sla_category_and_search(client, handler_a, holder, incident, branch_a):
    old = new_complaint(
        actor=handler_a,
        complainant=SubscriberFactory(full_name="Late Customer", id_document_number="LATE0001"),
        branch=branch_a,
        received_at=timezone.now() - timedelta(days=30),
    )
    done = new_complaint(actor=handler_a, complainant=SubscriberFactory(), branch=branch_a)
    cs.complaint_acknowledge(complaint=done, actor=handler_a, reason="called back")
    cs.complaint_resolve(complaint=done, actor=handler_a, reason="refunded the double charge")
    client.force_login(handler_a)

    assert set(listed(client, "?queue=branch")) == {incident.pk, old.pk}  # open only, by default
    assert set(listed(client, "?queue=branch&state=")) == {incident.pk, old.pk, done.pk}
    assert listed(client, f"?queue=branch&state={ComplaintState.RESOLVED}") == [done.pk]
    assert listed(client, "?queue=branch&state=&sla=breached") == [old.pk]
    assert listed(client, "?queue=branch&state=&sla=met") == [done.pk]
    assert listed(client, "?queue=branch&sla=on_time") == [incident.pk]
    assert listed(client, f"?queue=branch&category={ComplaintCategory.UNAUTHORISED_TRANSFER}") == [incident.pk]
    assert listed(client, f"?queue=branch&q={incident.reference}") == [incident.pk]
    assert listed(client, f"?queue=branch&q={national(incident.numbers.get())}") == [incident.pk]
    assert listed(client, "?queue=branch&q=Late Cust") == [old.pk]
    assert listed(client, "?queue=branch&q=late-0001") == [old.pk]
    assert listed(client, f"?queue=branch&q={document_of(holder)}") == [incident.pk]
    content = client.get(LIST + "?queue=branch&sla=breached").content.decode()
    assert "&nbsp;Breached</td>" in content
    assert "No complaints match these filters." not in content
    assert "No complaints match these filters." in client.get(LIST + "?q=nobody-at-all").content.decode()


def test_an_invalid_filter_shows_its_error_and_the_default_queue(client, handler_a, incident):
    client.force_login(handler_a)
    response = client.get(LIST + "?state=bogus")
    assert response.status_code == 200
    assert "state" in response.context["filters"].errors
    assert [row.pk for row in response.context["rows"]] == [incident.pk]


def test_agents_of_other_branches_do_not_see_the_complaint(client, agent_c, supervisor_b, incident):
    for user in (agent_c, supervisor_b):
        client.force_login(user)
        assert listed(client, "?queue=branch&state=") == []


def test_the_auditor_sees_every_branch(client, auditor, agent_c, branch_b, incident):
    elsewhere = new_complaint(actor=agent_c, complainant=SubscriberFactory(), branch=branch_b)
    client.force_login(auditor)
    response = client.get(LIST)
    assert {row.pk for row in response.context["rows"]} == {incident.pk, elsewhere.pk}
    assert 'class="addlink"' not in response.content.decode()  # reads, never takes in


def test_the_queue_is_refused_without_branch_authority(client, outsider):
    client.force_login(outsider)
    assert client.get(LIST).status_code == 403


def test_screens_ask_anonymous_visitors_to_log_in(client, incident):
    for url in (LIST, CREATE, detail_url(incident)):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_header_links_to_complaints_on_admin_pages(client, agent_a):
    client.force_login(agent_a)
    content = client.get(reverse("admin:index")).content.decode()
    assert f'href="{LIST}"' in content
    assert 'id="nav-complaints"' in content


def test_queue_pages_keep_the_filters(client, handler_a, branch_a, monkeypatch):
    monkeypatch.setattr("complaints.views.queue.PER_PAGE", 2)
    made = [new_complaint(actor=handler_a, complainant=SubscriberFactory(), branch=branch_a) for _ in range(3)]
    client.force_login(handler_a)
    first = client.get(LIST + "?queue=branch&category=billing")
    assert [row.pk for row in first.context["rows"]] == [made[2].pk, made[1].pk]
    assert "?queue=branch&amp;category=billing&amp;page=2" in first.content.decode()
    second = client.get(LIST + "?queue=branch&category=billing&page=2")
    assert [row.pk for row in second.context["rows"]] == [made[0].pk]


# session, user, second-factor device, employee, 2 model perms, branch grants, subscriber search, count, page
QUEUE_QUERIES = 10


def test_queue_query_count_does_not_grow_with_rows(
    client, admin_user, handler_a, agent_a, branch_a, django_assert_num_queries
):
    url = LIST + "?queue=branch&state=&q=Someone"

    def make(count: int) -> None:
        for index in range(count):
            number = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a)
            new_complaint(
                actor=handler_a if index % 2 else agent_a,  # assigned and unassigned rows
                complainant=SubscriberFactory(full_name=f"Someone {index}"),
                numbers=[number],
                received_at=timezone.now() - timedelta(days=index),  # on time, due soon, breached
            )

    def count() -> int:
        with django_assert_num_queries(QUEUE_QUERIES):
            response = client.get(url)
        assert response.status_code == 200
        return len(response.context["rows"])

    make(3)
    client.force_login(handler_a)
    assert count() == 3
    make(22)
    assert count() == 25


# --- Intake ------------------------------------------------------------------------


def create_data(**overrides) -> dict:
    data = {
        "subscriber_mode": "existing",
        "document_type": IdentityDocumentType.NATIONAL_ID,
        "document_number": "",
        "full_name": "",
        "contact_msisdn": "",
        "msisdns": "",
        "branch": "",
        "category": ComplaintCategory.BILLING,
        "severity": Severity.MEDIUM,
        "channel": Channel.BRANCH,
        "description": "Charged twice for the same bundle",
        "received_at": "",
        "reason": "Customer at the counter",
    }
    data.update(overrides)
    return data


def test_handler_takes_in_an_unauthorised_transfer_which_is_critical_with_a_24_hour_block(
    client, handler_a, holder, newcomer, active, agent_b, supervisor_a, settings
):
    wrongly_transferred(active, to=newcomer, agent=agent_b, supervisor=supervisor_a)
    client.force_login(handler_a)
    page = client.get(CREATE).content.decode()
    assert "always <strong>critical</strong>" in page
    assert f"blocked within {settings.COMPLAINTS_BLOCK_WITHIN_HOURS} h" in page
    assert 'name="full_name"' not in page  # handlers do not register subscribers

    data = create_data(
        document_number="n 012-3456",  # the holder's document, typed loosely
        msisdns=national(active),
        category=ComplaintCategory.UNAUTHORISED_TRANSFER,
        severity=Severity.LOW,
        description="My number was given to someone else",
    )
    response = client.post(CREATE, data)

    complaint = Complaint.objects.get()
    assert response.status_code == 302
    assert response["Location"] == detail_url(complaint)
    assert (complaint.complainant, complaint.severity, complaint.assigned_to, complaint.branch) == (
        holder,
        Severity.CRITICAL,
        handler_a,
        active.branch,
    )
    assert complaint.block_due_at - complaint.received_at == timedelta(hours=24)
    assert list(complaint.numbers.all()) == [active]
    assert any("It is critical: block the number by" in message for message in messages_of(response))


def test_several_numbers_in_any_format_are_linked(client, admin_user, handler_a, holder, branch_a):
    first, second = (number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_a) for _ in range(2))
    client.force_login(handler_a)
    typed = f"{national(first)}, {second.msisdn.removeprefix('+')}\n{first.msisdn}"
    response = client.post(CREATE, create_data(document_number=document_of(holder), msisdns=typed))
    assert response.status_code == 302, response.context["form"].errors
    assert set(Complaint.objects.get().numbers.all()) == {first, second}


def test_agent_registers_a_new_complainant_with_the_complaint(client, agent_a, branch_a):
    client.force_login(agent_a)
    data = create_data(
        subscriber_mode="new",
        document_number="KH-445566",
        full_name="Dara Complainant",
        contact_msisdn="092 600 321",
        identity_checked="on",
        branch=branch_a.pk,
    )
    response = client.post(CREATE, data)
    assert response.status_code == 302, response.context["form"].errors
    complaint = Complaint.objects.get()
    complainant = complaint.complainant
    assert (complainant.full_name, document_of(complainant), complainant.contact_msisdn) == (
        "Dara Complainant",
        "KH445566",
        "+85592600321",
    )
    assert (complaint.branch, complaint.assigned_to, complainant.registered_branch) == (branch_a, None, branch_a)
    assert complainant.history.first().history_change_reason.startswith("Registered as a complainant")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"reason": "  "}, "reason"),
        ({"description": ""}, "description"),
        ({"document_number": "NOBODY-HAS-THIS"}, "document_number"),
        ({"msisdns": "023 123 456"}, "msisdns"),  # a fixed line, not a mobile number
        ({"msisdns": "not a number"}, "msisdns"),
        ({"msisdns": "", "category": ComplaintCategory.UNAUTHORISED_TRANSFER}, "msisdns"),
        ({"msisdns": "", "branch": ""}, "branch"),
        ({"received_at": "2999-01-01T10:00"}, "received_at"),
        ({"subscriber_mode": "new", "document_number": "NEW1", "full_name": "Dara"}, "identity_checked"),
        ({"subscriber_mode": "new", "document_number": "NEW1", "identity_checked": "on"}, "full_name"),
    ],
)
def test_an_invalid_intake_form_writes_nothing(client, agent_a, holder, active, overrides, field):
    subscribers = Subscriber.objects.count()
    client.force_login(agent_a)
    data = create_data(**{"document_number": document_of(holder), "msisdns": national(active), **overrides})
    response = client.post(CREATE, data)
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert Subscriber.objects.count() == subscribers
    assert not Complaint.objects.exists()


def test_a_number_of_another_branch_is_not_found(client, admin_user, handler_a, holder, branch_b):
    other = number_in_state(NumberStatus.ACTIVE, actor=admin_user, branch=branch_b)
    client.force_login(handler_a)
    response = client.post(CREATE, create_data(document_number=document_of(holder), msisdns=national(other)))
    assert "in your branches" in str(response.context["form"].errors["msisdns"])
    assert not Complaint.objects.exists()


def test_a_complaint_the_service_refuses_leaves_no_stray_subscriber(client, agent_a, branch_a):
    subscribers = Subscriber.objects.count()
    client.force_login(agent_a)
    long_ago = timezone.localtime() - timedelta(days=120)
    data = create_data(
        subscriber_mode="new",
        document_number="STRAY1",
        full_name="Not Kept",
        identity_checked="on",
        branch=branch_a.pk,
        received_at=long_ago.strftime("%Y-%m-%dT%H:%M"),
    )
    response = client.post(CREATE, data)
    assert response.status_code == 200
    assert "90 days" in " ".join(response.context["form"].non_field_errors())
    assert Subscriber.objects.count() == subscribers
    assert not Complaint.objects.exists()


@pytest.mark.parametrize("persona", ["auditor", "outsider"])
def test_intake_is_refused_to_those_who_cannot_take_complaints_in(request, client, persona, holder, active):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(CREATE).status_code == 403
    response = client.post(CREATE, create_data(document_number=document_of(holder), msisdns=national(active)))
    assert response.status_code == 403
    assert not Complaint.objects.exists()


# --- The approval queue's complaints part -------------------------------------------


def test_supervisors_see_restorations_and_offers_awaiting_them(client, handler_a, supervisor_a, supervisor_b, incident):
    number = incident.numbers.get()
    cs.complaint_block_number(complaint=incident, number=number, actor=handler_a, reason="stop misuse")
    restoration = cs.restoration_request(complaint=incident, number=number, actor=handler_a, reason="give it back")
    offer = cs.offer_propose(
        complaint=incident, kind="refund", amount="100", currency="USD", actor=handler_a, reason="we are sorry"
    )
    assert offer.state == OfferState.AWAITING_APPROVAL

    client.force_login(supervisor_a)
    response = client.get(APPROVALS)
    assert response.status_code == 200
    assert [r.pk for r in response.context["restorations"]] == [restoration.pk]
    assert [o.pk for o in response.context["offers"]] == [offer.pk]
    content = response.content.decode()
    assert f'href="{detail_url(incident)}"' in content
    assert restoration.reference in content
    assert "100.00 USD" in content

    client.force_login(supervisor_b)
    response = client.get(APPROVALS)
    assert response.context["restorations"] == [] and response.context["offers"] == []
    assert incident.reference not in response.content.decode()
