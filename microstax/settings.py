"""MicroStax settings, driven by environment variables.

The embedded defaults (SQLite, the django-q2 ORM broker, the in-memory channel layer) need no
configuration at all; production sets ``DATABASE_URL``, ``REDIS_URL``, ``SECRET_KEY`` (or
``SECRET_KEY_FILE``), ``ALLOWED_HOSTS`` and ``MICROSTAX_ENCRYPTION_KEY``. See the README.
"""

from __future__ import annotations

import base64
import hashlib
from decimal import Decimal
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from microstax.lib.db import pool_options
from microstax.lib.env import env_bool, env_decimal, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MICROSTAX_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)

_DEV_SECRET = "microstax-insecure-development-key-change-me"
SECRET_KEY = env_str("SECRET_KEY") or ""
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set unless DEBUG=true")
    SECRET_KEY = _DEV_SECRET

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])


def _encryption_key() -> bytes:
    """The Fernet key for secrets at rest (cluster credentials and the like).

    Production must provide one; development derives a stable key from SECRET_KEY so a local
    database keeps working across restarts.
    """
    raw = env_str("MICROSTAX_ENCRYPTION_KEY")
    if raw:
        try:
            key = base64.urlsafe_b64decode(raw.encode())
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ImproperlyConfigured(
                "MICROSTAX_ENCRYPTION_KEY must be 32 url-safe base64-encoded bytes "
                "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
            )
        return raw.encode()
    if not DEBUG:
        raise ImproperlyConfigured("MICROSTAX_ENCRYPTION_KEY must be set unless DEBUG=true")
    return base64.urlsafe_b64encode(hashlib.sha256(b"encryption:" + SECRET_KEY.encode()).digest())


MICROSTAX_ENCRYPTION_KEY = _encryption_key()

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "guardian",
    "django_q",
    "strawberry_django",
    "channels",
    "microstax.teams",
    "microstax.deploy",
    "audit",
    "blueprints",
    "environments",
    "snapshots",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "microstax.lib.headers.SecurityHeadersMiddleware",  # CSP and friends, also on early answers below
    "microstax.lib.limits.RequestSizeLimitMiddleware",  # a clear 413 before anything reads the body
    "audit.middleware.RequestIdMiddleware",
    "environments.wake.WakeHostMiddleware",  # before CommonMiddleware validates the host
    "environments.metrics.MetricsMiddleware",  # /metrics: its own bearer token, before ApiTokenMiddleware
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "microstax.teams.middleware.ApiTokenMiddleware",
    "audit.middleware.DeniedFormMiddleware",  # a refused form post writes one `denied` event
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "microstax.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "microstax.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.context_processors.navigation",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'microstax.sqlite3'}"
try:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 0, minimum=0))}
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
# PostgreSQL: a connection pool per process (DB_POOL_MAX_SIZE connections at most, 0 turns it off).
DB_POOL_MAX_SIZE = env_int("DB_POOL_MAX_SIZE", 10, minimum=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and DB_POOL_MAX_SIZE:
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperlyConfigured("DB_CONN_MAX_AGE and the connection pool exclude each other: set DB_POOL_MAX_SIZE=0")
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = pool_options(
        max_size=DB_POOL_MAX_SIZE, timeout=env_int("DB_POOL_TIMEOUT", 10, minimum=1)
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web server and the worker read while the other writes.
    DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = "PRAGMA journal_mode=WAL;"
    DATABASES["default"]["OPTIONS"]["transaction_mode"] = "IMMEDIATE"
    DATABASES["default"]["OPTIONS"]["timeout"] = 20

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Guardian: direct foreign-key permission models; no anonymous user row.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = True

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LOGIN_URL = "frontend:login"
LOGIN_REDIRECT_URL = "frontend:home"
LOGOUT_REDIRECT_URL = "frontend:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
# The ASGI application serves /static/ itself (see microstax/asgi.py); off behind a CDN or file server.
MICROSTAX_SERVE_STATIC = env_bool("MICROSTAX_SERVE_STATIC", True)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_SAMESITE = "Lax"
# The CSRF cookie stays readable by scripts: GraphiQL sends it back as the X-CSRFToken header.
CSRF_COOKIE_HTTPONLY = False
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# HSTS on HTTPS responses in production (SecurityMiddleware sends it only over HTTPS).
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
# Behind a TLS-terminating ingress or load balancer that sets X-Forwarded-Proto.
if env_bool("MICROSTAX_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Off by default: the ingress usually redirects, and kubelet probes of /healthz, /livez speak plain HTTP.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$"]
# Request bodies: form posts and GraphQL documents (a 1 MiB blueprint escaped in JSON fits).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MICROSTAX_MAX_REQUEST_BYTES", 3 * 1024 * 1024, minimum=64 * 1024)

REDIS_URL = env_str("REDIS_URL")

if REDIS_URL:
    # A consumer waits on a 5 s blocking pop; redis-py 8's default 5 s socket timeout would end that wait
    # with an error and close every idle subscription (1011). The read timeout stays above the pop's.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The cache: Redis when REDIS_URL is set, so rate limits and cached status hold across processes;
# otherwise Django's per-process memory cache (sign-in throttling then keeps its counters in the database).
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}

# Sign-in throttling (password logins and API tokens): after this many failures within the window
# a username or client IP is locked out, for the base lockout doubled with every further failure.
MICROSTAX_AUTH_MAX_FAILURES_PER_USER = env_int("MICROSTAX_AUTH_MAX_FAILURES_PER_USER", 5, minimum=1)
MICROSTAX_AUTH_MAX_FAILURES_PER_IP = env_int("MICROSTAX_AUTH_MAX_FAILURES_PER_IP", 20, minimum=1)
MICROSTAX_AUTH_FAILURE_WINDOW_SECONDS = env_int("MICROSTAX_AUTH_FAILURE_WINDOW_SECONDS", 15 * 60, minimum=1)
MICROSTAX_AUTH_LOCKOUT_SECONDS = env_int("MICROSTAX_AUTH_LOCKOUT_SECONDS", 30, minimum=1)
MICROSTAX_AUTH_LOCKOUT_MAX_SECONDS = env_int("MICROSTAX_AUTH_LOCKOUT_MAX_SECONDS", 15 * 60, minimum=1)

# django-q2: the ORM broker by default, Redis when REDIS_URL is set. The task timeout stays below
# the retry interval so a slow task is never handed to a second worker while it still runs.
Q_CLUSTER = {
    "name": "microstax",
    "workers": env_int("MICROSTAX_WORKERS", 2, minimum=1),
    "timeout": env_int("MICROSTAX_TASK_TIMEOUT", 600, minimum=1),
    "retry": env_int("MICROSTAX_TASK_TIMEOUT", 600, minimum=1) + 60,
    "max_attempts": 3,
    "save_limit": 1000,
    "catch_up": False,
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

STRAWBERRY_DJANGO = {
    "FIELD_DESCRIPTION_FROM_HELP_TEXT": True,
    "TYPE_DESCRIPTION_FROM_MODEL_DOCSTRING": True,
    "PAGINATION_DEFAULT_LIMIT": 50,
    "MUTATIONS_DEFAULT_HANDLE_ERRORS": False,
}
MICROSTAX_PAGE_SIZE_MAX = env_int("MICROSTAX_PAGE_SIZE_MAX", 100, minimum=1)
MICROSTAX_GRAPHQL_MAX_DEPTH = env_int("MICROSTAX_GRAPHQL_MAX_DEPTH", 10, minimum=2)
MICROSTAX_GRAPHQL_MAX_ALIASES = env_int("MICROSTAX_GRAPHQL_MAX_ALIASES", 15, minimum=1)
MICROSTAX_GRAPHQL_MAX_TOKENS = env_int("MICROSTAX_GRAPHQL_MAX_TOKENS", 3000, minimum=100)

# Fleet policies (the sweep): how long before expiry owners are warned; when Terminating is "stuck".
MICROSTAX_TTL_WARNING_MINUTES = env_int("MICROSTAX_TTL_WARNING_MINUTES", 60, minimum=0)
MICROSTAX_STUCK_TERMINATING_MINUTES = env_int("MICROSTAX_STUCK_TERMINATING_MINUTES", 30, minimum=1)
# Drift: how many running environments one sweep compares with their cluster, and how often each.
MICROSTAX_DRIFT_CHECKS_PER_SWEEP = env_int("MICROSTAX_DRIFT_CHECKS_PER_SWEEP", 50, minimum=0)
MICROSTAX_DRIFT_INTERVAL_MINUTES = env_int("MICROSTAX_DRIFT_INTERVAL_MINUTES", 10, minimum=0)
# Wake on demand: at most one resume request per environment per this many seconds.
MICROSTAX_WAKE_MIN_INTERVAL_SECONDS = env_int("MICROSTAX_WAKE_MIN_INTERVAL_SECONDS", 10, minimum=1)
# /metrics: a bearer token (also MICROSTAX_METRICS_TOKEN_FILE); unset, only loopback may scrape.
MICROSTAX_METRICS_TOKEN = env_str("MICROSTAX_METRICS_TOKEN") or ""

# Platform ceilings: no team policy may go above these (platform admins set them here).
MICROSTAX_MAX_TTL_HOURS = env_int("MICROSTAX_MAX_TTL_HOURS", 90 * 24, minimum=1)
MICROSTAX_MAX_ENVIRONMENTS_PER_TEAM = env_int("MICROSTAX_MAX_ENVIRONMENTS_PER_TEAM", 200, minimum=1)
MICROSTAX_MAX_TEAM_CPU_MILLICORES = env_int("MICROSTAX_MAX_TEAM_CPU_MILLICORES", 256_000, minimum=100)
MICROSTAX_MAX_TEAM_MEMORY_MIB = env_int("MICROSTAX_MAX_TEAM_MEMORY_MIB", 1_048_576, minimum=128)
MICROSTAX_MAX_PODS_PER_ENVIRONMENT = env_int("MICROSTAX_MAX_PODS_PER_ENVIRONMENT", 500, minimum=1)
MICROSTAX_MAX_IDLE_DELAY_MINUTES = env_int("MICROSTAX_MAX_IDLE_DELAY_MINUTES", 7 * 24 * 60, minimum=5)
MICROSTAX_MAX_SNAPSHOT_RETENTION_DAYS = env_int("MICROSTAX_MAX_SNAPSHOT_RETENTION_DAYS", 365, minimum=1)

# Cost estimates: the price table (per vCPU-hour and GiB-hour of requests while running, per GiB-month
# of volume claims while the environment exists). Defaults are typical on-demand cloud list prices.
MICROSTAX_PRICE_CPU_HOUR = env_decimal("MICROSTAX_PRICE_CPU_HOUR", "0.04", minimum=Decimal(0))
MICROSTAX_PRICE_GIB_HOUR = env_decimal("MICROSTAX_PRICE_GIB_HOUR", "0.005", minimum=Decimal(0))
MICROSTAX_PRICE_STORAGE_GIB_MONTH = env_decimal("MICROSTAX_PRICE_STORAGE_GIB_MONTH", "0.10", minimum=Decimal(0))
MICROSTAX_CURRENCY = env_str("MICROSTAX_CURRENCY", "USD") or "USD"

# OpenTelemetry: provisioning traces are exported as OTLP/HTTP JSON when this is set.
OTEL_EXPORTER_OTLP_ENDPOINT = env_str("OTEL_EXPORTER_OTLP_ENDPOINT") or ""

# Snapshots: where artifacts are stored (file://PATH, the embedded default, or s3://BUCKET/PREFIX with
# the S3 settings below; credentials also as *_FILE), how long a transfer token lives, and what
# the capture and restore Jobs run and call back to.
MICROSTAX_SNAPSHOT_STORAGE_URL = env_str("MICROSTAX_SNAPSHOT_STORAGE_URL") or f"file://{VAR_DIR / 'snapshots'}"
if not MICROSTAX_SNAPSHOT_STORAGE_URL.startswith(("file://", "s3://")):
    raise ImproperlyConfigured(
        "MICROSTAX_SNAPSHOT_STORAGE_URL must be file://PATH or s3://BUCKET/PREFIX, "
        f"got {MICROSTAX_SNAPSHOT_STORAGE_URL!r}"
    )
MICROSTAX_SNAPSHOT_S3_ENDPOINT_URL = env_str("MICROSTAX_SNAPSHOT_S3_ENDPOINT_URL") or None
MICROSTAX_SNAPSHOT_S3_REGION = env_str("MICROSTAX_SNAPSHOT_S3_REGION") or None
MICROSTAX_SNAPSHOT_S3_ACCESS_KEY_ID = env_str("MICROSTAX_SNAPSHOT_S3_ACCESS_KEY_ID") or None
MICROSTAX_SNAPSHOT_S3_SECRET_ACCESS_KEY = env_str("MICROSTAX_SNAPSHOT_S3_SECRET_ACCESS_KEY") or None
MICROSTAX_SNAPSHOT_TOKEN_MINUTES = env_int("MICROSTAX_SNAPSHOT_TOKEN_MINUTES", 120, minimum=1)
MICROSTAX_SNAPSHOT_MAX_BYTES = env_int("MICROSTAX_SNAPSHOT_MAX_BYTES", 50 * 1024**3, minimum=1)
MICROSTAX_PUBLIC_URL = (env_str("MICROSTAX_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/")
if not MICROSTAX_PUBLIC_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"MICROSTAX_PUBLIC_URL must be an http(s) URL, got {MICROSTAX_PUBLIC_URL!r}")
MICROSTAX_IMAGE = env_str("MICROSTAX_IMAGE") or "ghcr.io/microstax/microstax:latest"

# The audit trail's Ed25519 signing key (a PEM private key file). Development generates one into
# var/ on first use (never committed); production must name its own.
_AUDIT_KEY_FILE = env_str("MICROSTAX_AUDIT_SIGNING_KEY_FILE")
if not _AUDIT_KEY_FILE and not DEBUG:
    raise ImproperlyConfigured(
        "MICROSTAX_AUDIT_SIGNING_KEY_FILE must name an Ed25519 private key (PEM) unless DEBUG=true"
    )
MICROSTAX_AUDIT_SIGNING_KEY_FILE = Path(_AUDIT_KEY_FILE or VAR_DIR / "audit-signing-key.pem")
MICROSTAX_AUDIT_SIGNING_KEY_GENERATE = not _AUDIT_KEY_FILE
# How often (seconds) the integrity status shown on the audit pages is recomputed.
MICROSTAX_AUDIT_STATUS_CACHE_SECONDS = env_int("MICROSTAX_AUDIT_STATUS_CACHE_SECONDS", 60, minimum=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
