"""Settings for the back-office portal.

Everything comes from the environment with safe defaults: with nothing set the
portal runs on SQLite with eager Celery (no services needed); ``DATABASE_URL``
and ``CELERY_BROKER_URL`` point it at PostgreSQL and Redis for real deployments.
"""

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# DEBUG on is a developer's machine; DEBUG off is production, whatever else is set:
# every key below must then come from the environment (see env_key). `make demo`
# turns DEBUG on; the tests run with it off, on throwaway keys (backoffice/settings_test.py).
DEBUG = env_bool("DJANGO_DEBUG", False)

# --- Keys ---------------------------------------------------------------------
# One key per purpose, each from its own variable, so that a leaked one opens one
# door. The development defaults are public: they serve DEBUG only.
DEV_KEYS = {
    "DJANGO_SECRET_KEY": "django-insecure-backoffice-dev-only-never-use-in-production",
    "IDENTITY_HASH_KEY": "identity-hash-dev-only-never-use-in-production",
    "IDENTITY_ENCRYPTION_KEY": "ZGV2LW9ubHktaWRlbnRpdHktc2VhbGluZy1rZXkhISE=",  # base64 of a 32-byte dev key
    "SMS_SEAL_KEY": "sms-seal-dev-only-never-use-in-production",
    "AUDIT_CHAIN_KEY": "audit-chain-dev-only-never-use-in-production",
}
_KEYS_IN_USE: dict[str, list[str]] = {}


def env_key(name: str, *, min_length: int = 32, rotating: bool = False) -> str:
    """A key from the environment. With DEBUG off the process refuses to start unless
    it is set, at least ``min_length`` characters, not a public development key and
    not another key's value; with DEBUG on a missing one is its development default.
    A ``rotating`` key is a comma-separated list (the first seals): each part is checked."""
    value = os.environ.get(name, "").strip()
    parts = [part.strip() for part in value.split(",")] if rotating else [value]
    if not value and DEBUG:
        value, parts = DEV_KEYS[name], [DEV_KEYS[name]]
    elif not DEBUG:
        fix = f"set {name} to a key of its own (DEBUG is off; on a development machine set DJANGO_DEBUG=1)"
        if not value:
            raise ImproperlyConfigured(f"{name} is not set: {fix}.")
        for part in parts:
            if part in DEV_KEYS.values():
                raise ImproperlyConfigured(f"{name} is a public development key: {fix}.")
            if len(part) < min_length:
                raise ImproperlyConfigured(f"{name} is shorter than {min_length} characters: {fix}.")
            for other, used in _KEYS_IN_USE.items():
                if part in used:
                    raise ImproperlyConfigured(f"{name} is the same as {other}: {fix}.")
    _KEYS_IN_USE[name] = parts
    return value


# Sessions, CSRF tokens and signing (Django's own): 50 characters, as check --deploy asks.
SECRET_KEY = env_key("DJANGO_SECRET_KEY", min_length=50)
# Identity documents (numbers/identity.py). Staff never read a document number:
# IDENTITY_HASH_KEY keys the HMAC that matches one (not SECRET_KEY, so a leaked
# SECRET_KEY does not let anyone test guesses against the hashes);
# IDENTITY_ENCRYPTION_KEY is the Fernet key (comma-separated for rotation: the first
# seals, all open) that seals the number for SIM-registration compliance, held outside
# the database and opened only by the four-eyes compliance export.
# Changing IDENTITY_HASH_KEY orphans every stored hash: re-hash from the sealed numbers.
IDENTITY_HASH_KEY = env_key("IDENTITY_HASH_KEY")
IDENTITY_ENCRYPTION_KEY = env_key("IDENTITY_ENCRYPTION_KEY", min_length=44, rotating=True)
# One-time codes are stored masked; the code waits for delivery sealed with this key
# (sms.sealing), kept out of the database.
SMS_SEAL_KEY = env_key("SMS_SEAL_KEY")
# The audit chain's HMAC key (audit.chain): someone holding only the database cannot
# re-hash rows they rewrote without it. Comma-separated for rotation: the first key
# writes, the older ones still verify the links they wrote.
AUDIT_CHAIN_KEY = env_key("AUDIT_CHAIN_KEY", rotating=True)

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    # Before simple_history: its history-cleaning commands are replaced by refusals.
    "audit",
    "simple_history",
    "pgtrigger",
    "guardian",
    "axes",
    # Second factor (staff.twofactor): TOTP devices and one-time backup codes.
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_celery_beat",
    "staff",
    "numbers",
    "sms",
    "complaints",
    "jobs",
    # The top floor: the audit review screens and the demo world (see .importlinter).
    "review",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header on every response.
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the second factor.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # One request id for every change a request makes (and the access log).
    "audit.middleware.RequestIdMiddleware",
    # A suspended or disabled account is signed out on its next request, whatever disabled it.
    "staff.middleware.SignOutSuspendedMiddleware",
    # A session idle too long, or open too long, is ended with a message saying why.
    "staff.middleware.SessionTimeoutMiddleware",
    # Writes the device cookie a sign-in issues (staff.devices: the lockout key).
    "staff.middleware.DeviceCookieMiddleware",
    # A privileged role reaches no screen until the session passed its second factor.
    "staff.middleware.SecondFactorRequiredMiddleware",
    # Nothing a signed-in employee saw is kept by a shared counter PC's browser.
    "backoffice.middleware.NoStoreForStaffMiddleware",
    # Last, as django-axes asks: it turns lockouts into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backoffice.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "backoffice.wsgi.application"

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "0")),
    )
}
# Never ATOMIC_REQUESTS: each service is its own transaction, and a wrong one-time
# code must stay counted although the request that typed it fails.
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A writer takes the database lock when its transaction begins, so the audit
    # chain gets one order (PostgreSQL uses an advisory lock: audit.context.chain_lock).
    DATABASES["default"].setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Short OLTP queries: compiling one with JIT costs more than it saves, and the
    # planner's guesses on fresh or small tables trigger it (seen: tests 5x slower).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
# The PostgreSQL role the portal connects as when migrations run as a separate owner
# role (docs/database-roles.md). Set it where `migrate` runs: afterwards the owner
# re-grants that role's privileges, so a table a migration adds is append-only for it
# at once. Empty (the default) touches no privileges: development and tests use one role.
DATABASE_APP_ROLE = os.environ.get("DATABASE_APP_ROLE", "")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Authentication -----------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    # django-axes first so a locked-out user is refused before any other check.
    "axes.backends.AxesStandaloneBackend",
    # Django's model backend, refusing a suspended employee as well as an inactive account.
    "staff.backends.WorkingEmployeeBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Object permissions are never granted to anonymous visitors, so guardian needs
# no anonymous user row.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "/admin/"

# django-axes: stop password guessing after repeated failures, without letting a
# colleague lock anyone out (staff.devices): a browser holding the user's device
# cookie (left by an earlier sign-in) counts its own failures; every other client
# shares one lockout per user name, from any address. The key is the user name
# (plus the device nonce), hence "username" alone here.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = float(os.environ.get("AXES_COOLOFF_HOURS", "1"))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_USERNAME_CALLABLE = "staff.devices.axes_username"
# axes.W006 warns that without the address a rotated cookie escapes the limit: here a
# client without a valid device cookie for the user (forged, or another user's) falls
# in the shared untrusted lockout, and a valid one is only had by signing in as that
# user. Adding the address back is what let a colleague on the NAT lock others out.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
# How long a device cookie stays valid after the sign-in that issued it: past it the
# browser is an untrusted client again until its next sign-in.
DEVICE_COOKIE_AGE_DAYS = int(os.environ.get("DEVICE_COOKIE_AGE_DAYS", "90"))

# Sessions (staff.sessions): a session unused this long is ended (a counter left
# open), and none lasts longer than the absolute limit, whatever its use.
SESSION_IDLE_TIMEOUT_MINUTES = float(os.environ.get("SESSION_IDLE_TIMEOUT_MINUTES", "30"))
SESSION_ABSOLUTE_TIMEOUT_HOURS = float(os.environ.get("SESSION_ABSOLUTE_TIMEOUT_HOURS", "12"))
# The session cookie and stored session die with the absolute limit too.
SESSION_COOKIE_AGE = int(SESSION_ABSOLUTE_TIMEOUT_HOURS * 3600)
# Approving, suspending and exporting ask for the password (or a code) again when
# it was last checked longer ago than this (staff.reauth).
REAUTH_MAX_AGE_MINUTES = float(os.environ.get("REAUTH_MAX_AGE_MINUTES", "5"))

# --- HTTPS and security headers -------------------------------------------------
# With DEBUG off the portal is served over HTTPS only (`check --deploy` is clean);
# each default can be turned down from the environment, e.g. for a plain-HTTP test
# server (backoffice/settings_test.py).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
# HSTS: browsers refuse plain HTTP to this host for a year. Roll out with a few
# minutes first: a browser that saw the header keeps it, whatever the site says next.
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
# Only asks to be preloaded: nothing is enrolled until the domain is submitted.
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", not DEBUG)


def proxy_ssl_header(value: str) -> tuple[str, str] | None:
    """ "X-Forwarded-Proto: https" -> ("HTTP_X_FORWARDED_PROTO", "https")."""
    if not value.strip():
        return None
    header, separator, expected = value.partition(":")
    if not (separator and header.strip() and expected.strip()):
        raise ImproperlyConfigured(f"DJANGO_SECURE_PROXY_SSL_HEADER is 'Header-Name: value', not {value!r}.")
    return "HTTP_" + header.strip().upper().replace("-", "_"), expected.strip()


# Behind a TLS-terminating proxy: the header it sets on HTTPS requests, as
# "X-Forwarded-Proto: https". None by default: trust it only from a proxy that
# always sets it, overwriting what a client sent.
SECURE_PROXY_SSL_HEADER = proxy_ssl_header(os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", ""))
# Session and CSRF cookies travel over HTTPS only, and JavaScript never reads the session's.
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)

# Second factor (staff.twofactor): the name an authenticator app shows next to the
# code, so staff can tell this portal's entry from others'.
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "Mobile operator back office")
# django-otp's own admin pages of devices are not registered (staff.admin), but if
# one ever is, it must not show a device's secret key.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
# No page of the portal is ever framed (the CSP's frame-ancestors says so too).
X_FRAME_OPTIONS = "DENY"
# Links out carry no path (URLs name numbers and subscribers); Django's default, said here.
SECURE_REFERRER_POLICY = "same-origin"

# Content-Security-Policy (django-csp): only the portal's own scripts, styles and
# images, no inline script or style anywhere (templates link static files), never
# framed, forms post only to the portal. QR codes may be data: images.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
        # Where browsers report violations (a URL of a report collector), if anywhere.
        "report-uri": env_list("CSP_REPORT_URI", "") or None,
    },
}

# --- Internationalisation -----------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "Asia/Phnom_Penh")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# collectstatic gathers every file here, for the web server in front to serve.
STATIC_ROOT = BASE_DIR / "static"
# What every screen shares (portal/portal.css); each app keeps its own under <app>/static/<app>/.
STATICFILES_DIRS = [BASE_DIR / "backoffice" / "static"]

# --- History ------------------------------------------------------------------
# The admin's "revert to this version" would rewrite the record behind the
# auditor's back: history is read, never replayed.
SIMPLE_HISTORY_REVERT_DISABLED = True
SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
# django-pgtrigger: the append-only triggers on the history tables travel in migrations.
PGTRIGGER_INSTALL_ON_MIGRATE = False

# --- Numbers ------------------------------------------------------------------
# Region used to read national-format input such as "012 345 678".
MSISDN_DEFAULT_REGION = os.environ.get("MSISDN_DEFAULT_REGION", "KH")
# Admin list pages never count past this many rows: a COUNT(*) over millions of
# numbers costs more than the page itself (see shared REFERENCE, "Measured here").
ADMIN_COUNT_CAP = int(os.environ.get("ADMIN_COUNT_CAP", "10000"))
# A choice list (an HTML select) never offers more than this many rows: a foreign key
# over a bigger table is asked for by id (raw id, autocomplete or a typed name) instead,
# since a select of every number or subscriber is a million options at scale.
SELECT_OPTIONS_BOUND = int(os.environ.get("SELECT_OPTIONS_BOUND", "50"))

# --- Transfers ------------------------------------------------------------------
# An open transfer request lapses after this many days (the expiry job closes it).
TRANSFER_REQUEST_EXPIRY_DAYS = int(os.environ.get("TRANSFER_REQUEST_EXPIRY_DAYS", "7"))
# A consent stands this long after it was given, and never beyond its request.
TRANSFER_CONSENT_VALID_HOURS = int(os.environ.get("TRANSFER_CONSENT_VALID_HOURS", "72"))
# One-time codes: minutes valid, wrong tries before the code locks, codes per request.
TRANSFER_CODE_TTL_MINUTES = int(os.environ.get("TRANSFER_CODE_TTL_MINUTES", "10"))
TRANSFER_CODE_MAX_ATTEMPTS = int(os.environ.get("TRANSFER_CODE_MAX_ATTEMPTS", "3"))
TRANSFER_CODE_MAX_SENDS = int(os.environ.get("TRANSFER_CODE_MAX_SENDS", "5"))
# The same budgets per number per calendar day, whatever the request: cancelling and
# making a new request gives no fresh sends or guesses (codes sent to the number
# that day, and the wrong tries made on them).
TRANSFER_CODE_SENDS_PER_NUMBER_DAY = int(os.environ.get("TRANSFER_CODE_SENDS_PER_NUMBER_DAY", "5"))
TRANSFER_CODE_FAILURES_PER_NUMBER_DAY = int(os.environ.get("TRANSFER_CODE_FAILURES_PER_NUMBER_DAY", "6"))
# Risk flags in the approval queue.
TRANSFER_RISK_TOPUP_DAYS = int(os.environ.get("TRANSFER_RISK_TOPUP_DAYS", "7"))
TRANSFER_RISK_REQUESTS_30D = int(os.environ.get("TRANSFER_RISK_REQUESTS_30D", "5"))
# Branch hours (local time, [open, close)): a request made outside them is flagged.
TRANSFER_RISK_OPEN_HOUR = int(os.environ.get("TRANSFER_RISK_OPEN_HOUR", "8"))
TRANSFER_RISK_CLOSE_HOUR = int(os.environ.get("TRANSFER_RISK_CLOSE_HOUR", "18"))
# When the holder's consent was not the code sent to the number, no approval before
# this many hours after the holder was told of the request (time to object).
TRANSFER_COOLING_OFF_HOURS = int(os.environ.get("TRANSFER_COOLING_OFF_HOURS", "24"))

# --- Complaints -----------------------------------------------------------------
# An unauthorised-transfer complaint: the number is blocked within this many hours.
COMPLAINTS_BLOCK_WITHIN_HOURS = int(os.environ.get("COMPLAINTS_BLOCK_WITHIN_HOURS", "24"))
# What a handler may offer on one complaint without a supervisor's approval, per
# currency ("USD=50,KHR=200000"); above it a supervisor approves (four eyes).
COMPLAINTS_OFFER_LIMITS = {
    currency.strip().upper(): amount.strip()
    for currency, _, amount in (
        item.partition("=") for item in env_list("COMPLAINTS_OFFER_LIMITS", "USD=50,KHR=200000")
    )
}
# The largest offer a handler may propose at all, per currency ("USD=5000,KHR=20000000"), so a
# slip of the keyboard (1e9) is refused even with a supervisor's approval; a currency left out is
# capped at complaints.money.OFFER_AMOUNT_CEILING, which the database also enforces.
COMPLAINTS_OFFER_MAXIMUMS = {
    currency.strip().upper(): amount.strip()
    for currency, _, amount in (
        item.partition("=") for item in env_list("COMPLAINTS_OFFER_MAXIMUMS", "USD=5000,KHR=20000000")
    )
}
# An offer the customer has not answered lapses after this many days.
COMPLAINTS_OFFER_VALID_DAYS = int(os.environ.get("COMPLAINTS_OFFER_VALID_DAYS", "14"))
# How far back a complaint's timeline reads its numbers' history.
COMPLAINTS_TIMELINE_LOOKBACK_DAYS = int(os.environ.get("COMPLAINTS_TIMELINE_LOOKBACK_DAYS", "180"))
COMPLAINTS_DEFAULT_REGULATOR = os.environ.get("COMPLAINTS_DEFAULT_REGULATOR", "TRC")

# Uploaded evidence (signed consent forms): served only through a view that
# checks branch authority, never from a public URL.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))

# --- SMS ------------------------------------------------------------------------
# Every message is stored in the outbox (shown in the admin) and delivered after
# commit through SMS_BACKEND, like EMAIL_BACKEND: "sms.backends.outbox.OutboxBackend"
# delivers nothing, "sms.backends.devphone.DevPhoneBackend" (the default with DEBUG
# on) keeps what each handset received for the /dev/phone/ screen,
# "sms.backends.console.ConsoleBackend" prints, "sms.backends.http.HttpGatewayBackend"
# posts to SMS_GATEWAY_URL.
SMS_BACKEND = os.environ.get(
    "SMS_BACKEND", "sms.backends.devphone.DevPhoneBackend" if DEBUG else "sms.backends.outbox.OutboxBackend"
)
# Where the development phone keeps what it received (JSON lines); DEBUG only.
SMS_DEV_PHONE_FILE = Path(os.environ.get("SMS_DEV_PHONE_FILE", BASE_DIR / "var" / "dev-phone.jsonl"))
# The gateway posts replies from subscribers to /sms/inbound/ with this token
# ("Authorization: Bearer <token>"); with none set the endpoint refuses everything.
SMS_INBOUND_TOKEN = os.environ.get("SMS_INBOUND_TOKEN", "")
SMS_GATEWAY_URL = os.environ.get("SMS_GATEWAY_URL", "")
SMS_GATEWAY_TOKEN = os.environ.get("SMS_GATEWAY_TOKEN", "")
SMS_GATEWAY_TIMEOUT = float(os.environ.get("SMS_GATEWAY_TIMEOUT", "10"))
# Failed SMS and staff notices are retried with exponential backoff (1, 2, 4 ... min).
DELIVERY_MAX_ATTEMPTS = int(os.environ.get("DELIVERY_MAX_ATTEMPTS", "8"))

# --- The audit chain and its signed checkpoints (audit.chain, audit.checkpoints) ---
# AUDIT_CHAIN_KEY (with the keys above) keys every link of the chain.
# A job signs every chain's head with an Ed25519 key the database never holds and
# appends it to a store outside the database. Keys: a file path (PEM, or base64 of
# the raw 32 bytes) or the base64 itself; the verify key is the public half. DEBUG
# defaults to a development pair that seed_demo makes under var/.
AUDIT_CHECKPOINT_SIGNING_KEY = os.environ.get(
    "AUDIT_CHECKPOINT_SIGNING_KEY", str(BASE_DIR / "var" / "audit-checkpoint-dev.key") if DEBUG else ""
)
AUDIT_CHECKPOINT_VERIFY_KEY = os.environ.get(
    "AUDIT_CHECKPOINT_VERIFY_KEY", str(BASE_DIR / "var" / "audit-checkpoint-dev.pub") if DEBUG else ""
)
# Where checkpoints go: a class with read() and append() (audit.checkpoints.CheckpointStore);
# point it at write-once storage in production. The default appends JSON lines to a file.
AUDIT_CHECKPOINT_BACKEND = os.environ.get("AUDIT_CHECKPOINT_BACKEND", "audit.checkpoints.JsonLinesStore")
AUDIT_CHECKPOINT_STORE = Path(os.environ.get("AUDIT_CHECKPOINT_STORE", BASE_DIR / "var" / "audit-checkpoints.jsonl"))

# --- The inactivity lifecycle (operator's terms) -------------------------------
# A number stays with its subscriber for HOLD_DAYS after the last top-up or
# payment; warnings go out on WARNING_DAYS; then it is withdrawn and ages in
# quarantine for QUARANTINE_DAYS, never fewer than MIN_QUARANTINE_DAYS (US
# number-aging rules: 45). A withdrawal waits until the final warning is at least
# FINAL_NOTICE_DAYS old (a job that missed days warns first). A system check
# refuses a policy that breaks these.
NUMBER_LIFECYCLE = {
    "HOLD_DAYS": int(os.environ.get("LIFECYCLE_HOLD_DAYS", "90")),
    "WARNING_DAYS": tuple(
        int(day) for day in os.environ.get("LIFECYCLE_WARNING_DAYS", "60,75,85").split(",") if day.strip()
    ),
    "QUARANTINE_DAYS": int(os.environ.get("LIFECYCLE_QUARANTINE_DAYS", "90")),
    "MIN_QUARANTINE_DAYS": int(os.environ.get("LIFECYCLE_MIN_QUARANTINE_DAYS", "45")),
    "BATCH_SIZE": int(os.environ.get("LIFECYCLE_BATCH_SIZE", "500")),
    "FINAL_NOTICE_DAYS": int(os.environ.get("LIFECYCLE_FINAL_NOTICE_DAYS", "5")),
}

# --- Celery -------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "")
if CELERY_BROKER_URL:
    CELERY_TASK_ALWAYS_EAGER = False
else:
    # No broker configured: run tasks in process so the demo needs no services.
    CELERY_BROKER_URL = "memory://localhost/"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", "")
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_IMPORTS = ("backoffice.tasks",)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- Email (staff notices) ----------------------------------------------------
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "backoffice@localhost")
# Links in staff notices point here.
PORTAL_BASE_URL = os.environ.get("PORTAL_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}
