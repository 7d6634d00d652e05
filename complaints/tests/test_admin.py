"""Complaints in the admin: the case is read-only evidence for everyone (the
superuser included), scoped to the user's branches, with its history; the SLA
configuration is edited by administrators with a reason kept in the history, and
never deleted (holidays excepted); a number's and a subscriber's pages list their
complaints."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from complaints import services as cs
from complaints.choices import Channel, ComplaintCategory, OfferState, Regulator, Severity, SlaStatus
from complaints.models import (
    CASE_MODELS,
    CompensationOffer,
    Complaint,
    ComplaintEvent,
    ComplaintNumber,
    EmergencyBlock,
    EmployeeFlag,
    Holiday,
    RegulatorCase,
    RegulatorResponse,
    Restoration,
    SlaRule,
    SlaTable,
    WorkingCalendar,
)
from complaints.selectors import flaggable_changes
from numbers import services as ns
from numbers.choices import ConsentParty, NumberStatus
from tests.factories import SubscriberFactory, consent_by_code, consent_in_person, number_in_state, transfer_request
from tests.helpers import refused

pytestmark = pytest.mark.django_db

ADMIN = "/admin/complaints"


# --- Helpers ------------------------------------------------------------------


def url_of(model, suffix: str = "") -> str:
    return f"{ADMIN}/{model._meta.model_name}/{suffix}"


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def listed(response) -> set[int]:
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def take_in(actor, number, *, description="Charged twice for a top-up", received_at=None, **kwargs):
    """A billing complaint about ``number`` by its holder, taken in by ``actor``."""
    return cs.complaint_create(
        complainant=number.holder,
        category=kwargs.pop("category", ComplaintCategory.BILLING),
        severity=kwargs.pop("severity", Severity.MEDIUM),
        channel=Channel.PHONE,
        description=description,
        numbers=[number],
        received_at=received_at,
        actor=actor,
        **kwargs,
    )


def evidence(records: dict) -> dict:
    """Every case row and its history count, read fresh: unchanged when the admin refuses."""
    return {
        model.__name__: (list(model.objects.order_by("pk").values()), model.history.count())
        for model in CASE_MODELS
        if model.__name__ in records
    }


@pytest.fixture
def case(agent_b, supervisor_a, handler_a, branch_a, holder, newcomer, active):
    """A wrongful transfer and its complaint in branch A with one row of every part:
    the number blocked, a restoration and an offer awaiting approval, a TRC case with
    a response, agent_b flagged."""
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
    block = cs.complaint_block_number(complaint=complaint, number=active, actor=handler_a, reason="Stop misuse")
    restoration = cs.restoration_request(complaint=complaint, number=active, actor=handler_a, reason="Give back")
    offer = cs.offer_propose(
        complaint=complaint, kind="refund", amount="100", currency="USD", actor=handler_a, reason="Three months"
    )
    regulator_case = cs.regulator_case_record(
        complaint=complaint,
        regulator=Regulator.TRC,
        case_number="TRC-2026-0001",
        notified_on=timezone.localdate(),
        actor=handler_a,
        reason="Letter from the TRC",
    )
    response = cs.regulator_response_record(
        case=regulator_case, responded_on=timezone.localdate(), summary="Timeline sent", actor=handler_a, reason="Sent"
    )
    key = next(key for key, summary in flaggable_changes(complaint) if "by agent_b:" in summary)
    flag = cs.employee_flag(complaint=complaint, change=key, actor=handler_a, reason="Recorded a consent unseen")
    return {
        "Complaint": complaint,
        "ComplaintNumber": complaint.complaint_numbers.get(),
        "ComplaintEvent": complaint.events.order_by("pk").first(),
        "EmergencyBlock": block,
        "Restoration": restoration,
        "CompensationOffer": offer,
        "RegulatorCase": regulator_case,
        "RegulatorResponse": response,
        "EmployeeFlag": flag,
    }


@pytest.fixture
def complaint_b(agent_c, branch_b):
    """A complaint of branch B (no handler there: unassigned)."""
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_c, branch=branch_b)
    return take_in(agent_c, number, description="Bill doubled")


# --- The case: read-only for everyone ------------------------------------------------


@pytest.mark.parametrize("persona", ["admin_user", "auditor", "handler_a", "supervisor_a"])
def test_case_records_are_read_and_never_written_in_the_admin(request, client, case, persona):
    client.force_login(request.getfixturevalue(persona))
    before = evidence(case)
    for name, obj in case.items():
        model = type(obj)
        change = url_of(model, f"{obj.pk}/change/")
        listing = client.get(url_of(model))
        assert obj.pk in listed(listing), name
        assert listing.context["action_form"] is None, name  # no bulk delete, no action at all
        page = client.get(change)
        assert page.status_code == 200, name
        content = page.content.decode()
        assert 'name="_save"' not in content and 'name="_continue"' not in content, name
        assert page.context["adminform"].form.fields.keys() <= {"change_reason"}, name
        assert client.get(url_of(model, f"{obj.pk}/history/")).status_code == 200, name
        version = url_of(model, f"{obj.pk}/history/{obj.history.first().history_id}/")
        assert client.get(version).status_code == 200, name
        assert client.post(version, {"change_reason": "Revert"}).status_code == 403, name

        assert client.post(change, {"state": "closed", "change_reason": "Force it"}).status_code == 403, name
        assert client.get(url_of(model, "add/")).status_code == 403, name
        assert client.post(url_of(model, "add/"), {"change_reason": "Forge it"}).status_code == 403, name
        assert client.get(url_of(model, f"{obj.pk}/delete/")).status_code == 403, name
        assert client.post(url_of(model, f"{obj.pk}/delete/"), {"post": "yes"}).status_code == 403, name
        client.post(url_of(model), {"action": "delete_selected", "_selected_action": [obj.pk]})
    assert evidence(case) == before


def test_the_complaint_page_shows_the_whole_case_and_links_to_complaint_handling(
    client, auditor, agent_a, handler_a, case
):
    complaint = case["Complaint"]
    client.force_login(auditor)

    page = client.get(url_of(Complaint, f"{complaint.pk}/change/"))

    content = page.content.decode()
    handling = reverse("complaints:complaint_detail", args=[complaint.pk])
    assert f'href="{handling}"' in content and "Open in complaint handling" in content
    inlines = {inline.formset.model.__name__: inline.formset for inline in page.context["inline_admin_formsets"]}
    for name in ("ComplaintNumber", "EmergencyBlock", "Restoration", "CompensationOffer", "RegulatorCase"):
        assert [form.instance.pk for form in inlines[name].forms] == [case[name].pk], name
    assert [form.instance.pk for form in inlines["EmployeeFlag"].forms] == [case["EmployeeFlag"].pk]
    for formset in inlines.values():
        assert not formset.can_delete and formset.extra == 0
    assert complaint.reference in content and "TRC-2026-0001" in content and "100.00 USD" in content
    # The timeline is a link to the complaint's events (a long one is read on the screen).
    events = f"{url_of(ComplaintEvent)}?complaint__id__exact={complaint.pk}"
    assert f'href="{events}"' in content
    other = take_in(handler_a, number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=complaint.branch))
    assert other.events.exists()
    assert listed(client.get(events)) == set(complaint.events.values_list("pk", flat=True))


def test_the_complaint_list_links_to_nothing_that_writes(client, handler_a, case):
    client.force_login(handler_a)
    content = client.get(url_of(Complaint)).content.decode()
    assert f'href="{url_of(Complaint, "add/")}"' not in content


# --- Scoped to the user's branches ---------------------------------------------------------


def test_agents_see_their_branchs_cases_and_nothing_of_another(client, agent_a, agent_c, case, complaint_b):
    client.force_login(agent_c)
    for name, obj in case.items():
        model = type(obj)
        assert obj.pk not in listed(client.get(url_of(model))), name
        page = client.get(url_of(model, f"{obj.pk}/change/"))
        assert page.status_code == 302 and any("doesn’t exist" in text for text in messages_of(page)), name
        assert client.get(url_of(model, f"{obj.pk}/history/")).status_code in (403, 404), name
    assert listed(client.get(url_of(Complaint))) == {complaint_b.pk}
    assert listed(client.get(url_of(Complaint), {"q": case["Complaint"].reference})) == set()

    client.force_login(agent_a)
    assert listed(client.get(url_of(Complaint))) == {case["Complaint"].pk}
    for name, obj in case.items():
        assert obj.pk in listed(client.get(url_of(type(obj)))), name
    assert client.get(url_of(Complaint, f"{complaint_b.pk}/change/")).status_code == 302


def test_auditors_see_every_branch(client, auditor, case, complaint_b):
    client.force_login(auditor)
    assert listed(client.get(url_of(Complaint))) == {case["Complaint"].pk, complaint_b.pk}
    specs = client.get(url_of(Complaint)).context["cl"].filter_specs
    (branch_filter,) = [spec for spec in specs if getattr(spec, "parameter_name", "") == "branch"]
    assert {label for _, label in branch_filter.lookup_choices} == {
        str(case["Complaint"].branch),
        str(complaint_b.branch),
    }
    assert listed(client.get(url_of(Complaint), {"branch": complaint_b.branch_id})) == {complaint_b.pk}


# --- Search and filters --------------------------------------------------------------------


def test_search_by_reference_on_every_case_list(client, auditor, case, complaint_b):
    client.force_login(auditor)
    reference = case["Complaint"].reference
    for term in (reference, reference.lower(), reference[:-2]):
        for name, obj in case.items():
            assert obj.pk in listed(client.get(url_of(type(obj)), {"q": term})), (name, term)
    assert listed(client.get(url_of(Complaint), {"q": complaint_b.reference})) == {complaint_b.pk}
    for name, obj in case.items():
        assert listed(client.get(url_of(type(obj)), {"q": "C-1999-"})) == set(), name


@pytest.mark.parametrize("model", [Complaint, ComplaintNumber, EmergencyBlock, Restoration])
def test_search_by_the_numbers_msisdn_in_any_format(client, auditor, case, complaint_b, model):
    msisdn = case["Complaint"].numbers.get().msisdn
    client.force_login(auditor)
    expected = {case[model.__name__].pk}
    for term in (msisdn, "0" + msisdn[4:], f"+855 {msisdn[4:6]} {msisdn[6:]}"):
        assert listed(client.get(url_of(model), {"q": term})) == expected, term


def test_search_other_parts_by_their_own_keys(client, auditor, case):
    client.force_login(auditor)
    assert listed(client.get(url_of(RegulatorCase), {"q": "trc-2026-0001"})) == {case["RegulatorCase"].pk}
    assert listed(client.get(url_of(RegulatorResponse), {"q": "TRC-2026-0001"})) == {case["RegulatorResponse"].pk}
    assert listed(client.get(url_of(EmployeeFlag), {"q": "agent_b"})) == {case["EmployeeFlag"].pk}
    assert listed(client.get(url_of(EmployeeFlag), {"q": "agent_a"})) == set()
    assert listed(client.get(url_of(CompensationOffer), {"q": "refund"})) == set()


def test_complaint_list_filters_by_sla_status_and_state(client, handler_a, agent_a, branch_a):
    late = take_in(
        handler_a,
        number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a),
        received_at=timezone.now() - timedelta(days=30),
    )
    fresh = take_in(handler_a, number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a))
    cs.complaint_acknowledge(complaint=fresh, actor=handler_a, reason="Called back")
    assert late.sla_status() == SlaStatus.BREACHED and fresh.sla_status() == SlaStatus.ON_TIME
    client.force_login(handler_a)

    assert listed(client.get(url_of(Complaint), {"sla": SlaStatus.BREACHED})) == {late.pk}
    assert listed(client.get(url_of(Complaint), {"sla": SlaStatus.ON_TIME})) == {fresh.pk}
    assert listed(client.get(url_of(Complaint), {"state": "acknowledged"})) == {fresh.pk}
    content = client.get(url_of(Complaint)).content.decode()
    assert "Breached" in content and "On time" in content


# --- Query counts -------------------------------------------------------------------------


def _queries(client, url) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured.captured_queries), [query["sql"] for query in captured.captured_queries]


def _grow_complaints(handler_a, agent_a, agent_c, branch_a, branch_b, times):
    """Per step: an acknowledged complaint in branch A and a new one in branch B."""
    for _ in range(times):
        complaint = take_in(handler_a, number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a))
        cs.complaint_acknowledge(complaint=complaint, actor=handler_a, reason="Called back")
        take_in(agent_c, number_in_state(NumberStatus.ACTIVE, actor=agent_c, branch=branch_b))


# (url, who looks, pinned query count, django-otp's look-up of the session's device included)
LIST_PAGES = [
    pytest.param(url_of(Complaint), "handler_a", 10, id="complaints-handler"),
    pytest.param(url_of(Complaint), "auditor", 9, id="complaints-auditor"),
    pytest.param(url_of(Complaint) + "?sla=on_time", "supervisor_a", 10, id="complaints-sla-filter"),
    pytest.param(url_of(ComplaintEvent), "handler_a", 10, id="events-handler"),
]


@pytest.mark.parametrize(("url", "persona", "pinned"), LIST_PAGES)
def test_complaint_list_query_count_does_not_grow_with_rows(
    settings, request, client, handler_a, agent_a, agent_c, branch_a, branch_b, url, persona, pinned
):
    client.force_login(request.getfixturevalue(persona))
    _grow_complaints(handler_a, agent_a, agent_c, branch_a, branch_b, 1)
    client.get(url)  # warm the content-type cache so both measurements start alike

    small_count, small_sql = _queries(client, url)
    small_rows = client.get(url).context["cl"].result_count
    _grow_complaints(handler_a, agent_a, agent_c, branch_a, branch_b, 2)
    large_count, large_sql = _queries(client, url)
    large_rows = client.get(url).context["cl"].result_count

    assert large_rows == 3 * small_rows > 0
    assert small_count == large_count, "\n".join(large_sql)
    assert large_count == pinned, "\n".join(large_sql)
    cap = settings.ADMIN_COUNT_CAP + 1
    assert [sql for sql in large_sql if "COUNT(" in sql and f"LIMIT {cap}" in sql], "the count is capped"


def test_complaint_list_count_is_capped(client, settings, handler_a, agent_a, agent_c, branch_a, branch_b):
    settings.ADMIN_COUNT_CAP = 2
    _grow_complaints(handler_a, agent_a, agent_c, branch_a, branch_b, 2)
    client.force_login(handler_a)
    content = client.get(url_of(Complaint)).content.decode()
    assert "2 complaints" in content and "More than" not in content
    _grow_complaints(handler_a, agent_a, agent_c, branch_a, branch_b, 1)
    assert "More than 2 complaints" in client.get(url_of(Complaint)).content.decode()


# --- The number's and the subscriber's pages --------------------------------------------


def test_number_page_lists_its_complaints_with_links(client, agent_a, handler_a, case):
    complaint = case["Complaint"]
    number = complaint.numbers.get()
    other = take_in(handler_a, number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=complaint.branch))
    client.force_login(agent_a)

    content = client.get(reverse("admin:numbers_mobilenumber_change", args=[number.pk])).content.decode()

    assert f'href="{url_of(Complaint, f"{complaint.pk}/change/")}"' in content
    assert f'href="{reverse("complaints:complaint_detail", args=[complaint.pk])}"' in content
    assert complaint.reference in content and other.reference not in content
    quiet = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=complaint.branch)
    content = client.get(reverse("admin:numbers_mobilenumber_change", args=[quiet.pk])).content.decode()
    assert "No complaints in the branches you can see." in content


def test_subscriber_page_lists_their_complaints_in_the_users_branches(
    client, agent_a, agent_c, auditor, handler_a, branch_a, branch_b
):
    subscriber = SubscriberFactory()
    in_a = take_in(
        handler_a, number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a, subscriber=subscriber)
    )
    in_b = take_in(agent_c, number_in_state(NumberStatus.ACTIVE, actor=agent_c, branch=branch_b, subscriber=subscriber))
    url = reverse("admin:numbers_subscriber_change", args=[subscriber.pk])
    for user, expected in ((agent_a, {in_a}), (agent_c, {in_b}), (auditor, {in_a, in_b})):
        client.force_login(user)
        content = client.get(url).content.decode()
        for complaint in (in_a, in_b):
            assert (complaint.reference in content) is (complaint in expected), (user, complaint)


def test_number_and_subscriber_pages_cost_the_same_with_more_complaints(client, agent_a, handler_a, branch_a):
    number = number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a)
    pages = [
        reverse("admin:numbers_mobilenumber_change", args=[number.pk]),
        reverse("admin:numbers_subscriber_change", args=[number.holder_id]),
    ]
    take_in(handler_a, number)
    client.force_login(agent_a)
    for url in pages:
        client.get(url)
    small = [_queries(client, url)[0] for url in pages]
    for index in range(3):
        take_in(handler_a, number, description=f"Again {index}")
    assert Complaint.objects.filter(complainant=number.holder).count() == 4
    assert [_queries(client, url)[0] for url in pages] == small


# --- SLA configuration: administrators edit, with a reason ------------------------------


def form_data(page, **changes) -> dict:
    """What the browser would post back from an admin change page, with ``changes``."""
    data = {}
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        forms += [formset.management_form, *formset.forms]
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is not None and value is not False:
                data[form.add_prefix(name)] = value
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


@pytest.fixture
def calendar(db):
    calendar = WorkingCalendar(code="test-desk", name="Test desk", timezone="Asia/Phnom_Penh")
    calendar.save()
    for day, name in ((date(2031, 1, 1), "New Year"), (date(2031, 4, 14), "Khmer New Year")):
        Holiday(calendar=calendar, date=day, name=name).save()
    calendar.refresh_from_db()
    return calendar


def calendar_url(calendar) -> str:
    return url_of(WorkingCalendar, f"{calendar.pk}/change/")


def test_administrator_edits_a_calendar_and_its_holidays_with_a_reason(client, admin_user, calendar):
    client.force_login(admin_user)
    page = client.get(calendar_url(calendar))
    extra = len(page.context["inline_admin_formsets"][0].formset.forms) - 1
    removed = calendar.holidays.get(date=date(2031, 4, 14))

    response = client.post(
        calendar_url(calendar),
        form_data(
            page,
            day_end="18:00",
            change_reason="The desk now closes at six",
            **{
                f"holidays-{extra}-date": "2031-05-01",
                f"holidays-{extra}-name": "Labour Day",
                f"holidays-{extra - 1}-DELETE": "on",
            },
        ),
    )

    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    calendar.refresh_from_db()
    assert calendar.day_end.hour == 18
    assert sorted(calendar.holidays.values_list("name", flat=True)) == ["Labour Day", "New Year"]
    latest = calendar.history.first()
    assert (latest.history_user, latest.history_change_reason) == (admin_user, "The desk now closes at six")
    added = Holiday.history.get(name="Labour Day")
    assert (added.history_type, added.history_user, added.history_change_reason) == (
        "+",
        admin_user,
        "The desk now closes at six",
    )
    deleted = Holiday.history.get(id=removed.pk, history_type="-")
    assert (deleted.history_user, deleted.history_change_reason) == (admin_user, "The desk now closes at six")


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_calendar_change_without_a_reason_changes_nothing(client, admin_user, calendar, reason):
    client.force_login(admin_user)
    page = client.get(calendar_url(calendar))
    before = (WorkingCalendar.history.count(), Holiday.history.count(), calendar.day_end)

    response = client.post(calendar_url(calendar), form_data(page, day_end="18:00", change_reason=reason))

    assert response.status_code == 200
    assert "change_reason" in response.context["adminform"].form.errors
    calendar.refresh_from_db()
    assert (WorkingCalendar.history.count(), Holiday.history.count(), calendar.day_end) == before


def test_a_calendar_with_an_unknown_time_zone_or_weekday_is_refused(client, admin_user, calendar):
    client.force_login(admin_user)
    page = client.get(calendar_url(calendar))
    for field, value in (("timezone", "Mars/Olympus"), ("weekdays", "0,1,9")):
        response = client.post(calendar_url(calendar), form_data(page, change_reason="Typo", **{field: value}))
        assert response.status_code == 200 and field in response.context["adminform"].form.errors
    calendar.refresh_from_db()
    assert (calendar.timezone, calendar.weekdays) == ("Asia/Phnom_Penh", "0,1,2,3,4")


def operator_table() -> SlaTable:
    return SlaTable.objects.get(code="operator")


def table_url(table) -> str:
    return url_of(SlaTable, f"{table.pk}/change/")


def test_editing_a_rule_needs_a_reason_is_in_history_and_moves_no_existing_deadline(
    client, admin_user, handler_a, agent_a, branch_a
):
    complaint = take_in(handler_a, number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a))
    deadlines = (complaint.acknowledge_due_at, complaint.resolve_due_at)
    table = operator_table()
    rule = complaint.sla_rule
    client.force_login(admin_user)
    page = client.get(table_url(table))
    index = next(
        i for i, form in enumerate(page.context["inline_admin_formsets"][0].formset.forms) if form.instance == rule
    )

    refused_page = client.post(table_url(table), form_data(page, **{f"rules-{index}-resolve_within": "5"}))
    assert refused_page.status_code == 200
    rule.refresh_from_db()
    assert rule.resolve_within == 10

    done = client.post(
        table_url(table),
        form_data(page, change_reason="Billing resolved within a week", **{f"rules-{index}-resolve_within": "5"}),
    )
    assert done.status_code == 302
    rule.refresh_from_db()
    assert rule.resolve_within == 5
    latest = rule.history.first()
    assert (latest.history_user, latest.history_change_reason, latest.resolve_within) == (
        admin_user,
        "Billing resolved within a week",
        5,
    )
    assert latest.history_type == "~"
    complaint.refresh_from_db()
    assert (complaint.acknowledge_due_at, complaint.resolve_due_at) == deadlines


def test_activating_a_table_deactivates_the_other_with_the_reason_in_both_histories(
    client, admin_user, handler_a, agent_a, branch_a
):
    acma, operator = SlaTable.objects.get(code="acma"), operator_table()
    client.force_login(admin_user)
    assert "activate" not in client.get(table_url(operator)).context["adminform"].form.fields
    page = client.get(table_url(acma))

    response = client.post(table_url(acma), form_data(page, activate="on", change_reason="Audit by the ACMA"))

    assert response.status_code == 302
    acma.refresh_from_db()
    operator.refresh_from_db()
    assert (acma.is_active, operator.is_active) == (True, False)
    assert acma.history.first().history_change_reason == "Audit by the ACMA"
    assert acma.history.first().history_user == admin_user
    assert operator.history.first().history_change_reason == f"{acma.name} activated instead: Audit by the ACMA"
    complaint = take_in(handler_a, number_in_state(NumberStatus.ACTIVE, actor=agent_a, branch=branch_a))
    assert complaint.sla_rule.table == acma


def test_the_active_flag_cannot_be_posted_directly(client, admin_user):
    acma, operator = SlaTable.objects.get(code="acma"), operator_table()
    client.force_login(admin_user)
    page = client.get(table_url(acma))
    response = client.post(table_url(acma), form_data(page, is_active="on", change_reason="Sneak it in"))
    assert response.status_code == 302
    assert SlaTable.objects.get(is_active=True) == operator


def test_a_table_without_a_default_rule_cannot_be_activated(client, admin_user):
    operator = operator_table()
    client.force_login(admin_user)
    page = client.get(url_of(SlaTable, "add/"))
    before = (SlaTable.objects.count(), SlaTable.history.count(), SlaRule.objects.count())

    response = client.post(
        url_of(SlaTable, "add/"),
        form_data(
            page,
            code="billing-only",
            name="Billing only",
            calendar=operator.calendar_id,
            warn_percent="75",
            activate="on",
            change_reason="Try a billing table",
            **{
                "rules-0-category": "billing",
                "rules-0-acknowledge_within": "1",
                "rules-0-acknowledge_unit": "working_days",
                "rules-0-resolve_within": "5",
                "rules-0-resolve_unit": "working_days",
            },
        ),
    )

    assert response.status_code == 302
    assert any("no default rule" in text for text in messages_of(response))
    assert (SlaTable.objects.count(), SlaTable.history.count(), SlaRule.objects.count()) == before
    assert SlaTable.objects.get(is_active=True) == operator


def test_a_new_table_with_a_default_rule_is_added_and_activated_in_one_step(client, admin_user):
    client.force_login(admin_user)
    page = client.get(url_of(SlaTable, "add/"))
    response = client.post(
        url_of(SlaTable, "add/"),
        form_data(
            page,
            code="strict",
            name="Strict",
            calendar=operator_table().calendar_id,
            warn_percent="50",
            activate="on",
            change_reason="Regulator asked for faster answers",
            **{
                "rules-0-acknowledge_within": "1",
                "rules-0-acknowledge_unit": "working_days",
                "rules-0-resolve_within": "5",
                "rules-0-resolve_unit": "working_days",
            },
        ),
    )
    assert response.status_code == 302
    strict = SlaTable.objects.get(code="strict")
    assert strict.is_active and not operator_table().is_active
    rule = strict.rules.get()
    assert (rule.category, rule.severity, rule.history.get().history_change_reason) == (
        "",
        "",
        "Regulator asked for faster answers",
    )


def test_calendars_tables_and_rules_are_never_deleted(client, admin_user, calendar):
    table = operator_table()
    rule = table.rules.first()
    client.force_login(admin_user)
    for model, obj in ((WorkingCalendar, calendar), (SlaTable, table), (SlaRule, rule), (Holiday, None)):
        action_form = client.get(url_of(model)).context["action_form"]
        assert action_form is None or "delete_selected" not in dict(action_form.fields["action"].choices)
        if obj is not None:
            assert client.post(url_of(model, f"{obj.pk}/delete/"), {"post": "yes"}).status_code == 403
    page = client.get(table_url(table))
    rules = page.context["inline_admin_formsets"][0].formset
    assert not rules.can_delete
    index = next(i for i, form in enumerate(rules.forms) if form.instance == rule)
    client.post(table_url(table), form_data(page, change_reason="Remove it", **{f"rules-{index}-DELETE": "on"}))
    assert SlaRule.objects.filter(pk=rule.pk).exists()
    assert WorkingCalendar.objects.filter(pk=calendar.pk).exists() and SlaTable.objects.filter(pk=table.pk).exists()


def test_the_auditor_reads_the_sla_configuration_and_changes_nothing(client, auditor, calendar):
    table = operator_table()
    rule = table.rules.first()
    client.force_login(auditor)
    before = (SlaTable.history.count(), SlaRule.history.count(), WorkingCalendar.history.count())
    for url in (table_url(table), calendar_url(calendar), url_of(SlaRule, f"{rule.pk}/change/")):
        page = client.get(url)
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode(), url
        assert client.post(url, {"name": "Mine", "change_reason": "Because"}).status_code == 403, url
        assert client.get(url.replace("change/", "history/")).status_code == 200, url
    for model in (SlaTable, WorkingCalendar):
        assert client.get(url_of(model, "add/")).status_code == 403
    assert (SlaTable.history.count(), SlaRule.history.count(), WorkingCalendar.history.count()) == before


@pytest.mark.parametrize("persona", ["handler_a", "supervisor_a", "agent_a"])
def test_branch_staff_do_not_see_the_sla_configuration(request, client, persona, calendar):
    client.force_login(request.getfixturevalue(persona))
    for model in (SlaTable, SlaRule, WorkingCalendar, Holiday):
        assert client.get(url_of(model)).status_code == 403
    assert client.get(calendar_url(calendar)).status_code == 403


def test_rules_and_holidays_have_read_only_pages_with_history(client, admin_user, calendar):
    rule = operator_table().rules.first()
    holiday = calendar.holidays.first()
    client.force_login(admin_user)
    for model, obj in ((SlaRule, rule), (Holiday, holiday)):
        page = client.get(url_of(model, f"{obj.pk}/change/"))
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
        assert client.post(url_of(model, f"{obj.pk}/change/"), {"name": "x", "change_reason": "x"}).status_code == 403
        assert client.get(url_of(model, "add/")).status_code == 403
        assert client.get(url_of(model, f"{obj.pk}/history/")).status_code == 200


# --- sla_table_activate, the service behind the box ---------------------------------------


def test_activation_service_needs_authority_and_a_reason(admin_user, auditor, supervisor_a):
    acma = SlaTable.objects.get(code="acma")
    for actor in (auditor, supervisor_a):
        refused(PermissionDenied, lambda actor=actor: cs.sla_table_activate(table=acma, actor=actor, reason="Mine"))
    error = refused(ValidationError, lambda: cs.sla_table_activate(table=acma, actor=admin_user, reason="  "))
    assert error.code == "reason_required"
    error = refused(
        ValidationError, lambda: cs.sla_table_activate(table=operator_table(), actor=admin_user, reason="x")
    )
    assert "already the active" in error.messages[0]
    assert list(SlaTable.objects.filter(is_active=True)) == [operator_table()]

    cs.sla_table_activate(table=acma, actor=admin_user, reason="Audit")
    assert list(SlaTable.objects.filter(is_active=True)) == [acma]
    cs.sla_table_activate(table=operator_table(), actor=admin_user, reason="Back")
    assert list(SlaTable.objects.filter(is_active=True)) == [operator_table()]


def test_offers_awaiting_approval_are_listed_as_such(client, supervisor_a, case):
    client.force_login(supervisor_a)
    assert listed(client.get(url_of(CompensationOffer), {"state": OfferState.AWAITING_APPROVAL})) == {
        case["CompensationOffer"].pk
    }
    assert listed(client.get(url_of(CompensationOffer), {"state": OfferState.ACCEPTED})) == set()
