"""Every setting of the registry. Deployments differ only through environment variables (README)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from consortium.env import env_bool, env_float, env_int, env_list, env_optional, env_secret, env_str
from consortium.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CONSORTIUM_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_secret("DJANGO_SECRET_KEY", "dev-only-insecure-key" if DEBUG else None)
if not SECRET_KEY:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) is required")
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# The public URL of the portal and API, used in printed links and (later) in cards and webhooks.
PUBLIC_URL = env_str("CONSORTIUM_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")

# TLS terminates at a proxy in production; the embedded default serves plain HTTP on loopback.
SECURE = env_bool("DJANGO_SECURE", True)
SECURE_SSL_REDIRECT = SECURE
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31_536_000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# A TLS deployment names every service it uses: no silent fall-back to loopback or SQLite defaults.
# docker-compose.yml sets each of these for every Django service (a test checks it).
REQUIRED_IN_PRODUCTION = [
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "DJANGO_CSRF_TRUSTED_ORIGINS",
    "CONSORTIUM_PUBLIC_URL",
    "DATABASE_URL",
    "REDIS_URL",
    "S3_ENDPOINT_URL",
    "S3_PUBLIC_ENDPOINT_URL",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "S3_BUCKET",
]
if SECURE and not DEBUG:
    _missing = [n for n in REQUIRED_IN_PRODUCTION if not (os.environ.get(n) or os.environ.get(f"{n}_FILE"))]
    if _missing:
        raise ImproperlyConfigured(f"production (DJANGO_SECURE=true) needs these set: {', '.join(_missing)}")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_countries",
    "django_htmx",
    "registry",
    "jobs",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "consortium.logging.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "registry.api.idempotency.IdempotencyMiddleware",
]

ROOT_URLCONF = "consortium.urls"
WSGI_APPLICATION = "consortium.wsgi.application"
AUTH_USER_MODEL = "registry.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

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
                "registry.portal.context.organizations",
            ],
        },
    },
]


def _database(url: str) -> dict[str, Any]:
    try:
        config = dict(
            dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60), conn_health_checks=True)
        )
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Web, worker and beat all write: WAL lets readers run beside the writer, IMMEDIATE takes the
        # write lock at BEGIN (no upgrade deadlocks), and the busy timeout queues writers instead of failing.
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        }
        # Tests get a file too, not shared-cache memory, so concurrent tests lock as the product does.
        config["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
    elif config["ENGINE"] == "django.db.backends.postgresql":
        # The registry's queries are short: Postgres' JIT spent ~300 ms compiling plans that then ran in
        # ~30 ms (bench/portal.py, a reviewer's browse over 10,000 versions).
        options = cast("dict[str, Any]", config.get("OPTIONS") or {})
        config["OPTIONS"] = {**options, "options": "-c jit=off"}
    return config


DATABASES = {"default": _database(env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"))}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "consortium",
    }
}

# Portal sign-in: wrong passwords per username and address before a lockout, and its length.
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "registry.api.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "registry.api.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "registry.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_METADATA_CLASS": None,  # no OPTIONS introspection; the OpenAPI schema documents the API
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Open model consortium registry API",
    "DESCRIPTION": "Share recipes, environments, datasets, eval suites, checkpoints and adapters across member labs.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # A step's status appears in checks/ and in a version's measurements: one enum, one name. Two
    # fields are named `kind`: an artifact's and a scorecard evidence's; each enum gets its own name.
    "ENUM_NAME_OVERRIDES": {
        "StepStatusEnum": "jobs.models.Step.Status",
        "KindEnum": "registry.models.Kind",
        "EvidenceKindEnum": ["version", "step", "hub", "organization", "factor"],
        # An event's type is one enum wherever it appears (events, webhooks' event_types).
        "EventTypeEnum": "registry.models.Event.Type",
        "DeliveryStatusEnum": "registry.models.WebhookDelivery.Status",
    },
}

# Idempotency-Key records are kept this long, then purged by beat.
IDEMPOTENCY_TTL = timedelta(hours=env_int("IDEMPOTENCY_TTL_HOURS", 24))
# Presigned part and download URLs live this long.
UPLOAD_URL_TTL = env_int("UPLOAD_URL_TTL_SECONDS", 3600)
DOWNLOAD_URL_TTL = env_int("DOWNLOAD_URL_TTL_SECONDS", 300)
# Storage an org may use (verified blobs plus uploads in flight) unless its row sets its own.
ORG_STORAGE_QUOTA_BYTES = env_int("ORG_STORAGE_QUOTA_GB", 1024) * 1024**3
# The storage sweep aborts uploads idle this long, and deletes blobs no file has used for this long.
UPLOAD_IDLE_TTL = timedelta(hours=env_int("UPLOAD_IDLE_TTL_HOURS", 24))
BLOB_GRACE = timedelta(hours=env_int("BLOB_GRACE_HOURS", 168))
TOKEN_DEFAULT_LIFETIME = timedelta(days=env_int("TOKEN_DEFAULT_LIFETIME_DAYS", 90))
TOKEN_MAX_LIFETIME = timedelta(days=env_int("TOKEN_MAX_LIFETIME_DAYS", 366))
# An invitation link to join an org works this long, once.
INVITATION_LIFETIME = timedelta(days=env_int("INVITATION_LIFETIME_DAYS", 7))

# Email (invitation links). The embedded default prints messages to the console instead of sending.
# A TLS deployment that names no backend sends nothing (the console would put links in its logs).
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.dummy.EmailBackend" if SECURE else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD", "") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT_SECONDS", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "registry@localhost")

# Object storage: one S3 client; only the endpoint differs between SeaweedFS, CI and production.
S3_ENDPOINT_URL = env_str("S3_ENDPOINT_URL", "http://127.0.0.1:8333")
# Presigned URLs are signed for this endpoint, reachable from clients outside a compose network.
S3_PUBLIC_ENDPOINT_URL = env_str("S3_PUBLIC_ENDPOINT_URL", S3_ENDPOINT_URL)
S3_REGION = env_str("S3_REGION", "us-east-1")
S3_BUCKET = env_str("S3_BUCKET", "consortium")
S3_ACCESS_KEY_ID = env_str("S3_ACCESS_KEY_ID", "consortium")
S3_SECRET_ACCESS_KEY = env_secret("S3_SECRET_ACCESS_KEY", "consortium-dev-secret")
# Web origins whose pages may PUT upload parts straight to the bucket and read their ETag (the
# portal's browser uploads). `storage_init` applies them as the bucket's CORS rule; set it empty to
# leave the bucket's CORS to the operator (docs/storage-cors.md).
S3_CORS_ORIGINS = env_list("S3_CORS_ORIGINS", [PUBLIC_URL])

# The Hub. Unset on the embedded default, where the local Hub-protocol server stands in.
HF_ENDPOINT = env_optional("HF_ENDPOINT")
HF_TOKEN = env_secret("HF_TOKEN")

# Webhooks. Each attempt has WEBHOOK_TIMEOUT_SECONDS to connect and as long again to answer; a failed
# one is retried with exponential backoff (WEBHOOK_BACKOFF_SECONDS, doubling, at most
# WEBHOOK_BACKOFF_MAX_SECONDS) up to WEBHOOK_MAX_ATTEMPTS; WEBHOOK_DISABLE_AFTER_FAILURES failed
# attempts in a row switch the webhook off and tell its org's owners. Only http(s) is sent, and
# never to a loopback, private, link-local, shared or metadata address, checked on every hop and
# pinned between check and connect, unless the network is listed in WEBHOOK_ALLOWED_NETWORKS
# (CIDRs, for an operator's own receivers; `make run` allows loopback for trying it locally).
WEBHOOK_TIMEOUT_SECONDS = env_float("WEBHOOK_TIMEOUT_SECONDS", 5)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 8)
WEBHOOK_BACKOFF_SECONDS = env_float("WEBHOOK_BACKOFF_SECONDS", 30)
WEBHOOK_BACKOFF_MAX_SECONDS = env_float("WEBHOOK_BACKOFF_MAX_SECONDS", 1800)
WEBHOOK_DISABLE_AFTER_FAILURES = env_int("WEBHOOK_DISABLE_AFTER_FAILURES", 20)
WEBHOOK_MAX_REDIRECTS = env_int("WEBHOOK_MAX_REDIRECTS", 3)
WEBHOOK_RESPONSE_PREFIX_BYTES = env_int("WEBHOOK_RESPONSE_PREFIX_BYTES", 1024)
WEBHOOK_ALLOWED_NETWORKS = env_list("WEBHOOK_ALLOWED_NETWORKS", [])
# Webhook signing secrets are stored encrypted with this key (derived from SECRET_KEY when unset);
# secrets stored under an earlier key still decrypt while it is listed in the fallbacks.
WEBHOOK_SECRETS_KEY = env_secret("WEBHOOK_SECRETS_KEY") or f"webhook-secrets:{SECRET_KEY}"
WEBHOOK_SECRETS_KEY_FALLBACKS = env_list("WEBHOOK_SECRETS_KEY_FALLBACKS", [])
# Notification email is sent in batches this often: one message, or a digest when several wait.
NOTIFICATION_EMAIL_SECONDS = env_float("NOTIFICATION_EMAIL_SECONDS", 60)

# The check pipeline. A worker holds a step's lease for PIPELINE_LEASE_SECONDS and renews it every
# PIPELINE_HEARTBEAT_SECONDS; the reconciler (beat, every PIPELINE_RECONCILE_SECONDS) requeues a
# step whose lease expired and re-sends a queued step whose message is older than
# PIPELINE_REDISPATCH_SECONDS (a message lost with Redis; a step merely waiting behind a backlog is
# re-sent at most that often, and the duplicate finds the step claimed). Infrastructure errors are
# retried with exponential backoff up to PIPELINE_MAX_ATTEMPTS, then the step is `errored`.
PIPELINE_LEASE_SECONDS = env_float("PIPELINE_LEASE_SECONDS", 60)
PIPELINE_HEARTBEAT_SECONDS = env_float("PIPELINE_HEARTBEAT_SECONDS", 5)
PIPELINE_RECONCILE_SECONDS = env_float("PIPELINE_RECONCILE_SECONDS", 15)
PIPELINE_REDISPATCH_SECONDS = env_float("PIPELINE_REDISPATCH_SECONDS", 3600)
# A step still running after this long is stopped and retried (then `errored`).
PIPELINE_STEP_TIME_LIMIT_SECONDS = env_int("PIPELINE_STEP_TIME_LIMIT_SECONDS", 6 * 3600)
PIPELINE_MAX_ATTEMPTS = env_int("PIPELINE_MAX_ATTEMPTS", 5)
# Measurements (evals and probes) on the `gpu` workers: a model above MEASURE_MAX_PARAMETERS is
# "not measured (size)"; each subprocess gets MEASURE_TIME_LIMIT_SECONDS and an address space of
# MEASURE_MEMORY_LIMIT_MB; model files are fetched from S3 into a scratch directory under
# MEASURE_SCRATCH_DIR, removed when the step ends.
MEASURE_MAX_PARAMETERS = env_int("MEASURE_MAX_PARAMETERS", 2_000_000_000)
MEASURE_TIME_LIMIT_SECONDS = env_float("MEASURE_TIME_LIMIT_SECONDS", 2 * 3600)
MEASURE_MEMORY_LIMIT_MB = env_int("MEASURE_MEMORY_LIMIT_MB", 16 * 1024)
MEASURE_SCRATCH_DIR = Path(env_str("MEASURE_SCRATCH_DIR", str(VAR_DIR / "scratch")))
PIPELINE_BACKOFF_SECONDS = env_float("PIPELINE_BACKOFF_SECONDS", 2)
PIPELINE_BACKOFF_MAX_SECONDS = env_float("PIPELINE_BACKOFF_MAX_SECONDS", 300)
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
if not PIPELINE_HEARTBEAT_SECONDS < PIPELINE_LEASE_SECONDS:
    raise ImproperlyConfigured("PIPELINE_HEARTBEAT_SECONDS must be shorter than PIPELINE_LEASE_SECONDS")
if not max(PIPELINE_BACKOFF_MAX_SECONDS, WEBHOOK_BACKOFF_MAX_SECONDS) < CELERY_VISIBILITY_TIMEOUT:
    # A countdown longer than the visibility timeout makes Redis redeliver the message in a loop.
    raise ImproperlyConfigured(
        "PIPELINE_BACKOFF_MAX_SECONDS and WEBHOOK_BACKOFF_MAX_SECONDS must be shorter than CELERY_VISIBILITY_TIMEOUT"
    )

# The safety step. A pickle scan that runs past SAFETY_SCAN_TIMEOUT_SECONDS, or would hold more than
# SAFETY_PICKLE_MAX_BYTES or SAFETY_PICKLE_MAX_OPS opcodes in memory (the scanner keeps them all), fails
# the file: an unscanned pickle is refused. Archives are read without extraction; a member inflating more
# than ARCHIVE_MAX_RATIO times (once past ARCHIVE_RATIO_MIN_BYTES), or an archive over
# ARCHIVE_MAX_TOTAL_BYTES uncompressed or ARCHIVE_MAX_MEMBERS entries, is a bomb.
SAFETY_SCAN_TIMEOUT_SECONDS = env_float("SAFETY_SCAN_TIMEOUT_SECONDS", 300)
SAFETY_PICKLE_MAX_BYTES = env_int("SAFETY_PICKLE_MAX_BYTES", 1024**3)
SAFETY_PICKLE_MAX_OPS = env_int("SAFETY_PICKLE_MAX_OPS", 2_000_000)
ARCHIVE_MAX_RATIO = env_int("ARCHIVE_MAX_RATIO", 100)
ARCHIVE_RATIO_MIN_BYTES = env_int("ARCHIVE_RATIO_MIN_BYTES", 16 * 1024**2)
ARCHIVE_MAX_TOTAL_BYTES = env_int("ARCHIVE_MAX_TOTAL_BYTES", 64 * 1024**3)
ARCHIVE_MAX_MEMBERS = env_int("ARCHIVE_MAX_MEMBERS", 100_000)
# Format checks read headers and documents whole only up to these sizes (a bigger one is refused).
SAFETENSORS_MAX_HEADER_BYTES = env_int("SAFETENSORS_MAX_HEADER_BYTES", 100 * 1024**2)  # the format's own cap
FORMAT_MAX_DOCUMENT_BYTES = env_int("FORMAT_MAX_DOCUMENT_BYTES", 10 * 1024**2)  # recipe and manifest YAML
CHECK_JSON_MAX_BYTES = env_int("CHECK_JSON_MAX_BYTES", 16 * 1024**2)  # config and tokenizer JSON
CHECK_TOKENIZER_MAX_BYTES = env_int("CHECK_TOKENIZER_MAX_BYTES", 64 * 1024**2)  # tokenizer.json / .model
# PEFT validates adapter configs in a subprocess (importing torch takes ~5 s); killed after this.
PEFT_CHECK_TIMEOUT_SECONDS = env_float("PEFT_CHECK_TIMEOUT_SECONDS", 120)

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker that is down must not hang a request: sends fail fast and the reconciler re-sends.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "socket_connect_timeout": 3,
    "socket_timeout": 10,  # a Redis that accepts but never answers (longer than the 1 s BRPOP poll)
}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = (Queue("default"), Queue("gpu"))
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "idempotency-purge": {"task": "jobs.tasks.idempotency_purge_task", "schedule": timedelta(hours=1)},
    "storage-sweep": {"task": "jobs.tasks.storage_sweep_task", "schedule": timedelta(minutes=30)},
    "pipeline-reconcile": {
        "task": "jobs.tasks.pipeline_reconcile_task",
        "schedule": timedelta(seconds=PIPELINE_RECONCILE_SECONDS),
        "options": {"expires": PIPELINE_RECONCILE_SECONDS},  # a pass stuck behind long steps is dropped
    },
    "webhook-reconcile": {
        "task": "jobs.tasks.webhook_reconcile_task",
        "schedule": timedelta(seconds=PIPELINE_RECONCILE_SECONDS),
        "options": {"expires": PIPELINE_RECONCILE_SECONDS},
    },
    "notification-email": {
        "task": "jobs.tasks.notification_email_task",
        "schedule": timedelta(seconds=NOTIFICATION_EMAIL_SECONDS),
        "options": {"expires": NOTIFICATION_EMAIL_SECONDS},
    },
    # Embargoed versions are published on their release date within one period.
    "publication-reconcile": {
        "task": "jobs.tasks.publication_reconcile_task",
        "schedule": timedelta(seconds=PIPELINE_RECONCILE_SECONDS),
        "options": {"expires": PIPELINE_RECONCILE_SECONDS},
    },
}

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
LOG_FORMAT = env_str("LOG_FORMAT", "json")
if LOG_FORMAT not in {"json", "console"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r}: expected json or console")
LOGGING = logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT)
