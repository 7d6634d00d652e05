"""Property-based fuzzing of every screen (hypothesis): random query strings on every
URL the resolver routes, and random values posted to every form a page shows, as
each persona. Whatever comes in, the answer is never a 5xx, and a refused request
(4xx, or the sign-in page) writes nothing.

Deterministic and bounded (derandomize, a fixed number of examples): the same
examples run every time, in a few minutes on SQLite. A failure prints the persona,
the URL and the data; add it to tests/test_bad_input.py with its fix.
"""

from __future__ import annotations

import os
from html.parser import HTMLParser
from urllib.parse import urljoin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.matrix import (
    PERSONAS,
    build_world,
    changed_tables,
    classify,
    kwargs_for,
    path_for,
    personas,
    resolver_urls,
    write_counts,
)

pytestmark = pytest.mark.django_db

FUZZ = settings(
    derandomize=True,
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "100")),  # more with FUZZ_EXAMPLES=1000
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

HUGE = "99999999999999999999999"
NASTY = [
    "",
    " ",
    "0",
    "-1",
    HUGE,
    "-" + HUGE,
    "9223372036854775808",
    "1e400",
    "NaN",
    "0001-01-01",
    "9999-12-31",
    "2024-02-30",
    "9999-12-31T23:59:59",
    "0001-01-01 00:00",
    "1,5",
    "1e9",
    "ក្រុមហ៊ុន",
    "مرحبا 💥",
    "\u202e\ufeff",
    "<script>x</script>",
    "' OR 1=1 --",
    "a" * 5000,
    "+85512345678",
    "numbers.mobilenumber",
]
# Parameter names the screens read from the query string, besides the fields of their forms.
KNOWN_PARAMS = ["page", "p", "o", "q", "e", "state", "employee", "since", "until", "model", "action", "msisdn", "all"]

values = st.one_of(
    st.sampled_from(NASTY),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.dates().map(lambda day: day.isoformat()),
    st.text(max_size=40),
)


CSRF = "csrfmiddlewaretoken"


CSRF = "csrfmiddlewaretoken"


class FormFinder(HTMLParser):
    """The forms of a page: method, action and the names of their fields."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append(
                {"method": (attrs.get("method") or "get").upper(), "action": attrs.get("action"), "names": []}
            )
        elif tag in ("input", "select", "textarea") and self.forms and attrs.get("name") not in (None, CSRF):
            self.forms[-1]["names"].append(attrs["name"])


@pytest.fixture
def stage(request, client):
    """The world, the personas, and every routed URL with its kwargs filled in."""
    client.raise_request_exception = False  # a 500 is a finding to report, not an exception
    people = personas(request)
    world = build_world(people)
    paths = []
    for url in resolver_urls():
        kwargs = kwargs_for(url, world)
        if kwargs is not None:
            paths.append((url.key, path_for(url, kwargs)))
    return {"client": client, "people": people, "paths": paths, "pages": {}}


def act_as(stage, who: str):
    client = stage["client"]
    client.logout()
    if stage["people"][who] is not None:
        client.force_login(stage["people"][who])
    return client


def check(response, path: str, before: dict, what: str) -> None:
    assert response.status_code < 500, f"{what}: {response.status_code}"
    outcome = classify(response, path)
    if outcome in {"login", "missing"} or 400 <= response.status_code < 500:
        assert changed_tables(before, write_counts()) == {}, f"{what}: refused ({outcome}) yet wrote"


@FUZZ
@given(data=st.data())
def test_random_query_strings_on_every_url(stage, data):
    who = data.draw(st.sampled_from(PERSONAS), label="persona")
    key, path = data.draw(st.sampled_from(stage["paths"]), label="url")
    names = st.sampled_from(KNOWN_PARAMS) | st.text(min_size=1, max_size=12)
    query = data.draw(st.dictionaries(names, values, max_size=5), label="query")
    client = act_as(stage, who)
    before = write_counts()
    response = client.get(path, query)
    check(response, path, before, f"GET {path} ({key}) as {who} with {query!r}")


def forms_of(stage, client, who: str, path: str) -> list[dict]:
    """The forms the page shows this persona (read once per persona and page)."""
    cache = stage["pages"]
    if (who, path) not in cache:
        response = client.get(path)
        html = response.content.decode(errors="replace") if response.status_code == 200 else ""
        finder = FormFinder()
        finder.feed(html if "html" in response.get("Content-Type", "") else "")
        cache[(who, path)] = [dict(form, action=urljoin(path, form["action"] or path)) for form in finder.forms]
    return cache[(who, path)]


SCREENS_WITH_FORMS = st.sampled_from(["screen", "admin"])


@FUZZ
@given(data=st.data())
def test_random_values_in_every_form(stage, data):
    who = data.draw(st.sampled_from(PERSONAS), label="persona")
    kind = data.draw(SCREENS_WITH_FORMS, label="kind")
    pool = [
        (key, path)
        for key, path in stage["paths"]
        if (not path.startswith("/admin/")) == (kind == "screen") and not path.endswith(("logout/", ".pdf", ".csv"))
    ]
    key, path = data.draw(st.sampled_from(pool), label="page")
    client = act_as(stage, who)
    forms = forms_of(stage, client, who, path)
    if not forms:
        # No form shown to this persona: post to the URL itself with made-up fields.
        forms = [{"method": "POST", "action": path, "names": ["reason", "text", "amount", "msisdn"]}]
    form = data.draw(st.sampled_from(forms), label="form")
    fields = {name: data.draw(values, label=name) for name in form["names"] if data.draw(st.booleans())}
    fields |= data.draw(st.dictionaries(st.text(min_size=1, max_size=8), values, max_size=2), label="extra")
    before = write_counts()
    send = client.post if form["method"] == "POST" else client.get
    response = send(form["action"], fields)
    check(response, form["action"], before, f"{form['method']} {form['action']} (form of {key}) as {who}: {fields!r}")
