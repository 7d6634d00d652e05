"""Every staff screen under the Content-Security-Policy, in real Chromium: on the demo
data, each persona follows every link of the portal from its start pages (one page per
URL route, so a new screen linked from any page is visited without naming it here),
and the test fails on any policy violation the browser reports (an inline style or
script, a foreign source) or on a page served without the policy.

Routes of the resolver that no visit reached must be a form's POST target seen on a
visited page, or be listed in NOT_PAGES with the reason: a new screen nobody links to
fails until it is linked or listed."""

from __future__ import annotations

import re
from collections import deque
from io import StringIO
from urllib.parse import urldefrag, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from playwright.sync_api import Error as PlaywrightError

from tests.browser.pages import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Where each persona starts; each follows every link from there.
START = {
    "admin": [
        "/admin/",
        "/transfers/",
        "/approvals/",
        "/withdrawals/",
        "/withdrawals/new/",
        "/complaints/",
        "/review/",
        "/review/cases/",
        "/account/confirm/",
        "/account/second-factor/enrol/",
        "/account/second-factor/backup-codes/",
    ],
    "auditor": ["/review/", "/review/cases/", "/admin/"],
    "handler_a": ["/complaints/", "/admin/"],
    "supervisor_a": ["/approvals/", "/withdrawals/", "/transfers/", "/admin/"],
    "agent_a": ["/transfers/", "/admin/"],
}
# Only the admin persona crawls the whole admin; the others stay on the staff screens
# (their admin pages are the same templates with fewer rows).
STAFF_SCREENS = re.compile(r"^/(transfers|approvals|withdrawals|complaints|disconnections|review)/")

# Routes outside the admin that are not pages a person opens, with why. (The admin is
# checked model by model: each list, and a change and a history page where there are rows.)
NOT_PAGES = {
    "review/export.csv": "a download",
    "transfers/<id:pk>/consents/<id:consent_id>/form/": "a file (the signed consent form)",
    "transfers/<id:pk>/consents/<id:consent_id>/photo/": "a file (a document photo)",
    "withdrawals/<id:pk>/photo/": "a file (a document photo)",
    "review/dossier.pdf": "a download",
    "sms/inbound/": "the SMS gateway's endpoint, token-authenticated",
    "dev/phone/": "DEBUG only, not routed in production",
    "dev/phone/<str:msisdn>/": "DEBUG only, not routed in production",
    "": "redirects to the admin index",
    "account/second-factor/": "the second step of signing in, passed by log_in; a verified session is sent on",
    "account/second-factor/enrol/qr.svg": "an image (the enrolment QR code, same origin)",
}

LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


def routes_of(resolver: URLResolver, prefix: str = "") -> set[str]:
    routes = set()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            routes |= routes_of(pattern, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            routes.add(prefix + str(pattern.pattern))
    return routes


def example_url(route: str) -> str:
    """A URL of the route with made-up arguments ('<int:pk>' -> 1)."""
    return "/" + re.sub(r"<str:\w+>", "x", re.sub(r"<(?:int|id):\w+>", "1", route))


def route_of(path: str) -> str | None:
    try:
        return resolve(path).route
    except Resolver404:
        return None


@pytest.fixture
def demo(transactional_db, sla_presets):
    """The demo, on the SLA presets an earlier transactional test's flush may have emptied."""
    with override_settings(DEBUG=True):
        call_command("seed_demo", subscribers=20, stdout=StringIO())


def crawl(page, base: str, starts: list[str], *, whole_admin: bool) -> tuple[dict, set, list]:
    """Visit one page per route reachable by links from ``starts``: the routes visited
    (with the page), the routes seen as POST targets, and the problems found."""
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    visited: dict[str, str] = {}
    posted: set[str] = set()
    problems: list[str] = []
    queue = deque(starts)
    while queue:
        path = queue.popleft()
        route = route_of(path)
        if route is None or route in visited or route in NOT_PAGES:
            continue
        if not whole_admin and not STAFF_SCREENS.match(path) and path not in starts:
            continue
        visited[route] = path
        console.clear()
        try:
            response = page.goto(base + path)
        except PlaywrightError as error:
            if "Download is starting" in str(error):
                continue
            raise
        if response is None:
            continue
        if "text/html" not in (response.header_value("content-type") or ""):
            continue  # an image or a file the browser shows with its own viewer
        policy = response.header_value("content-security-policy") or ""
        if "default-src 'self'" not in policy or "unsafe-inline" in policy:
            problems.append(f"{path}: served without the policy ({policy!r})")
        violations = page.evaluate("window.__cspViolations || []")
        violations += [text for text in console if "Content Security Policy" in text]
        problems += [f"{path}: {violation}" for violation in violations]
        links = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
        forms = page.eval_on_selector_all("form", "forms => forms.map(f => [f.method, f.action])")
        for method, action in forms:
            target = urlsplit(action)
            if target.netloc == urlsplit(base).netloc:
                if method == "post":
                    posted.add(route_of(target.path))
                else:
                    links.append(action)
        for link in links:
            url, _ = urldefrag(link)
            parts = urlsplit(url)
            if parts.netloc == urlsplit(base).netloc and route_of(parts.path) not in visited:
                queue.append(parts.path)
    return visited, posted, problems


def test_every_staff_screen_loads_without_a_policy_violation(page, new_context, live_server, demo):
    page.add_init_script(LISTENER)
    log_in(page, live_server, "admin")
    visited, posted, problems = crawl(page, live_server.url, START["admin"], whole_admin=True)
    for username, starts in START.items():
        if username == "admin":
            continue
        other = new_context().new_page()
        other.add_init_script(LISTENER)
        log_in(other, live_server, username)
        seen, targets, found = crawl(other, live_server.url, starts, whole_admin=False)
        visited |= {route: path for route, path in seen.items() if route not in visited}
        posted |= targets
        problems += [f"as {username}: {problem}" for problem in found]
    assert problems == []

    # Every admin model's list, and a change and history page where it has rows.
    missing = []
    for model in admin.site._registry:
        prefix = f"admin/{model._meta.app_label}/{model._meta.model_name}/"
        if prefix not in visited:
            missing.append(prefix)
        elif model._default_manager.exists():
            missing += [
                prefix + page
                for page in ("<path:object_id>/change/", "<path:object_id>/history/")
                if prefix + page not in visited
            ]
    # Every other route: visited, a form's POST target, or not a page.
    unreached = sorted(
        route
        for route in routes_of(get_resolver())
        if not route.startswith("admin/") and route not in visited and route not in posted and route not in NOT_PAGES
    )
    assert missing == [], f"admin pages not visited: {missing}"
    # An action's form shows only in the states that allow it: a route that refuses GET
    # (405) is an action, not a page.
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    unreached = [route for route in unreached if client.get(example_url(route)).status_code != 405]
    assert unreached == [], "routes no page links to: " + ", ".join(unreached)
