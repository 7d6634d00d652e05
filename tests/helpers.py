"""Helpers shared by the transfer tests: refusals that change nothing, SMS sent
after commit, a second supervisor, and moving service-written rows in time.

One time-travel library: time-machine. A test that needs another "now" travels,
``with time_machine.travel(moment, tick=False):`` for a frozen clock, and never
patches ``timezone.now`` (a patch misses ``time.time()``, ``datetime.now()`` and
whoever imported ``now`` by name). A service that takes ``now=`` is simply given it;
``back_date`` moves rows a service already wrote.
"""

from __future__ import annotations

import importlib
import re
import threading
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from backoffice.delivery import PENDING_STATUSES
from numbers.choices import ConsentMethod, ConsentParty
from numbers.models import (
    ConsentCode,
    Holding,
    MobileNumber,
    TransferConsent,
    TransferLock,
    TransferRequest,
    service_write_scope,
)
from sms.backends.devphone import received
from sms.choices import SmsPurpose
from sms.models import SmsMessage
from sms.services import sms_deliver
from tests.snapshots import number_snapshot
from tests.writes import surviving_writes


def refused(exc_type, action, *, kept=()):
    """Run ``action``, return the exception it must raise, and fail if a write outlived it.

    ``tests.writes`` watches the action's SQL and fails the call, naming the
    statement, when a write survives the refusal: one a refused service made outside
    its own transaction. The refusal's own record (audit.refusals) is no such write,
    nor are writes to the models in ``kept``: a counted wrong try, which must commit
    although the call fails.

    What the action left also stays in the test's transaction for the "nothing
    changed" checks that follow: its savepoint is released after the refusal, not
    rolled back. It is rolled back only when the refusal doomed the transaction,
    so that the test can go on: a database error (PostgreSQL aborts the whole
    transaction after a failed statement) or Django's mark for rollback (an
    exception inside ``atomic(savepoint=False)``, as a guard raising in a related
    manager's ``add()`` does). The watch is inside the savepoint, so a write before
    the failing statement still counts (an action that stands for one refused
    transaction opens it itself).
    """
    with pytest.raises(exc_type) as exc, _kept_unless_doomed(), surviving_writes(kept=kept) as writes:
        action()
    assert not writes.surviving, "a write outlived the refusal:\n" + "\n".join(map(str, writes.surviving))
    return exc.value


@contextmanager
def _kept_unless_doomed():
    """A savepoint released even when the block raises, unless the raise doomed the transaction."""
    if not connection.in_atomic_block:  # a transactional test: nothing to keep or undo
        yield
        return
    sid = connection.savepoint()
    try:
        yield
    except BaseException as error:
        if connection.needs_rollback or _from_database(error):
            _undo(sid)
        else:
            try:
                connection.savepoint_commit(sid)
            except DatabaseError:  # a database error turned into a refusal left the transaction aborted
                _undo(sid)
        raise
    connection.savepoint_commit(sid)


def _undo(sid) -> None:
    connection.needs_rollback = False
    connection.savepoint_rollback(sid)


def _from_database(error: BaseException | None) -> bool:
    while error is not None:
        if isinstance(error, DatabaseError):
            return True
        error = error.__cause__ or error.__context__
    return False


def transfer_snapshot(number: MobileNumber) -> dict:
    """Everything a transfer service could change for ``number``, read fresh."""
    request_ids = list(TransferRequest.objects.filter(number=number).values_list("pk", flat=True))
    return {
        "number": number_snapshot(number),
        "requests": list(TransferRequest.objects.filter(number=number).order_by("pk").values()),
        "request_history": TransferRequest.history.filter(number_id=number.pk).count(),
        "consents": list(TransferConsent.objects.filter(request_id__in=request_ids).order_by("pk").values()),
        "consent_history": TransferConsent.history.filter(request_id__in=request_ids).count(),
        "codes": list(ConsentCode.objects.filter(request_id__in=request_ids).order_by("pk").values()),
        "locks": list(TransferLock.objects.filter(number=number).order_by("pk").values()),
        "lock_history": TransferLock.history.filter(number_id=number.pk).count(),
        "sms": list(SmsMessage.objects.order_by("pk").values_list("pk", flat=True)),
    }


def refused_quietly(capture, exc_type, action, *, kept=()):
    """``refused``, and nothing was queued to be sent after commit (no SMS about
    something that did not happen)."""
    with capture(execute=True) as callbacks:
        error = refused(exc_type, action, kept=kept)
    assert callbacks == []
    return error


def with_sms(capture, action):
    """Run ``action``, then its on-commit callbacks; return its result and the SMS it sent."""
    seen = list(SmsMessage.objects.values_list("pk", flat=True))
    with capture(execute=True):
        result = action()
    return result, list(SmsMessage.objects.exclude(pk__in=seen).order_by("pk"))


def code_sent_to(msisdn: str) -> str:
    """The last one-time code the handset of ``msisdn`` received, read from its text
    as the holder reads it (the outbox keeps it masked). Needs the ``handset``
    fixture. Messages still waiting (a test's transaction never commits) are first
    delivered, as the worker would."""
    assert settings.SMS_BACKEND == "sms.backends.devphone.DevPhoneBackend", "use the handset fixture"
    for pk in (
        SmsMessage.objects.filter(to_msisdn=msisdn, status__in=PENDING_STATUSES)
        .order_by("pk")
        .values_list("pk", flat=True)
    ):
        sms_deliver(message_id=pk)
    texts = [sms["text"] for sms in received(msisdn) if sms["purpose"] == SmsPurpose.CONSENT_CODE]
    assert texts, f"no code reached {msisdn}"
    return re.search(r"\b(\d{6})\b", texts[-1]).group(1)


def back_date(model, pk: int, **fields) -> None:
    """Test setup: move a service-written row back in time (the services take now)."""
    with service_write_scope():
        assert model.objects.filter(pk=pk).update(**fields) == 1


RACE_TIMEOUT = 60  # seconds; a deadlock fails the test instead of hanging it


def race(*calls):
    """Run each call in its own thread, released together by a barrier; return what
    each returned or raised, in the order given (for the PostgreSQL race tests)."""
    barrier = threading.Barrier(len(calls), timeout=RACE_TIMEOUT)
    outcomes: list = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait()
            outcomes[index] = call()
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RACE_TIMEOUT)
    assert not any(thread.is_alive() for thread in threads), "a racer did not finish"
    return outcomes


def quarantine_over(number: MobileNumber) -> None:
    """Test setup: the number's last holding ended a full quarantine ago (the
    services and a database trigger count the quarantine from that end).

    A holding's start and end are written once (numbers migration 0016), so the
    setup moves them back as a DBA would, with that one trigger out of the way
    for the statement, and puts it back."""
    holding = Holding.objects.filter(number=number, ended_at__isnull=False).order_by("-ended_at").first()
    ended = timezone.now() - timedelta(days=settings.NUMBER_LIFECYCLE["QUARANTINE_DAYS"] + 1)
    with ledger_rewrite_allowed():
        back_date(Holding, holding.pk, started_at=min(holding.started_at, ended - timedelta(days=1)), ended_at=ended)


@contextmanager
def ledger_rewrite_allowed():
    """Test setup only: a holding's start and end may be moved for one block."""
    ledger = importlib.import_module("numbers.migrations.0016_evidence_holding_ledger")
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
            yield
            cursor.execute("SET LOCAL session_replication_role = origin")
            return
        cursor.execute("DROP TRIGGER numbers_holding_fixed")
        yield
        (create,) = [sql for sql in ledger.SQLITE_FORWARD if "numbers_holding_fixed" in sql]
        cursor.execute(create)


def holder_code_consent_row(request: TransferRequest, *, by, at) -> TransferConsent:
    """The holder's consent by the code to the number, written as raw rows (for the
    database tests that build an executed request by hand: the ledger's holder-factor
    trigger asks for it)."""
    with service_write_scope():
        code = ConsentCode.objects.create(
            request=request,
            sent_to=request.number.msisdn,
            code_hash="x$y",
            sent_by=by,
            expires_at=at + timedelta(minutes=10),
        )
        return TransferConsent.objects.create(
            request=request,
            party=ConsentParty.CURRENT_HOLDER,
            subscriber=request.from_holder,
            method=ConsentMethod.SMS_CODE,
            code=code,
            captured_by=by,
            captured_at=at,
            lapses_at=at + timedelta(days=1),
        )


def chain_lock_queries() -> int:
    """The extra query a chained write makes on PostgreSQL: the advisory lock that
    orders the audit chain (audit.locking); SQLite's writes are serial anyway."""
    return 1 if connection.vendor == "postgresql" else 0
