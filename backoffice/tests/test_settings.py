"""Production settings: with DEBUG off the portal refuses to start on a missing, public,
short or shared key, whatever DJANGO_PRODUCTION says, and `check --deploy` is clean with
proper keys. Run as an operator would: `manage.py check` in a process of its own."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from backoffice.settings import DEV_KEYS, proxy_ssl_header

ROOT = Path(__file__).resolve().parent.parent.parent

PRODUCTION_KEYS = {
    "DJANGO_SECRET_KEY": "prod-secret-9f8e7d6c5b4a39281706f5e4d3c2b1a0-abcdefghijklmnop",
    "IDENTITY_HASH_KEY": "prod-identity-hash-0123456789abcdef0123",
    "IDENTITY_ENCRYPTION_KEY": "cHJvZHVjdGlvbi1pZGVudGl0eS1zZWFsaW5nLWtleSE=",
    "SMS_SEAL_KEY": "prod-sms-seal-0123456789abcdef01234567",
    "AUDIT_CHAIN_KEY": "prod-audit-chain-0123456789abcdef012345",
}


def manage_check(*args: str, **overrides: str | None) -> subprocess.CompletedProcess:
    """``manage.py check`` on backoffice.settings with production keys, DEBUG off and
    the test suite's own variables (keys, settings module, database) left out."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DJANGO_") and name not in DEV_KEYS and name not in {"DATABASE_URL", "CELERY_BROKER_URL"}
    }
    env |= {"DJANGO_SETTINGS_MODULE": "backoffice.settings", "DJANGO_ALLOWED_HOSTS": "portal.example.org"}
    env |= PRODUCTION_KEYS
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_keys_start_and_check_deploy_is_clean():
    result = manage_check("--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DJANGO_SECRET_KEY", None, "DJANGO_SECRET_KEY is not set"),
        ("DJANGO_SECRET_KEY", DEV_KEYS["DJANGO_SECRET_KEY"], "DJANGO_SECRET_KEY is a public development key"),
        ("IDENTITY_HASH_KEY", DEV_KEYS["IDENTITY_HASH_KEY"], "IDENTITY_HASH_KEY is a public development key"),
        (
            "IDENTITY_ENCRYPTION_KEY",
            f"{PRODUCTION_KEYS['IDENTITY_ENCRYPTION_KEY']},{DEV_KEYS['IDENTITY_ENCRYPTION_KEY']}",
            "IDENTITY_ENCRYPTION_KEY is a public development key",
        ),
        ("SMS_SEAL_KEY", "", "SMS_SEAL_KEY is not set"),
        ("SMS_SEAL_KEY", PRODUCTION_KEYS["IDENTITY_HASH_KEY"], "SMS_SEAL_KEY is the same as IDENTITY_HASH_KEY"),
        ("AUDIT_CHAIN_KEY", None, "AUDIT_CHAIN_KEY is not set"),
        ("AUDIT_CHAIN_KEY", PRODUCTION_KEYS["DJANGO_SECRET_KEY"], "AUDIT_CHAIN_KEY is the same as DJANGO_SECRET_KEY"),
        ("AUDIT_CHAIN_KEY", "short-but-not-a-dev-key", "AUDIT_CHAIN_KEY is shorter than 32 characters"),
        ("DJANGO_SECRET_KEY", "x" * 49, "DJANGO_SECRET_KEY is shorter than 50 characters"),
    ],
)
def test_without_debug_the_portal_refuses_to_start_on_a_bad_key(name, value, message):
    """DJANGO_PRODUCTION=0 (or unset) used to let it start on the public keys."""
    result = manage_check(**{name: value, "DJANGO_PRODUCTION": "0"})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: {message}" in result.stderr


def test_a_development_machine_starts_on_the_public_keys():
    result = manage_check(DJANGO_DEBUG="1", **dict.fromkeys(DEV_KEYS))
    assert result.returncode == 0, result.stderr


def test_the_proxy_header_is_read_from_one_variable():
    assert proxy_ssl_header("X-Forwarded-Proto: https") == ("HTTP_X_FORWARDED_PROTO", "https")
    assert proxy_ssl_header("") is None
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="Header-Name: value"):
        proxy_ssl_header("X-Forwarded-Proto")


def test_every_page_carries_the_policy_and_refuses_framing(client):
    response = client.get(reverse("admin:login"))
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "unsafe-inline" not in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
