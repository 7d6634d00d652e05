"""What the role x URL test and the fuzz test share: every URL the resolver knows,
the personas, one small world of objects to point the URLs at, and the row counts
that say whether a request wrote anything.

The URL list comes from ``get_resolver()`` itself (admin and include()d apps
included), so a URL added anywhere is seen here without anyone listing it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.apps import apps
from django.contrib import admin
from django.urls import URLPattern, URLResolver, get_resolver

PERSONAS = ("admin", "agent_a", "agent_c", "supervisor_a", "supervisor_b", "handler_a", "auditor", "anonymous")

# Written on purpose by a refused request: the refusal itself (audit.refusals) and
# the chain head that orders it; the session is the test client's own.
WRITTEN_ON_REFUSAL = {"audit.refusedattempt", "audit.chainhead", "sessions.session"}


@dataclass(frozen=True)
class Url:
    """One pattern of the resolver: ``key`` is its name (namespaced), or its route when unnamed."""

    key: str
    name: str | None
    route: str
    kwarg_names: tuple[str, ...]
    callback: object

    @property
    def admin_model(self):
        """The ModelAdmin this URL belongs to, if it is one of a registered model's pages."""
        for model, model_admin in admin.site._registry.items():
            if self.route.startswith(f"admin/{model._meta.app_label}/{model._meta.model_name}/"):
                return model_admin
        return None

    @property
    def admin_suffix(self) -> str:
        """changelist, add, change, history, delete, simple_history, a custom page's
        name, or "object" for the admin's unnamed redirect from <id>/ to its change page."""
        if not self.name:
            return "object"
        opts = self.admin_model.model._meta
        return self.name.removeprefix(f"admin:{opts.app_label}_{opts.model_name}_")


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, route, inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else None
            yield route, name, entry.callback


def resolver_urls() -> list[Url]:
    """Every URL pattern the project routes, in resolver order."""
    found = []
    for route, name, callback in _walk(get_resolver().url_patterns):
        kwargs = tuple(_kwarg_names(route))
        found.append(Url(key=name or route, name=name, route=route, kwarg_names=kwargs, callback=callback))
    return found


def _kwarg_names(route: str):
    import re

    position = 0
    for match in re.finditer(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>|\((?!\?)", route):
        if match.group(0) == "(":
            yield f"arg{position}"  # an unnamed regex group (simple-history's version page)
            position += 1
        else:
            yield match.group(1) or match.group(2)


def write_counts() -> dict[str, int]:
    """Rows of every table the apps own (history and audit tables included)."""
    counts = {}
    for model in apps.get_models():
        opts = model._meta
        if opts.proxy or not opts.managed or opts.label_lower in WRITTEN_ON_REFUSAL:
            continue
        counts[opts.label_lower] = model._base_manager.count()
    return counts


def changed_tables(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {label: (before[label], after.get(label)) for label in before if before[label] != after.get(label)}


def personas(request) -> dict:
    """The personas by name (anonymous is None), made through conftest's fixtures."""
    named = {name: request.getfixturevalue("admin_user" if name == "admin" else name) for name in PERSONAS[:-1]}
    # The world takes complaints in: the SLA presets must be there even after a
    # transactional (browser) test's flush emptied the migrations' seed data.
    request.getfixturevalue("sla_presets")
    # And beat's default schedules (jobs 0001, 0002), which the flush empties too.
    import importlib

    from django.apps import apps as django_apps
    from django_celery_beat.models import PeriodicTask

    if not PeriodicTask.objects.exists():
        for migration in ("0001_default_schedules", "0002_audit_checkpoint_schedule"):
            importlib.import_module(f"jobs.migrations.{migration}").seed(django_apps, None)
    return {**named, "anonymous": None}


def build_world(people: dict) -> dict:
    """One of each thing a URL can point at, in branch A, made through the services:
    a transfer request with a consent, a withdrawal request, the incident complaint
    with a flag, a block, a restoration request, an offer and a regulator case, and a
    disciplinary case."""
    from complaints import services as cs
    from numbers import services as ns
    from numbers.choices import ConsentParty, NumberStatus, WithdrawalGround
    from review import services as audit_services
    from review.tests.incident import incident
    from staff.personas import ensure_branches
    from tests.factories import (
        SubscriberFactory,
        consent_in_person,
        number_in_state,
        transfer_request,
    )

    agent, supervisor, handler = people["agent_a"], people["supervisor_a"], people["handler_a"]
    agent_b = _agent_b()
    branch = ensure_branches()["branch-a"]
    transfer = transfer_request(actor=agent, branch=branch)
    consent = consent_in_person(transfer, ConsentParty.NEW_SUBSCRIBER, actor=agent)
    from django.core.files.uploadedfile import SimpleUploadedFile

    withdrawal = ns.withdrawal_request(
        number=number_in_state(NumberStatus.ACTIVE, actor=agent, branch=branch),
        ground=WithdrawalGround.LEGAL_ORDER,
        document=SimpleUploadedFile("order.pdf", b"%PDF-1.4 order", content_type="application/pdf"),
        actor=supervisor,
        reason="court order",
    )
    holder = SubscriberFactory()
    number = number_in_state(NumberStatus.ACTIVE, actor=agent, branch=branch, subscriber=holder)
    _request, complaint, flag = incident(
        agent=agent_b,
        supervisor=supervisor,
        handler=handler,
        holder=holder,
        number=number,
        newcomer=SubscriberFactory(),
    )
    number.refresh_from_db()
    block = cs.complaint_block_number(complaint=complaint, number=number, actor=handler, reason="fraud suspected")
    restoration = cs.restoration_request(
        complaint=complaint, number=number, to_subscriber=holder, actor=handler, reason="give it back"
    )
    offer = cs.offer_propose(
        complaint=complaint, kind="bill_credit", amount=Decimal("10"), currency="USD", actor=handler, reason="sorry"
    )
    from django.utils import timezone

    regulator_case = cs.regulator_case_record(
        complaint=complaint,
        regulator="TRC",
        case_number="TRC-1",
        notified_on=timezone.localdate(),
        actor=handler,
        reason="regulator wrote",
    )
    case = audit_services.case_open(
        employee=agent_b, summary="the incident", actor=people["auditor"], reason="flagged", flags=[flag]
    )
    return {
        "transfer": transfer,
        "consent": consent,
        "withdrawal": withdrawal,
        "complaint": complaint,
        "flag": flag,
        "block": block,
        "restoration": restoration,
        "offer": offer,
        "regulator_case": regulator_case,
        "case": case,
        "employee": agent_b,
        "number": number,
        "holder": holder,
    }


def _agent_b():
    from staff.personas import ensure_persona

    return ensure_persona("agent_b")


def classify(response, path: str = "") -> str:
    """A response as the matrix speaks of it: ok (200, or a redirect that is not the
    sign-in page), login (to the sign-in page), missing (an admin page sending back to
    the admin's index), 403, 404, 405 (wrong method) or 5xx."""
    code = response.status_code
    if code >= 500:
        return "5xx"
    if code in (301, 302, 303):
        location = response.headers.get("Location", "")
        if "login" in location:
            return "login"
        # The admin sends a record the user may not see (or that does not exist) to its index.
        return "missing" if path.startswith("/admin/") and location == "/admin/" else "ok"
    if code == 200:
        return "ok"
    return str(code)


# --- Kwargs: each URL keyword and what it points at in the world ------------------------

# The "pk" of a URL is the object its screen is about, found by the URL name's start.
PK_OF = {
    "numbers:transfer_": "transfer",
    "numbers:approval_": "transfer",
    "numbers:withdrawal_": "withdrawal",
    "complaints:": "complaint",
    "complaints:employee_flag": "complaint",
    "complaints:restoration_": "complaint",
    "complaints:offer_": "complaint",
    "complaints:regulator_": "complaint",
    "audit:case-": "case",
}
KWARG_OF = {
    "consent_id": "consent",
    "block_id": "block",
    "restoration_id": "restoration",
    "offer_id": "offer",
    "case_id": "regulator_case",
    "flag_id": "flag",
    "user_id": "employee",
}


def kwargs_for(url: Url, world: dict) -> dict | None:
    """The URL's keywords filled from the world; None when one has no known meaning
    (the matrix then fails, naming the URL and the keyword)."""
    values = {}
    for name in url.kwarg_names:
        if url.name == "audit:object" and name in ("label", "pk"):
            values.update({"label": "numbers.mobilenumber", "pk": world["number"].pk})
        elif name == "pk" and url.name:
            owner = next(
                (
                    world[v]
                    for prefix, v in sorted(PK_OF.items(), key=lambda i: -len(i[0]))
                    if url.name.startswith(prefix)
                ),
                None,
            )
            if owner is None:
                return None
            values[name] = owner.pk
        elif name in KWARG_OF:
            values[name] = world[KWARG_OF[name]].pk
        elif url.admin_model is not None and name in ("object_id", "version_id", "id", "arg0", "arg1"):
            found = _admin_object(url.admin_model.model, world)
            values[name] = found["version_id" if name in ("version_id", "arg1") else "object_id"]
        elif url.name == "audit:request" and name == "request_id":
            values[name] = world["transfer"].history.earliest("history_date").history_request_id
        elif url.name == "admin:app_list" and name == "app_label":
            values[name] = "numbers"
        elif url.name == "admin:view_on_site":
            from django.contrib.contenttypes.models import ContentType

            values.update(
                {
                    "content_type_id": ContentType.objects.get_for_model(world["complaint"]).pk,
                    "object_id": world["complaint"].pk,
                }
            )
        elif url.key.endswith("(?P<url>.*)$"):
            values[name] = "no/such/page/"
        else:
            return None
    return values


SEEDED_BY_MIGRATIONS = {"complaints.workingcalendar", "complaints.slatable", "complaints.slarule", "complaints.holiday"}


def _admin_object(model, world) -> dict:
    """The newest row of an admin's model (its oldest history version), or an id of none."""
    obj = model._base_manager.order_by("-pk").first()
    if obj is None:
        return {"object_id": 999_999_999, "version_id": 999_999_999}
    history = getattr(model, "history", None)
    if model._meta.label_lower in SEEDED_BY_MIGRATIONS:
        # Migrations write these rows without history, a transactional test's flush and
        # the SLA fixture re-seed them with it: the world takes no version of either.
        history = None
    version = history.filter(**{model._meta.pk.attname: obj.pk}).order_by("history_id").first() if history else None
    return {"object_id": obj.pk, "version_id": version.history_id if version else 999_999_999}


def path_for(url: Url, kwargs: dict) -> str:
    from django.urls import reverse

    if url.name and any(name.startswith("arg") for name in kwargs):
        return reverse(url.name, args=[kwargs[name] for name in sorted(kwargs)])
    if url.name:
        return reverse(url.name, kwargs=kwargs)
    path = "/" + url.route
    for name, value in kwargs.items():
        path = path.replace(f"(?P<{name}>.*)", str(value))
    return path.replace("^", "").replace("$", "")
