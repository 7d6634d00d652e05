"""No input gives a 500 (issue 14, "Pages"): dates a form parses but the code
cannot add a day to, page numbers beyond any OFFSET, ids beyond any integer key.
Each is refused with a clear answer (a form error, a served page, a 404) and
writes nothing."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from backoffice.screens import EARLIEST_DATE, MAX_PAGE, page_number
from tests.matrix import write_counts

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999999"
FORTY_DIGITS = "1234567890123456789012345678901234567890"


@pytest.fixture
def reviewer(client, auditor):
    client.raise_request_exception = False  # a 500 is an answer to assert on, not an exception
    client.force_login(auditor)
    return client


def review(name: str, **params) -> str:
    return f"{reverse(name)}?{urlencode(params)}"


@pytest.mark.parametrize("name", ["audit:review", "audit:export-csv", "audit:export-pdf"])
@pytest.mark.parametrize(
    ("since", "until"),
    [("0001-01-01", "9999-12-31"), ("2020-01-01", "9999-12-31"), ("0001-01-01", "2020-01-01")],
)
def test_a_period_beyond_the_calendar_is_a_form_error_not_a_500(reviewer, agent_b, name, since, until):
    before = write_counts()
    response = reviewer.get(review(name, employee=agent_b.pk, since=since, until=until), follow=True)
    assert response.status_code == 200
    assert response.request["PATH_INFO"] == reverse("audit:review")  # exports send back to the form
    text = response.content.decode()
    assert f"Choose a date between {EARLIEST_DATE.isoformat()}" in text
    assert write_counts() == before


def test_an_export_of_a_period_beyond_the_calendar_says_nothing_was_exported(reviewer, agent_b):
    response = reviewer.get(review("audit:export-csv", employee=agent_b.pk, since="0001-01-01", until="9999-12-31"))
    assert response.status_code == 302
    assert any("Nothing exported" in str(m) for m in get_messages(response.wsgi_request))


@pytest.mark.parametrize("page", [HUGE, "-" + HUGE, "1e400", "abc", "", "0"])
def test_any_page_number_of_the_timeline_is_served(reviewer, agent_b, page):
    response = reviewer.get(review("audit:review", employee=agent_b.pk, page=page))
    assert response.status_code == 200
    assert response.context["timeline"].number in (1, MAX_PAGE)


@pytest.mark.parametrize(
    "name",
    ["audit:case-list", "numbers:transfer_list", "numbers:approval_queue", "numbers:withdrawal_queue"],
)
@pytest.mark.parametrize("page", [HUGE, "-" + HUGE, "1e400", "abc"])
def test_any_page_number_of_a_list_screen_is_served(client, admin_user, name, page):
    client.raise_request_exception = False
    client.force_login(admin_user)
    assert client.get(review(name, page=page)).status_code == 200


def test_page_number_clamps_in_one_place():
    assert [page_number(raw) for raw in (None, "", "abc", "1e400", "0", "-3", "7", HUGE)] == [
        1,
        1,
        1,
        1,
        1,
        1,
        7,
        MAX_PAGE,
    ]
    assert page_number(HUGE, last=4) == 4


@pytest.mark.parametrize("pk", [FORTY_DIGITS, "9223372036854775808", "-" + FORTY_DIGITS])
@pytest.mark.parametrize("label", ["numbers.mobilenumber", "numbers.subscriber", "complaints.complaint"])
def test_an_object_id_beyond_any_key_is_not_found(reviewer, label, pk):
    before = write_counts()
    response = reviewer.get(reverse("audit:object", kwargs={"label": label, "pk": pk}))
    assert response.status_code == 404
    assert write_counts() == before


@pytest.mark.parametrize(
    "path",
    [
        f"/review/cases/{FORTY_DIGITS}/",
        f"/review/employee/{FORTY_DIGITS}/open-case/",
        f"/complaints/{FORTY_DIGITS}/",
        f"/complaints/{HUGE}/offers/{HUGE}/approve/",
        f"/transfers/{FORTY_DIGITS}/",
        f"/withdrawals/{FORTY_DIGITS}/",
        "/transfers/9223372036854775808/",
    ],
)
def test_a_path_id_beyond_any_key_is_not_found(client, admin_user, path):
    client.raise_request_exception = False
    client.force_login(admin_user)
    before = write_counts()
    assert client.get(path).status_code == 404
    assert client.post(path, {"reason": "x"}).status_code == 404
    assert write_counts() == before


def test_the_bounds_hold_on_the_edges():
    from django import forms

    from backoffice.screens import BoundedDateField, latest_date

    field = BoundedDateField()
    assert field.clean(EARLIEST_DATE.isoformat()) == EARLIEST_DATE
    assert field.clean(latest_date().isoformat()) == latest_date()
    for bad in ("1999-12-31", "9999-12-31", "0001-01-01"):
        with pytest.raises(forms.ValidationError, match="Choose a date between"):
            field.clean(bad)
    assert date(2000, 1, 1) == EARLIEST_DATE
