"""ghsync settings: every value comes from an environment variable with a default
that runs on one machine with nothing installed (SQLite, an embedded broker)."""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from config.env import env_bool, env_choice, env_int, env_list, env_pair, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("GHSYNC_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEV_SECRET_KEY = "django-insecure-ghsync-development-key-change-me"
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
# Off unless asked for: the demo and the test settings turn it on explicitly.
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off (refusing the development key)."
    )

# --- Behind a TLS-terminating proxy (README "Running in production") ---------------------
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
SECURE_PROXY_SSL_HEADER = env_pair("DJANGO_SECURE_PROXY_SSL_HEADER")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
# A load balancer's health check and Prometheus may speak plain HTTP to the web process.
SECURE_REDIRECT_EXEMPT = [r"^api/health/?$", r"^metrics$"]
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", False)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",  # only for its table: old tokens are migrated to knox
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "django_celery_beat",
    "integrations",
    "sync",
]

MIDDLEWARE = [
    "sync.middleware.RequestIdMiddleware",
    "sync.middleware.RejectNulInQueryMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.debug.ReporterFilter"
WSGI_APPLICATION = "config.wsgi.application"

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

# --- Database -------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", "sqlite:///var/ghsync.sqlite3")
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0))
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _name = Path(str(_db["NAME"]))
    if str(_name) != ":memory:" and not _name.is_absolute():
        _name = BASE_DIR / _name
    _name.parent.mkdir(parents=True, exist_ok=True)
    _db["NAME"] = str(_name)
    # IMMEDIATE transactions take the write lock at BEGIN, which is how SQLite gives
    # select_for_update's serialisation; WAL lets readers run beside the writer.
    _db["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    _db["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    _db["CONN_HEALTH_CHECKS"] = True
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# whitenoise serves what `manage.py collectstatic` put in STATIC_ROOT, compressed, from
# every web process: no separate static server. (No hashed manifest: pages render
# whether or not collectstatic ran; it is in the release steps so they are styled.)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- Celery ---------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://localhost//")
CELERY_BROKER_IS_EMBEDDED = CELERY_BROKER_URL.startswith("filesystem://")
if CELERY_BROKER_IS_EMBEDDED:
    (BROKER_DIR / "queue").mkdir(parents=True, exist_ok=True)
    (BROKER_DIR / "processed").mkdir(parents=True, exist_ok=True)
    (BROKER_DIR / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
        # Redis hands an unacknowledged message to another worker after this. It must
        # outlast the longest `eta` the worker schedules (a block of at most 65 minutes
        # plus jitter), or a blocked job's message would be delivered twice.
        "visibility_timeout": 2 * 3600,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish against an unreachable broker gives up within ~4 s (two connection attempts)
# so the webhook still answers well inside GitHub's 10 s; the delivery or job stays in
# the database and maintenance sends it later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# Two queues: webhook processing (and beat's quick passes) never waits behind a backlog
# of sync work. A worker started without -Q consumes both (the demo, the tests); in
# production start workers for each (`-Q webhooks`, `-Q sync`). Routes are by task name
# (sync/queue.py).
CELERY_TASK_QUEUES = (Queue("webhooks"), Queue("sync"))
CELERY_TASK_DEFAULT_QUEUE = "sync"
CELERY_TASK_ROUTES = {
    "integrations.tasks.process_webhook_delivery": {"queue": "webhooks"},
    "sync.tasks.request_periodic_syncs": {"queue": "webhooks"},
    "sync.tasks.run_maintenance": {"queue": "webhooks"},
    "sync.tasks.process_sync_job": {"queue": "sync"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- GitHub ---------------------------------------------------------------------------
GITHUB_API_URL = env_str("GITHUB_API_URL", "https://api.github.com").rstrip("/")
# Derived from GITHUB_API_URL when unset: `{api}/graphql`; `https://HOST/api/graphql` on GHES.
GITHUB_GRAPHQL_URL = env_str("GITHUB_GRAPHQL_URL").rstrip("/") or None
GITHUB_APP_ID = env_str("GITHUB_APP_ID") or None
GITHUB_APP_PRIVATE_KEY = env_str("GITHUB_APP_PRIVATE_KEY").replace("\\n", "\n") or None
GITHUB_APP_PRIVATE_KEY_PATH = env_str("GITHUB_APP_PRIVATE_KEY_PATH") or None
GITHUB_WEBHOOK_SECRET = env_str("GITHUB_WEBHOOK_SECRET") or None
GITHUB_WEBHOOK_SECRET_PREVIOUS = env_str("GITHUB_WEBHOOK_SECRET_PREVIOUS") or None
# GitHub's own cap on a delivery. Only the webhook view allows it: it reads the raw
# stream with this limit itself (413 past it); every form keeps Django's default cap
# (DATA_UPLOAD_MAX_MEMORY_SIZE, 2.5 MB), so a login POST cannot be 25 MiB.
GITHUB_WEBHOOK_MAX_BYTES = env_int("GITHUB_WEBHOOK_MAX_BYTES", 25 * 1024 * 1024)

# --- Sync policy and worker (SPEC §1) ---------------------------------------------------
SYNC_MANUAL_COOLDOWN_SECONDS = env_int("SYNC_MANUAL_COOLDOWN_SECONDS", 3600)
SYNC_STALE_AFTER_SECONDS = env_int("SYNC_STALE_AFTER_SECONDS", 172800)
SYNC_CRON_DUE_AFTER_SECONDS = env_int("SYNC_CRON_DUE_AFTER_SECONDS", 3600)
SYNC_MAINTENANCE_CATCHUP_SECONDS = env_int("SYNC_MAINTENANCE_CATCHUP_SECONDS", 86400)
SYNC_ERROR_RETRY_SECONDS = env_int("SYNC_ERROR_RETRY_SECONDS", 3600)
SYNC_MIN_BUDGET = env_int("SYNC_MIN_BUDGET", 100)
SYNC_CRON_RESERVE = env_int("SYNC_CRON_RESERVE", 500)
SYNC_BACKFILL_DAYS = env_int("SYNC_BACKFILL_DAYS", 30)
SYNC_OVERLAP_SECONDS = env_int("SYNC_OVERLAP_SECONDS", 3600)
SYNC_LEASE_SECONDS = env_int("SYNC_LEASE_SECONDS", 300)
SYNC_SLICE_SECONDS = env_int("SYNC_SLICE_SECONDS", 60)
SYNC_MAX_ATTEMPTS = env_int("SYNC_MAX_ATTEMPTS", 5)
SYNC_BEAT_INTERVAL_SECONDS = env_int("SYNC_BEAT_INTERVAL_SECONDS", 300)
# `auto`: GraphQL where it spends less budget, REST where it can't serve; `on`; `off`:
# REST only (the policy then holds only the REST bucket, SPEC §3, §5a).
SYNC_GRAPHQL = env_choice("SYNC_GRAPHQL", "auto", ("auto", "on", "off"))
# Ask for the next page while the current one is written, when requests wait on the
# network (never a request the job would not make, never into the budget reserve).
SYNC_PREFETCH = env_bool("SYNC_PREFETCH", True)
# Retention: maintenance deletes older webhook deliveries and finished jobs (an
# installation's last finished job is kept), at most SYNC_PRUNE_BATCH rows a pass each.
SYNC_WEBHOOK_RETENTION_DAYS = env_int("SYNC_WEBHOOK_RETENTION_DAYS", 14)
SYNC_JOB_RETENTION_DAYS = env_int("SYNC_JOB_RETENTION_DAYS", 90)
SYNC_PRUNE_BATCH = env_int("SYNC_PRUNE_BATCH", 1000)

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "sync.api.auth.TokenAuthentication",  # knox: hashed, expiring
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
API_TOKEN_TTL_DAYS = env_int("API_TOKEN_TTL_DAYS", 90)
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=API_TOKEN_TTL_DAYS) if API_TOKEN_TTL_DAYS > 0 else None,
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ghsync API",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # /api/docs/ serves Swagger UI from the app's own static files, no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Observability ------------------------------------------------------------------
# /metrics (Prometheus): this bearer token when set; unset, loopback requests only.
METRICS_TOKEN = env_str("METRICS_TOKEN") or None
SENTRY_DSN = env_str("SENTRY_DSN") or None
SENTRY_ENVIRONMENT = env_str("SENTRY_ENVIRONMENT", "development" if DEBUG else "production")

# --- Logging (structlog; see config/logging.py) ---------------------------------------
LOG_FORMAT = env_str("LOG_FORMAT", "console" if DEBUG else "json")
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")

from config.logging import configure_logging  # noqa: E402

LOGGING_CONFIG = None
configure_logging(log_format=LOG_FORMAT, level=LOG_LEVEL)

if SENTRY_DSN:
    from config.sentry import init_sentry

    init_sentry(dsn=SENTRY_DSN, environment=SENTRY_ENVIRONMENT)
