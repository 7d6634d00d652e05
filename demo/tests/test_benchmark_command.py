"""The benchmark measures real pages and leaves nothing behind (its numbers are read
by people, so it is tested like any other command; its timings are not asserted)."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from numbers.models import Holding, MobileNumber, Subscriber, TransferConsent, TransferRequest

pytestmark = pytest.mark.django_db


def test_benchmark_reports_every_page_and_rolls_back(monkeypatch):
    # Django's own force_login, not the suite's shortcut past the second factor
    # (conftest.py): the command must sign in as staff really do.
    monkeypatch.delattr(Client, "force_login")
    out = StringIO()
    call_command("benchmark_admin", numbers=40, subscribers=5, repeat=1, stdout=out)
    report = out.getvalue()
    assert "x stock" in report.splitlines()[2]  # each page as a ratio to the stock changelist
    assert "stock admin numbers list (baseline)" in report
    for page in (
        "numbers list",
        "MSISDN search, prefix",
        "number page",
        "sell form",
        "holdings list",
        "transfer requests screen",
        "approval queue",
        "approval page",
    ):
        assert page in report
    assert not MobileNumber.objects.exists()
    assert not Subscriber.objects.exists()
    assert not Holding.objects.exists()
    assert not TransferRequest.objects.exists() and not TransferConsent.objects.exists()
    assert not get_user_model().objects.filter(username__startswith="bench-").exists()


def test_benchmark_refuses_a_meaningless_size():
    with pytest.raises(CommandError, match="at least 10 numbers"):
        call_command("benchmark_admin", numbers=3, subscribers=1, stdout=StringIO())
