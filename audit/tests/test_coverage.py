"""Every model of the portal keeps history on the chain, and so do the records of
authority (group membership, employee branches and status, object permissions),
each change with who and why. No write path skips history: the code makes no bulk
update or bulk insert on a tracked model outside simple-history's *_with_history
helpers (a source scan, with the exceptions named), and those helpers chain and stamp."""

from __future__ import annotations

import ast
from pathlib import Path

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from simple_history.models import registered_models
from simple_history.utils import bulk_create_with_history

from audit.chain import ChainedRecord, chained_models, verify_table
from audit.context import audited_transaction
from audit.models import AccessEvent, RefusedAttempt
from complaints import services as cs
from complaints.choices import Channel, ComplaintCategory, Severity
from complaints.models import ComplaintUserObjectPermission
from numbers.choices import IdentityDocumentType
from numbers.identity import identity_fields
from numbers.models import BranchUserObjectPermission, Subscriber
from staff.choices import EmploymentStatus, Role
from staff.models import Employee
from staff.roles import ROLE_BRANCH_PERMS
from staff.services import employee_set_branches, employee_set_roles, employee_set_status
from tests.helpers import refused

ROOT = Path(__file__).resolve().parents[2]
LOCAL_APPS = ("numbers", "complaints", "staff", "sms", "audit")
User = get_user_model()
NATIONAL_ID = IdentityDocumentType.NATIONAL_ID

# Concrete models that keep no simple-history, and why. Everything else must.
UNTRACKED = {
    # The chain's own anchor: the newest hash of each table, rewritten on every record
    # (its history would be a chain of its own). verify_audit checks it against the tables.
    "audit.ChainHead",
}


def has_history(model) -> bool:
    return model in registered_models.values() or hasattr(model._meta, "simple_history_manager_attribute")


def historical_models() -> list:
    """Every history model simple-history made here, m2m history included."""
    return [m for m in apps.get_models() if m._meta.model_name.startswith("historical")]


# --- Every model --------------------------------------------------------------------------


def test_every_model_of_the_portal_has_history_or_is_an_audit_record():
    models = [m for m in apps.get_models() if m._meta.app_label in LOCAL_APPS] + [User, Group]
    missing = [
        m._meta.label
        for m in models
        if not issubclass(m, ChainedRecord) and not has_history(m) and m._meta.label not in UNTRACKED
    ]
    assert missing == []
    # The allowlist names real, untracked models: a stale entry fails here.
    for label in UNTRACKED:
        assert not has_history(apps.get_model(label))


def test_the_check_would_catch_a_model_without_history():
    assert not has_history(apps.get_model("auth", "Permission"))
    assert has_history(User) and has_history(Group) and has_history(BranchUserObjectPermission)


def test_every_history_model_is_on_the_chain():
    history = historical_models()
    assert {m._meta.label for m in history} >= {
        "audit.HistoricalUser",
        "audit.HistoricalUser_groups",
        "audit.HistoricalUser_user_permissions",
        "audit.HistoricalGroup_permissions",
        "staff.HistoricalEmployee_branches",
        "numbers.HistoricalBranchUserObjectPermission",
        "complaints.HistoricalComplaintUserObjectPermission",
    }
    assert [m._meta.label for m in history if not issubclass(m, ChainedRecord)] == []
    for tracked in registered_models.values():
        name = getattr(tracked._meta, "simple_history_manager_attribute", None)
        if name:
            assert issubclass(getattr(tracked, name).model, ChainedRecord), tracked._meta.label
    # Chained means history plus the access log, nothing left out.
    assert set(chained_models()) == set(history) | {AccessEvent, RefusedAttempt}


# --- The records of authority ----------------------------------------------------------


def user_history(user):
    return User.history.filter(id=user.pk).order_by("history_id")


def test_a_role_change_records_the_group_membership_with_who_and_why(admin_user, agent_a):
    mark = user_history(agent_a).last()
    assert [row.group.name for row in mark.groups.all()] == [Role.AGENT]
    employee_set_roles(employee=agent_a.employee, roles=[Role.SUPERVISOR], actor=admin_user, reason="Promoted")
    records = list(user_history(agent_a).filter(history_id__gt=mark.pk))
    assert records
    for record in records:
        assert (record.history_user, record.actor_label, record.history_change_reason) == (
            admin_user,
            "admin",
            "Promoted",
        )
    assert [row.group.name for row in records[-1].groups.all()] == [Role.SUPERVISOR]


def test_a_refused_role_change_records_nothing(agent_b, agent_a):
    before = user_history(agent_a).count(), Employee.history.count()
    refused(
        PermissionDenied,
        lambda: employee_set_roles(employee=agent_a.employee, roles=[Role.SUPERVISOR], actor=agent_b, reason="x"),
    )
    assert (user_history(agent_a).count(), Employee.history.count()) == before


def grant_history(user, **filters):
    return BranchUserObjectPermission.history.filter(user=user, **filters).order_by("history_id")


def live_grants(user) -> set[tuple[str, int]]:
    return set(
        BranchUserObjectPermission.objects.filter(user=user).values_list("permission__codename", "content_object_id")
    )


def granted_in_history(user) -> set[tuple[str, int]]:
    """The grants history says are in force: the last record of each grant is not a removal."""
    last = {}
    for row in grant_history(user).select_related("permission"):
        last[(row.permission.codename, row.content_object_id)] = row.history_type
    return {key for key, kind in last.items() if kind != "-"}


def test_every_branch_grant_in_force_has_its_history(agent_a, supervisor_a, handler_a, branch_a):
    """Made by employee_create for the personas: each grant was recorded as it was made."""
    for user in (agent_a, supervisor_a, handler_a):
        assert live_grants(user)
        assert granted_in_history(user) == live_grants(user), user.username


def test_a_branch_change_records_branches_and_each_grant_with_who_and_why(admin_user, agent_a, branch_a, branch_b):
    employee = agent_a.employee
    mark = BranchUserObjectPermission.history.order_by("-history_id").values_list("pk", flat=True).first() or 0
    employee_set_branches(employee=employee, branches=[branch_b], actor=admin_user, reason="Moved to Siem Reap")

    record = Employee.history.filter(id=employee.pk).latest("history_id")
    assert (record.history_user, record.history_change_reason) == (admin_user, "Moved to Siem Reap")
    assert [row.branch for row in record.branches.all()] == [branch_b]

    changes = list(grant_history(agent_a, history_id__gt=mark).select_related("permission"))
    removed = {(r.permission.codename, r.content_object_id) for r in changes if r.history_type == "-"}
    added = {(r.permission.codename, r.content_object_id) for r in changes if r.history_type == "+"}
    perms = set(ROLE_BRANCH_PERMS[Role.AGENT])
    assert removed == {(perm, branch_a.pk) for perm in perms}
    assert added == {(perm, branch_b.pk) for perm in perms}
    for row in changes:
        assert (row.history_user, row.actor_label, row.history_change_reason) == (
            admin_user,
            "admin",
            "Moved to Siem Reap",
        )
    assert granted_in_history(agent_a) == live_grants(agent_a)
    assert len({row.history_request_id for row in changes} | {record.history_request_id}) == 1


def test_a_status_change_records_the_status_and_the_grants_taken(admin_user, agent_a, branch_a):
    employee_set_status(
        employee=agent_a.employee, status=EmploymentStatus.SUSPENDED, actor=admin_user, reason="Parental leave"
    )
    record = Employee.history.filter(id=agent_a.employee.pk).latest("history_id")
    assert (record.employment_status, record.history_user, record.history_change_reason) == (
        EmploymentStatus.SUSPENDED,
        admin_user,
        "Parental leave",
    )
    assert live_grants(agent_a) == set()
    removals = grant_history(agent_a, history_type="-")
    assert removals.exists()
    assert set(removals.values_list("history_change_reason", flat=True)) == {"Parental leave"}
    assert granted_in_history(agent_a) == set()


def test_a_refused_status_change_records_nothing(admin_user):
    before = Employee.history.count(), BranchUserObjectPermission.history.count()
    refused(
        PermissionDenied,
        lambda: employee_set_status(
            employee=admin_user.employee, status=EmploymentStatus.SUSPENDED, actor=admin_user, reason="Myself"
        ),
    )
    assert (Employee.history.count(), BranchUserObjectPermission.history.count()) == before


def test_complaint_grants_and_removals_are_recorded_with_who_and_why(
    admin_user, supervisor_a, handler_a, branch_a, holder
):
    from complaints.tests.casework import make_handler

    other = make_handler("handler_x", branch=branch_a, admin=admin_user)
    complaint = cs.complaint_create(
        complainant=holder,
        category=ComplaintCategory.BILLING,
        severity=Severity.MEDIUM,
        channel=Channel.PHONE,
        description="Charged twice",
        actor=handler_a,
        branch=branch_a,
    )
    History = ComplaintUserObjectPermission.history
    taken = History.get(content_object_id=complaint.pk, user=handler_a, history_type="+")
    assert (taken.history_user, taken.actor_label) == (handler_a, "handler_a")

    cs.complaint_assign(complaint=complaint, assignee=other, actor=supervisor_a, reason="Workload")
    removed = History.get(content_object_id=complaint.pk, user=handler_a, history_type="-")
    given = History.get(content_object_id=complaint.pk, user=other, history_type="+")
    for row in (removed, given):
        assert (row.history_user, row.history_change_reason) == (supervisor_a, "Workload")
    assert removed.history_request_id == given.history_request_id

    before = History.count()
    refused(
        ValidationError,
        lambda: cs.complaint_assign(complaint=complaint, assignee=other, actor=supervisor_a, reason="Again"),
    )
    assert History.count() == before


# --- No bulk write skips history --------------------------------------------------------

BULK_WRITES = {"update", "bulk_create", "bulk_update", "update_change_reason"}
QUERYSET_MARKERS = (
    "objects",
    ".filter(",
    ".exclude(",
    ".all(",
    "_set",
    ".history",
    "_base_manager",
    "_default_manager",
    ".select_for_update(",
)
# (file, receiver as written) -> why it may bulk-write.
BULK_ALLOWED = {
    ("demo/management/commands/benchmark_admin.py", "*"): "builds synthetic benchmark data in a throwaway "
    "database; its rows are measured, not evidence",
    ("jobs/management/commands/benchmark_lifecycle.py", "*"): "the same, for the lifecycle job's benchmark "
    "(everything it writes is rolled back)",
    ("audit/signals.py", "AccessEvent.objects"): "the access log is no history-tracked model: a page's views of "
    "several subscribers go on its chain in one insert (ChainedQuerySet.bulk_create seals them)",
    ("audit/chain.py", "head_model.objects"): "audit.ChainHead is the chain's untracked anchor (upsert of the head)",
    ("audit/migration_ops.py", "model._base_manager.filter(pk=record.pk)"): "a migration sealing the history rows "
    "written before the chain existed, before the append-only triggers are installed",
    ("audit/migration_ops.py", "model._base_manager"): "the keyed-chain migration re-links history rows in batches "
    "(their content is unchanged: only the links), after verifying the old chain",
    ("audit/migration_ops.py", "head_model.objects.filter(table=table)"): "the same migration moves each chain's "
    "untracked head to the re-linked last hash",
    ("staff/twofactor.py", "StaticToken.objects"): "django-otp's backup codes are not history-tracked (a secret "
    "is never copied into history); a reset is recorded with both employees",
}


def bulk_writes(source: str) -> list[tuple[int, str, str]]:
    """(line, receiver, method) for each bulk update/insert on something that looks like a queryset."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "update_change_reason":
            found.append((node.lineno, "", func.id))  # simple-history's helper: a queryset update
        elif isinstance(func, ast.Attribute) and func.attr in BULK_WRITES:
            receiver = ast.unparse(func.value)
            if any(marker in receiver for marker in QUERYSET_MARKERS):
                found.append((node.lineno, receiver, func.attr))
    return found


def project_sources():
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        parts = relative.parts
        if parts[0].startswith(".") or parts[0] in {"tests", "node_modules", "static"}:
            continue
        if "migrations" in parts or "tests" in parts or path.name.startswith("test_") or path.name == "conftest.py":
            continue
        yield relative.as_posix(), path.read_text()


def test_the_scanner_flags_a_bulk_update_and_leaves_dicts_alone():
    flagged = bulk_writes("Number.objects.filter(a=1).update(b=2)\nsettings.update(x)\nthe_dict.update(y=1)\n")
    assert flagged == [(1, "Number.objects.filter(a=1)", "update")]
    assert bulk_writes("Holding.objects.bulk_create(rows)")[0][2] == "bulk_create"
    assert bulk_writes("number.history.update(reason='x')")[0][1] == "number.history"
    assert bulk_writes("qs = x.all()\nuser.groups_set.bulk_update(a, ['b'])")[0][2] == "bulk_update"
    assert bulk_writes("update_change_reason(obj, 'why')")[0][2] == "update_change_reason"
    assert bulk_writes("bulk_create_with_history(objs, Model)") == []


def test_no_code_bulk_writes_a_tracked_model_outside_the_history_helpers():
    sources = list(project_sources())
    assert any(name == "staff/services.py" for name, _ in sources)  # the scan sees the code
    offenders, used = [], set()
    for name, source in sources:
        for line, receiver, method in bulk_writes(source):
            key = next((k for k in ((name, receiver), (name, "*")) if k in BULK_ALLOWED), None)
            if key is None:
                offenders.append(f"{name}:{line}: {receiver}.{method}()")
            else:
                used.add(key)
    assert offenders == []
    assert used == set(BULK_ALLOWED)  # no stale exceptions


def test_bulk_create_with_history_chains_and_stamps_its_records(admin_user):
    before = Subscriber.history.count()
    with audited_transaction(actor=admin_user, reason="Imported from the old CRM"):
        created = bulk_create_with_history(
            [
                Subscriber(full_name=f"Imported {i}", id_document_type=NATIONAL_ID, **identity_fields(f"IMP{i:05d}"))
                for i in range(3)
            ],
            Subscriber,
        )
    records = list(Subscriber.history.order_by("history_id")[before:])
    assert len(records) == len(created) == 3
    assert {r.history_type for r in records} == {"+"}
    assert {(r.history_user, r.actor_label, r.history_change_reason) for r in records} == {
        (admin_user, "admin", "Imported from the old CRM")
    }
    assert len({r.history_request_id for r in records}) == 1
    for before_it, record in zip(records, records[1:], strict=False):
        assert record.prev_hash == before_it.record_hash
    assert verify_table(Subscriber.history.model)[1] is None


def test_a_plain_bulk_create_would_leave_no_history(admin_user):
    """Why the scan exists: the same insert without the helper records nothing."""
    before = Subscriber.history.count()
    Subscriber.objects.bulk_create(
        [Subscriber(full_name="Unrecorded", id_document_type=NATIONAL_ID, **identity_fields("NOHIST01"))]
    )
    assert Subscriber.objects.filter(full_name="Unrecorded").exists()
    assert Subscriber.history.count() == before
