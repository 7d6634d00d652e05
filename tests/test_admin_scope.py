"""Every admin page of every registered model, walked from the registry itself: the
history list and each version page are scoped like the change page (agent_c, of
branch B, never reads a record of branch A through them), and no page or staff
screen renders a select of more than SELECT_OPTIONS_BOUND rows.

A model registered later without an entry in BRANCH_PATHS or UNSCOPED fails
``test_every_registered_model_has_an_expectation``.

The demo is seeded once for the session (conftest's ``seeded_demo``); what this module
adds to it is added once for the module inside a transaction rolled back at the end;
each test runs in a savepoint of it.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from numbers import services
from numbers.choices import NumberStatus
from numbers.models import Branch, InactivityWarning, MobileNumber, service_write_scope
from tests.factories import SubscriberFactory

# The default SELECT_OPTIONS_BOUND; the demo has more numbers and holdings than this.
BOUND = 50
# More rows than the bound in the big tables the demo keeps small (accounts, subscribers).
EXTRA_ROWS = BOUND + 10

# Where each branch-scoped model keeps its branch: a record of branch A must be out of agent_c's reach.
BRANCH_PATHS = {
    "numbers.mobilenumber": "branch",
    "numbers.holding": "number__branch",
    "numbers.inactivitywarning": "number__branch",
    "numbers.transferrequest": "branch",
    "numbers.transferconsent": "request__branch",
    "numbers.transferlock": "number__branch",
    "numbers.withdrawalrequest": "branch",
    "numbers.subscriberchangerequest": "branch",
    "complaints.complaint": "branch",
    "complaints.complaintnumber": "complaint__branch",
    "complaints.complaintevent": "complaint__branch",
    "complaints.emergencyblock": "complaint__branch",
    "complaints.restoration": "complaint__branch",
    "complaints.compensationoffer": "complaint__branch",
    "complaints.regulatorcase": "complaint__branch",
    "complaints.regulatorresponse": "case__complaint__branch",
    "complaints.employeeflag": "complaint__branch",
}

# Models read across branches (by role, not by branch), and why.
UNSCOPED = {
    "numbers.subscriber": "customers of the operator, not of a branch (subscriber_list)",
    "numbers.branch": "the branches themselves",
    "numbers.identityexport": "compliance exports: by permission, across branches",
    "numbers.branchuserobjectpermission": "branch authority: read by staff administrators",
    "audit.accessevent": "the access log: auditors",
    "audit.refusedattempt": "refusals: auditors",
    "audit.disciplinarycase": "audit cases: auditors",
    "audit.casenote": "audit case notes: auditors",
    "axes.accessattempt": "sign-in lockout records: administrators",
    "axes.accesslog": "sign-in lockout records: administrators",
    "axes.accessfailurelog": "sign-in lockout records: administrators",
    "django_celery_beat.periodictask": "job schedule: administrators",
    "django_celery_beat.clockedschedule": "job schedule: administrators",
    "django_celery_beat.crontabschedule": "job schedule: administrators",
    "django_celery_beat.solarschedule": "job schedule: administrators",
    "django_celery_beat.intervalschedule": "job schedule: administrators",
    "staff.employee": "staff records: by role",
    "auth.user": "accounts: administrators",
    "auth.group": "roles: administrators",
    "staff.suspension": "suspensions: by role",
    "staff.secondfactorreset": "second-factor resets: by role (those who may read the employee list)",
    "staff.staffnotice": "staff notices: by role",
    "sms.smsmessage": "the SMS outbox: by role",
    "sms.inboundsms": "inbound SMS: by role",
    "complaints.workingcalendar": "configuration",
    "complaints.slatable": "configuration",
    "complaints.slarule": "configuration",
    "complaints.holiday": "configuration",
}

# Branch A personas, one of whom reads each branch-scoped record.
BRANCH_A_READERS = ("agent_a", "supervisor_a", "handler_a")
REFUSED = (302, 403, 404)

SELECT = re.compile(r"<select\b.*?</select>", re.S | re.I)
FILTER = re.compile(r"<details data-filter-title=.*?</details>", re.S | re.I)
NAME = re.compile(r'name="([^"]*)"')
TITLE = re.compile(r'data-filter-title="([^"]*)"')
# Lists fixed by the code or the platform, not rows that grow with the business.
FIXED_LISTS = {
    "timezone": "the IANA time zones (job schedules, working calendars)",
    "permissions": "Django's permissions, fixed by the code (roles, administrators only)",
    "model": "the kinds of record the review covers, fixed by the code",
    "codename": "the permission codenames granted per branch, fixed by the code",
}


def _url(name: str, *args) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def label(model) -> str:
    return model._meta.label_lower


def pages(model, obj) -> dict[str, str]:
    """The change page, the history list and (with simple-history) the newest version page of ``obj``."""
    info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    urls = {"change": _url(f"{info}_change", obj.pk), "history": _url(f"{info}_history", obj.pk)}
    version = newest_version(model, obj)
    if version is not None:
        urls["version"] = _url(f"{info}_simple_history", obj.pk, version)
    return {name: url for name, url in urls.items() if url}


def newest_version(model, obj) -> int | None:
    attribute = getattr(model._meta, "simple_history_manager_attribute", None)
    if attribute is None:
        return None
    record = getattr(model, attribute).filter(**{model._meta.pk.attname: obj.pk}).order_by("-history_id").first()
    return record.history_id if record else None


def branch_a_object(model, branch_a):
    return model._base_manager.filter(**{BRANCH_PATHS[label(model)]: branch_a}).order_by("pk").first()


def too_long_selects(html: str) -> list[str]:
    """The name of each select, and the title of each list filter, offering more than
    BOUND rows (the filters' "All" and "empty" links aside), fixed lists aside."""
    found = [
        match.group(1) if (match := NAME.search(select)) else select[:80]
        for select in SELECT.findall(html)
        if select.lower().count("<option") > BOUND + 1
    ]
    found += [TITLE.search(f).group(1) for f in FILTER.findall(html) if f.lower().count("<li") > BOUND + 2]
    return [name for name in found if name not in FIXED_LISTS]


def seed(branch_a) -> None:
    """On the session's demo (conftest's seeded_demo), what it lacks for this module."""
    # More subscribers and accounts than the bound: a select of them would show.
    SubscriberFactory.create_batch(EXTRA_ROWS)
    User = get_user_model()
    User.objects.bulk_create(User(username=f"clerk{n:03d}") for n in range(EXTRA_ROWS))
    # What the demo does not make: an inactivity warning (written by the lifecycle job).
    number = MobileNumber.objects.filter(branch=branch_a, status=NumberStatus.ACTIVE).order_by("pk").first()
    with service_write_scope():
        InactivityWarning.objects.create(
            number=number,
            subscriber_id=number.holder_id,
            period_start=timezone.now(),
            warning_day=30,
            withdrawal_on=timezone.localdate(),
        )
    # Nor a holder's change request (branch A's agent asks; the code goes to the held number).
    services.subscriber_change_request(
        subscriber=number.holder,
        code_to=number.msisdn,
        actor=User.objects.get(username="agent_a"),
        reason="Married: new name",
        full_name="Renamed Holder",
    )


@pytest.fixture(scope="module")
def seeded(seeded_demo, django_db_blocker):
    with django_db_blocker.unblock(), transaction.atomic():
        from staff.personas import ensure_branches

        seed(ensure_branches()["branch-a"])
        yield
        transaction.set_rollback(True)


@pytest.fixture(autouse=True)
def _bound(settings):
    settings.SELECT_OPTIONS_BOUND = BOUND


@pytest.fixture
def branch_a_(seeded, db):
    return Branch.objects.get(code="branch-a")


def test_every_registered_model_has_an_expectation():
    registered = {label(model) for model in admin.site._registry}
    assert registered - set(BRANCH_PATHS) - set(UNSCOPED) == set(), "say how each new model is scoped"
    assert set(BRANCH_PATHS) & set(UNSCOPED) == set()


def branch_scoped_models():
    return sorted((m for m in admin.site._registry if label(m) in BRANCH_PATHS), key=label)


@pytest.mark.parametrize("model", branch_scoped_models(), ids=label)
def test_branch_b_cannot_read_a_branch_a_record_through_any_page(model, branch_a_, client, agent_c, django_user_model):
    obj = branch_a_object(model, branch_a_)
    assert obj is not None, f"the test needs a {label(model)} of branch A: make one in seed()"
    urls = pages(model, obj)
    assert {"change", "history"} <= set(urls)

    client.force_login(agent_c)
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code in REFUSED, (name, url, response.status_code)
        if response.status_code == 302:
            assert response.url != url
        assert str(obj) not in response.content.decode(), (name, url)

    # A reader of branch A sees the same three pages.
    readers = [django_user_model.objects.get(username=name) for name in BRANCH_A_READERS]
    reader = next(
        (user for user in readers if client.force_login(user) or client.get(urls["change"]).status_code == 200), None
    )
    assert reader is not None, f"no branch A persona reads {label(model)}"
    for name, url in urls.items():
        response = client.get(url)
        assert response.status_code == 200, (name, url, reader.username)
        assert too_long_selects(response.content.decode()) == [], (name, url)


@pytest.mark.parametrize("model", sorted(admin.site._registry, key=label), ids=label)
@pytest.mark.parametrize("persona", ["agent_c", "agent_a", "auditor"])
def test_history_pages_answer_as_the_change_page_does(model, persona, branch_a_, client, django_user_model):
    """For each persona the history list and the version page are open exactly when the change page is."""
    obj = model._base_manager.order_by("pk").first()
    if label(model) in BRANCH_PATHS:
        obj = branch_a_object(model, branch_a_)
    if obj is None:
        # No such record in the demo: the pages of one that does not exist answer alike (none 200, none 500).
        obj = model()
        obj.pk = 2**62
    client.force_login(django_user_model.objects.get(username=persona))
    urls = pages(model, obj)
    allowed = {name: client.get(url).status_code == 200 for name, url in urls.items()}
    assert set(allowed.values()) == {allowed["change"]}, (urls, allowed)


@pytest.mark.parametrize("model", sorted(admin.site._registry, key=label), ids=label)
def test_no_admin_page_renders_a_select_of_a_big_table(model, branch_a_, admin_client):
    """As the administrator (who sees every row): changelist, add, change, history and version pages."""
    info = f"admin:{model._meta.app_label}_{model._meta.model_name}"
    urls = {"changelist": _url(f"{info}_changelist"), "add": _url(f"{info}_add")}
    obj = model._base_manager.order_by("pk").first()
    if obj is not None:
        urls.update(pages(model, obj))
    for name, url in urls.items():
        if url is None:
            continue
        response = admin_client.get(url)
        assert response.status_code in (200, 302, 403), (name, url, response.status_code)
        if response.status_code == 200:
            assert too_long_selects(response.content.decode()) == [], (name, url)


def staff_screen_urls() -> list[str]:
    """Every staff screen (outside the admin) that takes no argument in its path."""
    found = []

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.app_name == "admin":
                    continue
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern) and not pattern.pattern.converters and "(" not in str(pattern.pattern):
                route = prefix + str(pattern.pattern)
                found.append("/" + route.lstrip("^").rstrip("$"))

    walk(get_resolver().url_patterns)
    return sorted(set(found))


@pytest.mark.parametrize("persona", ["admin", "supervisor_a", "handler_a", "auditor"])
def test_no_staff_screen_renders_a_select_of_a_big_table(persona, branch_a_, client, django_user_model):
    client.force_login(django_user_model.objects.get(username=persona))
    checked = 0
    for url in staff_screen_urls():
        if "logout" in url:
            continue
        response = client.get(url)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        checked += 1
        assert too_long_selects(response.content.decode()) == [], url
    assert checked


def test_a_version_of_another_object_is_refused(branch_a_, client, django_user_model):
    """The version id must belong to the object in the URL, for a reader of both."""
    from numbers.models import Holding

    first, second = Holding.objects.filter(number__branch=branch_a_).order_by("pk")[:2]
    client.force_login(django_user_model.objects.get(username="agent_a"))
    own = reverse("admin:numbers_holding_simple_history", args=[first.pk, newest_version(Holding, first)])
    other = reverse("admin:numbers_holding_simple_history", args=[first.pk, newest_version(Holding, second)])
    assert client.get(own).status_code == 200
    assert client.get(other).status_code == 404
    assert client.get(reverse("admin:numbers_holding_simple_history", args=[first.pk, "x"])).status_code == 404


def test_a_version_page_is_never_a_form_to_post(branch_a_, admin_client):
    from numbers.models import Holding

    holding = Holding.objects.filter(number__branch=branch_a_).order_by("pk").first()
    url = reverse("admin:numbers_holding_simple_history", args=[holding.pk, newest_version(Holding, holding)])
    assert admin_client.post(url, {"number": holding.number_id}).status_code == 403


def test_a_version_page_showing_a_holder_is_in_the_access_log(branch_a_, client, django_user_model):
    """As on the change page: the number's version names its holder, the subscriber's version is the subscriber."""
    from audit.choices import AccessKind
    from audit.models import AccessEvent
    from numbers.models import Subscriber

    number = MobileNumber.objects.filter(branch=branch_a_, holder__isnull=False).order_by("pk").first()
    agent_a, agent_c = (django_user_model.objects.get(username=name) for name in ("agent_a", "agent_c"))
    number_version = reverse(
        "admin:numbers_mobilenumber_simple_history", args=[number.pk, newest_version(MobileNumber, number)]
    )
    subscriber_version = reverse(
        "admin:numbers_subscriber_simple_history", args=[number.holder_id, newest_version(Subscriber, number.holder)]
    )
    events = AccessEvent.objects.filter(kind=AccessKind.SUBSCRIBER, subscriber_id=number.holder_id)
    client.force_login(agent_a)
    for url in (number_version, subscriber_version):
        before = set(events.values_list("pk", flat=True))
        assert client.get(url).status_code == 200
        assert [event.user for event in events.exclude(pk__in=before)] == [agent_a], url

    # Refused: nothing shown, nothing recorded.
    client.force_login(agent_c)
    assert client.get(number_version).status_code == 404
    assert not AccessEvent.objects.filter(kind=AccessKind.SUBSCRIBER, user=agent_c).exists()
