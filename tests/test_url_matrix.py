"""Role x URL: every URL the resolver routes, GET (or POST) as each persona, against
a table of who may use it. The URL list is read from ``get_resolver()`` itself, so a
URL added anywhere (an app's urls.py, a ModelAdmin's get_urls, a newly registered
model) without a row here fails ``test_every_url_has_an_expectation``, naming it.

Adding a row: SCREENS["<namespace>:<name>"] = GET(personas allowed) or POST(...);
a registered model: ADMIN_MODELS["<app>.<model>"] = Admin(view=..., add=...).
Allowed means 200 or a redirect that is not the sign-in page (for an action, an
empty POST: the screen answers, and a service may still refuse with a message);
everyone else is refused (the sign-in page, 401, 403, 404, or the admin's "no such
record" redirect), and a refused POST writes nothing (row counts of every app and
history table). The world (tests.matrix.build_world) is in branch A, so branch-B and
branch-C personas are refused its records; a model the world has no row of is
NOBODY's on its record pages (the id points at nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

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

ALL = frozenset(PERSONAS)
STAFF = ALL - {"anonymous"}
NOBODY = frozenset()
REFUSED = {"login", "401", "403", "404", "missing"}


def of(*names: str) -> frozenset:
    unknown = set(names) - ALL
    assert not unknown, f"not a persona: {unknown}"
    return frozenset(names)


@dataclass(frozen=True)
class Expect:
    method: str  # the method that uses the URL: GET, or POST for an action
    allowed: frozenset


def GET(allowed) -> Expect:  # noqa: N802 - reads as the table's verb
    return Expect("GET", frozenset(allowed))


def POST(allowed) -> Expect:  # noqa: N802
    return Expect("POST", frozenset(allowed))


@dataclass(frozen=True)
class Admin:
    """A registered model's standard admin pages: who sees its list, who may add,
    who may delete (nobody, for evidence), who sees the world's record of it."""

    view: frozenset
    add: frozenset = NOBODY
    delete: frozenset = NOBODY
    # The world's record of it: its change page (by default whoever sees the list;
    # fewer where the record is out of a persona's branch, NOBODY where the world has
    # no such record), its history pages (by default as its change page), and the
    # admin's bare <id>/ address (a redirect to the change page, for every staff member).
    record: frozenset | None = None
    history: frozenset | None = None
    bare: frozenset = STAFF
    version: frozenset | None = None  # one version's page; by default as the history page


# --- The table --------------------------------------------------------------------------

SCREENS: dict[str, Expect] = {
    "": GET(ALL),
    "admin:index": GET(STAFF),
    "admin:login": GET(of("anonymous")),  # signed in, it sends back to the index
    "admin:logout": POST(STAFF),  # signing out records an access event
    "admin:password_change": GET(STAFF),
    "admin:password_change_done": GET(STAFF),
    "admin:autocomplete": GET(NOBODY),
    "admin:jsi18n": GET(STAFF),
    "admin:view_on_site": GET(NOBODY),
    "admin:numbers_mobilenumber_move": GET(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "admin:numbers_mobilenumber_sell": GET(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "admin:numbers_mobilenumber_lock": GET(of("admin", "agent_a", "supervisor_a")),
    "admin:numbers_mobilenumber_lift": GET(of("admin", "agent_a", "supervisor_a")),
    "admin:numbers_subscriber_change_details": GET(STAFF),
    "admin:numbers_subscriberchangerequest_consent": GET(NOBODY),
    "admin:numbers_subscriberchangerequest_approve": GET(NOBODY),
    "admin:numbers_subscriberchangerequest_reject": GET(NOBODY),
    "admin:numbers_identityexport_approve": GET(NOBODY),
    "admin:auth_user_password_change": GET(of("admin")),
    "admin:app_list": GET(STAFF),
    "admin/(?P<url>.*)$": GET(NOBODY),
    "numbers:transfer_list": GET(STAFF),
    "numbers:transfer_create": GET(of("admin", "agent_a", "agent_c", "supervisor_a", "supervisor_b")),
    "numbers:transfer_detail": GET(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "numbers:transfer_consent_in_person": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "numbers:transfer_consent_signed_form": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "numbers:transfer_send_code": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "numbers:transfer_verify_code": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "numbers:transfer_consent_revoke": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "numbers:transfer_consent_form": GET(NOBODY),
    "numbers:transfer_consent_confirm": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "numbers:transfer_consent_photo": GET(NOBODY),
    "numbers:transfer_cancel": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "numbers:disconnection_check": GET(STAFF),
    "numbers:approval_queue": GET(of("admin", "supervisor_a", "supervisor_b")),
    "numbers:approval_detail": GET(of("admin", "supervisor_a")),
    "numbers:transfer_approve": POST(of("admin", "supervisor_a")),
    "numbers:transfer_reject": POST(of("admin", "supervisor_a")),
    "numbers:withdrawal_queue": GET(of("admin", "supervisor_a", "supervisor_b")),
    "numbers:withdrawal_create": GET(of("admin", "agent_a", "agent_c", "supervisor_a", "supervisor_b")),
    "numbers:withdrawal_detail": GET(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "numbers:withdrawal_document": GET(of("admin", "agent_a", "supervisor_a")),
    "numbers:withdrawal_send_code": POST(of("admin", "agent_a", "supervisor_a")),
    "numbers:withdrawal_confirm_code": POST(of("admin", "agent_a", "supervisor_a")),
    "numbers:withdrawal_cancel": POST(of("admin", "agent_a", "supervisor_a")),
    "numbers:withdrawal_approve": POST(of("admin", "supervisor_a")),
    "numbers:withdrawal_reject": POST(of("admin", "supervisor_a")),
    "numbers:withdrawal_in_person": POST(of("admin", "agent_a", "supervisor_a")),
    "numbers:withdrawal_confirm_check": POST(of("admin", "agent_a", "supervisor_a")),
    "numbers:withdrawal_holder_photo": GET(NOBODY),
    "numbers:withdrawal_reinstate": POST(of("admin", "supervisor_a")),
    "complaints:complaint_list": GET(STAFF),
    "complaints:complaint_create": GET(of("admin", "agent_a", "agent_c", "supervisor_a", "supervisor_b", "handler_a")),
    "complaints:complaint_detail": GET(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:complaint_acknowledge": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:complaint_investigate": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:complaint_note": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:complaint_assign": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:complaint_take": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:complaint_add_number": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:complaint_block": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:complaint_lift_block": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:restoration_request": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:restoration_approve": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:restoration_reject": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:restoration_cancel": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:offer_propose": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:offer_approve": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:offer_refuse": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:offer_make": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:offer_respond": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:offer_withdraw": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:regulator_case_record": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:regulator_response_record": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:employee_flag": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:employee_flag_withdraw": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:complaint_resolve": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:complaint_close": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints:complaint_reopen": POST(of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "audit:review": GET(of("admin", "auditor")),
    "audit:export-csv": GET(of("admin", "auditor")),
    "audit:export-pdf": GET(of("admin", "auditor")),
    "audit:employee-open-case": POST(of("admin", "auditor")),
    "audit:employee-suspend": POST(of("admin", "auditor")),
    "audit:object-lookup": GET(of("admin", "auditor")),
    "audit:object": GET(of("admin", "auditor")),
    "audit:request": GET(of("admin", "auditor")),
    "audit:case-list": GET(of("admin", "auditor")),
    "audit:case-detail": GET(of("admin", "auditor")),
    "audit:case-note": POST(of("admin", "auditor")),
    "audit:case-suspend": POST(of("admin", "auditor")),
    "audit:case-close": POST(of("admin", "auditor")),
    "sms:inbound": POST(NOBODY),  # the gateway's bearer token, never a session: 401 to everyone
    # Account pages: the password confirmation before approve/suspend/export, and the second factor.
    "staff:reauth": GET(STAFF),
    "staff:two_factor_verify": GET(STAFF),  # a verified session goes on to `next`
    "staff:two_factor_enrol": GET(STAFF),
    "staff:two_factor_qr": GET(NOBODY),  # only while an authenticator is being set up: 404 otherwise
    "staff:two_factor_backup_codes": GET(STAFF),
}

ADMIN_MODELS: dict[str, Admin] = {
    "auth.group": Admin(view=of("admin"), add=of("admin"), delete=of("admin")),
    "numbers.mobilenumber": Admin(
        view=STAFF, add=of("admin"), record=of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")
    ),
    "numbers.subscriber": Admin(view=STAFF, add=of("admin", "agent_a", "agent_c", "supervisor_a", "supervisor_b")),
    "numbers.holding": Admin(view=STAFF, record=of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "numbers.inactivitywarning": Admin(view=STAFF, record=NOBODY),
    "numbers.branch": Admin(view=STAFF, add=of("admin")),
    "numbers.transferrequest": Admin(
        view=STAFF,
        add=of("admin", "agent_a", "agent_c", "supervisor_a", "supervisor_b"),
        record=of("admin", "agent_a", "supervisor_a", "handler_a", "auditor"),
    ),
    "numbers.transferconsent": Admin(view=STAFF, record=of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "numbers.transferlock": Admin(view=STAFF, record=NOBODY),
    "numbers.withdrawalrequest": Admin(
        view=STAFF, record=of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")
    ),
    "numbers.subscriberchangerequest": Admin(
        view=of("admin", "agent_a", "agent_c", "supervisor_a", "supervisor_b", "auditor"), record=NOBODY
    ),
    "numbers.identityexport": Admin(view=of("admin", "supervisor_a", "supervisor_b", "auditor"), record=NOBODY),
    "audit.accessevent": Admin(view=of("admin", "auditor")),
    "audit.refusedattempt": Admin(view=of("admin", "auditor"), record=NOBODY),
    "audit.disciplinarycase": Admin(view=of("admin", "auditor")),
    "audit.casenote": Admin(view=of("admin", "auditor"), record=NOBODY),
    "axes.accessattempt": Admin(view=of("admin"), record=NOBODY),
    "axes.accesslog": Admin(view=of("admin"), delete=of("admin")),
    "axes.accessfailurelog": Admin(view=of("admin"), record=NOBODY),
    "django_celery_beat.periodictask": Admin(view=of("admin"), add=of("admin"), delete=of("admin")),
    "django_celery_beat.clockedschedule": Admin(view=of("admin"), add=of("admin"), record=NOBODY),
    "django_celery_beat.crontabschedule": Admin(view=of("admin"), add=of("admin"), delete=of("admin")),
    "django_celery_beat.solarschedule": Admin(view=of("admin"), add=of("admin"), record=NOBODY),
    "django_celery_beat.intervalschedule": Admin(view=of("admin"), add=of("admin"), record=NOBODY),
    "staff.employee": Admin(view=of("admin", "supervisor_a", "supervisor_b", "auditor"), add=of("admin")),
    "auth.user": Admin(view=of("admin"), add=of("admin")),
    "numbers.branchuserobjectpermission": Admin(view=of("admin", "supervisor_a", "supervisor_b", "auditor")),
    "staff.suspension": Admin(view=of("admin", "auditor"), record=NOBODY),
    "staff.secondfactorreset": Admin(view=of("admin", "supervisor_a", "supervisor_b", "auditor"), record=NOBODY),
    "staff.staffnotice": Admin(view=of("admin", "auditor"), record=NOBODY),
    "sms.smsmessage": Admin(view=of("admin", "auditor")),
    "sms.inboundsms": Admin(view=of("admin", "auditor"), record=NOBODY),
    "complaints.complaint": Admin(view=STAFF, record=of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints.complaintnumber": Admin(
        view=STAFF, record=of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")
    ),
    "complaints.complaintevent": Admin(
        view=STAFF, record=of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")
    ),
    "complaints.emergencyblock": Admin(
        view=STAFF, record=of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")
    ),
    "complaints.restoration": Admin(view=STAFF, record=of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints.compensationoffer": Admin(
        view=STAFF, record=of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")
    ),
    "complaints.regulatorcase": Admin(
        view=STAFF, record=of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")
    ),
    "complaints.regulatorresponse": Admin(view=STAFF, record=NOBODY),
    "complaints.employeeflag": Admin(view=STAFF, record=of("admin", "agent_a", "supervisor_a", "handler_a", "auditor")),
    "complaints.workingcalendar": Admin(
        view=of("admin", "auditor"), add=of("admin"), version=NOBODY
    ),  # seeded rows: no version
    "complaints.slatable": Admin(
        view=of("admin", "auditor"), add=of("admin"), version=NOBODY
    ),  # seeded rows: no version
    "complaints.slarule": Admin(view=of("admin", "auditor"), version=NOBODY),  # seeded rows: no version
    "complaints.holiday": Admin(view=of("admin", "auditor"), version=NOBODY),  # seeded rows: no version
}

# --- The tests --------------------------------------------------------------------------

ADMIN_STANDARD = {"changelist", "add", "change", "history", "delete", "simple_history", "object"}


def expectation(url) -> Expect | None:
    if url.admin_model is not None and url.admin_suffix in ADMIN_STANDARD:
        rule = ADMIN_MODELS.get(url.admin_model.model._meta.label_lower)
        if rule is None:
            return None
        suffix = url.admin_suffix
        if suffix in ("add", "delete", "changelist"):
            allowed = {"add": rule.add, "delete": rule.delete, "changelist": rule.view}[suffix]
        elif suffix == "object":
            allowed = rule.bare
        else:
            record = rule.view if rule.record is None else rule.record
            history = record if rule.history is None else rule.history
            version = history if rule.version is None else rule.version
            allowed = {"change": record, "history": history, "simple_history": version}[suffix]
        return GET(allowed)
    return SCREENS.get(url.key)


def test_every_url_has_an_expectation():
    missing = []
    for url in resolver_urls():
        if expectation(url) is not None:
            continue
        if url.admin_model is not None and url.admin_suffix in ADMIN_STANDARD:
            label = url.admin_model.model._meta.label_lower
            missing.append(f"model {label} (admin URL {url.key!r}): add ADMIN_MODELS[{label!r}] = Admin(view=...)")
        else:
            missing.append(f"URL {url.key!r} (route {url.route!r}): add SCREENS[{url.key!r}] = GET(...) or POST(...)")
    assert not missing, "URLs without an expectation in tests/test_url_matrix.py:\n" + "\n".join(sorted(set(missing)))


def test_no_expectation_is_left_for_a_url_that_is_gone():
    keys = {url.key for url in resolver_urls()}
    models = {url.admin_model.model._meta.label_lower for url in resolver_urls() if url.admin_model is not None}
    assert sorted(set(SCREENS) - keys) == []
    assert sorted(set(ADMIN_MODELS) - models) == []


@pytest.mark.parametrize("who", PERSONAS)
def test_each_url_as_each_persona(request, client, who):
    client.raise_request_exception = False
    people = personas(request)
    world = build_world(people)
    if people[who] is not None:
        client.force_login(people[who])
    wrong = []
    for url in resolver_urls():
        expect = expectation(url)
        if expect is None:
            continue  # test_every_url_has_an_expectation names it
        kwargs = kwargs_for(url, world)
        if kwargs is None:
            wrong.append(f"{url.key}: no way to build kwargs {url.kwarg_names} (tests/matrix.py kwargs_for)")
            continue
        path = path_for(url, kwargs)
        outcome = classify(client.get(path), path)
        if expect.method == "POST":
            if outcome == "5xx":
                wrong.append(f"{url.key} GET {path}: 5xx")
            before = write_counts()
            outcome = classify(client.post(path, {}), path)
            if who not in expect.allowed and changed_tables(before, write_counts()):
                wrong.append(f"{url.key} POST {path}: refused yet wrote {changed_tables(before, write_counts())}")
        if people[who] is not None and url.name == "admin:logout":
            client.force_login(people[who])  # signed out by it: back in for the next URL
        allowed = who in expect.allowed
        if (allowed and outcome != "ok") or (not allowed and outcome not in REFUSED):
            wrong.append(f"{url.key} {expect.method} {path}: {'allowed' if allowed else 'refused'}, got {outcome}")
    assert not wrong, f"as {who}:\n" + "\n".join(wrong)
