"""riskapp settings: every knob comes from the environment; a malformed value fails at start."""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from riskapp.envconfig import (
    env_bool,
    env_broker,
    env_choice,
    env_database,
    env_int,
    env_list,
    env_size,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("RISKAPP_VAR_DIR", str(BASE_DIR / "var"))).resolve()

# --- core -------------------------------------------------------------------------------------------
DEBUG = env_bool("RISKAPP_DEBUG", False)
_INSECURE_DEV_KEY = "riskapp-insecure-development-key-change-me-0123456789abcdefghijklmnop"
SECRET_KEY = env_str("RISKAPP_SECRET_KEY", _INSECURE_DEV_KEY)
PRODUCTION = env_bool("RISKAPP_PRODUCTION", False)
if PRODUCTION and SECRET_KEY.strip() in ("", _INSECURE_DEV_KEY):  # an empty value (e.g. ${VAR:-}) counts as unset
    raise ImproperlyConfigured("RISKAPP_SECRET_KEY must be set when RISKAPP_PRODUCTION is true.")
ALLOWED_HOSTS = env_list("RISKAPP_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("RISKAPP_CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("RISKAPP_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
    "riskapp.accounts",
    "riskapp.audit",
    "riskapp.ops",
    "riskapp.assets",
    "riskapp.assessments",
    "riskapp.compliance",
    "riskapp.monitoring",
    "riskapp.screening",
    "riskapp.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "riskapp.accounts.middleware.RejectNulCharactersMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "riskapp.accounts.middleware.CurrentOrganizationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "riskapp.urls"
WSGI_APPLICATION = "riskapp.wsgi.application"

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
                "riskapp.web.context_processors.navigation",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------------------------------
DATABASES = {"default": env_database("DATABASE_URL", VAR_DIR / "riskapp.sqlite3")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file-backed test database so that a real worker process can see what a test wrote.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache (login rate limiting, live-update throttles) ------------------------------------------------
_cache_url = env_str("RISKAPP_CACHE_URL")
if _cache_url and not _cache_url.startswith(("redis://", "rediss://")):
    raise ImproperlyConfigured(f"RISKAPP_CACHE_URL must be a redis:// URL, got {_cache_url!r}.")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
    if _cache_url
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "riskapp"}
}

# --- auth -------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "web:dashboard"
LOGOUT_REDIRECT_URL = "login"
LOGIN_RATE_LIMIT = env_int("RISKAPP_LOGIN_RATE_LIMIT", 10, minimum=1)  # failed attempts per 15 minutes per IP+user

# --- security ---------------------------------------------------------------------------------------
SESSION_COOKIE_SECURE = env_bool("RISKAPP_SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("RISKAPP_SSL_REDIRECT", PRODUCTION)
SECURE_HSTS_SECONDS = env_int("RISKAPP_HSTS_SECONDS", 31536000 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("RISKAPP_BEHIND_PROXY", False) else None
X_FRAME_OPTIONS = "DENY"

# --- i18n / static / media --------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("RISKAPP_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("RISKAPP_STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "riskapp" / "web" / "static"]
MEDIA_ROOT = Path(env_str("RISKAPP_MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media/"  # never served directly: downloads go through views that check the organization

_storage_backend = env_choice("RISKAPP_STORAGE", "filesystem", {"filesystem", "s3"})
if _storage_backend == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("RISKAPP_S3_BUCKET"),
            "endpoint_url": env_str("RISKAPP_S3_ENDPOINT_URL") or None,
            "access_key": env_str("RISKAPP_S3_ACCESS_KEY") or None,
            "secret_key": env_str("RISKAPP_S3_SECRET_KEY") or None,
            "region_name": env_str("RISKAPP_S3_REGION") or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
    if not _default_storage["OPTIONS"]["bucket_name"]:
        raise ImproperlyConfigured("RISKAPP_S3_BUCKET must be set when RISKAPP_STORAGE is s3.")
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- uploads and model intake -----------------------------------------------------------------------
RISKAPP_MAX_UPLOAD_BYTES = env_size("RISKAPP_MAX_UPLOAD_BYTES", 500 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None
# Endpoint models may only be reached on public addresses unless the operator allows private ones.
RISKAPP_ENDPOINT_ALLOW_PRIVATE = env_bool("RISKAPP_ENDPOINT_ALLOW_PRIVATE", False)
RISKAPP_ENDPOINT_MAX_RESPONSE_BYTES = env_size("RISKAPP_ENDPOINT_MAX_RESPONSE_BYTES", 10 * 1024 * 1024)

# --- assessments ------------------------------------------------------------------------------------
RISKAPP_DEVICE = env_str("RISKAPP_DEVICE", "auto")
if not (RISKAPP_DEVICE in {"auto", "cpu", "cuda"} or RISKAPP_DEVICE.startswith("cuda:")):
    raise ImproperlyConfigured(f"RISKAPP_DEVICE must be auto, cpu, cuda or cuda:N, got {RISKAPP_DEVICE!r}.")
RISKAPP_GPU_WORKERS = env_bool("RISKAPP_GPU_WORKERS", False)  # route torch assessments to the assess-gpu queue
RISKAPP_TASK_SOFT_TIME_LIMIT = env_int("RISKAPP_TASK_SOFT_TIME_LIMIT", 3 * 3600, minimum=10)
RISKAPP_TASK_TIME_LIMIT = env_int("RISKAPP_TASK_TIME_LIMIT", 3 * 3600 + 300, minimum=20)
if RISKAPP_TASK_TIME_LIMIT <= RISKAPP_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured("RISKAPP_TASK_TIME_LIMIT must be greater than RISKAPP_TASK_SOFT_TIME_LIMIT.")
RISKAPP_HEARTBEAT_TIMEOUT = env_int("RISKAPP_HEARTBEAT_TIMEOUT", 300, minimum=10)  # seconds before the reaper fails a run
RISKAPP_FRESHNESS_DAYS = env_int("RISKAPP_FRESHNESS_DAYS", 30, minimum=1)

# --- celery -----------------------------------------------------------------------------------------
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = env_broker("CELERY_BROKER_URL", VAR_DIR)
CELERY_RESULT_BACKEND = None  # results live on the status rows, not in the broker
CELERY_TASK_ALWAYS_EAGER = env_bool("RISKAPP_TASKS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# --- e-mail (alerts) --------------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "RISKAPP_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if env_str("RISKAPP_SMTP_HOST") else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = env_str("RISKAPP_EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = env_str("RISKAPP_SMTP_HOST", "localhost")
EMAIL_PORT = env_int("RISKAPP_SMTP_PORT", 587, minimum=1)
EMAIL_HOST_USER = env_str("RISKAPP_SMTP_USER")
EMAIL_HOST_PASSWORD = env_str("RISKAPP_SMTP_PASSWORD")
EMAIL_USE_TLS = env_bool("RISKAPP_SMTP_TLS", True)
EMAIL_TIMEOUT = env_int("RISKAPP_SMTP_TIMEOUT", 15, minimum=1)
DEFAULT_FROM_EMAIL = env_str("RISKAPP_FROM_EMAIL", "riskapp <riskapp@localhost>")
# Alert deliveries that fail transiently (5xx, timeouts) are retried with exponential backoff from this base.
RISKAPP_ALERT_RETRY_BASE_S = env_int("RISKAPP_ALERT_RETRY_BASE_S", 30, minimum=0)
RISKAPP_ALERT_MAX_ATTEMPTS = env_int("RISKAPP_ALERT_MAX_ATTEMPTS", 6, minimum=1)

# --- API --------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "riskapp.accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["riskapp.accounts.permissions.IsOrganizationMember"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "riskapp.api_parsers.NulSafeJSONParser",
        "riskapp.api_parsers.NulSafeFormParser",
        "riskapp.api_parsers.NulSafeMultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "riskapp.api_router.BoundedLimitOffsetPagination",
    "PAGE_SIZE": env_int("RISKAPP_API_PAGE_SIZE", 50, minimum=1),
    "EXCEPTION_HANDLER": "riskapp.accounts.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "riskapp API",
    "DESCRIPTION": "Register ML models, run adversarial assessments, read control status, evidence and alerts.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # One stable name per choice set, shared by every endpoint that uses it.
    "ENUM_NAME_OVERRIDES": {
        "RoleEnum": "riskapp.accounts.models.Role",
        "ModelFormatEnum": "riskapp.assets.models.ModelFormat",
        "ValidationStatusEnum": "riskapp.assets.models.ValidationStatus",
        "OutputKindEnum": "riskapp.assets.models.OutputKind",
        "RunStatusEnum": "riskapp.assessments.models.RunStatus",
        "CheckStatusEnum": "riskapp.assessments.models.CheckStatus",
        "ControlStatusEnum": "riskapp.compliance.models.ControlStatus",
        "ReportFormatEnum": "riskapp.compliance.models.ReportFormat",
        "ReportStatusEnum": "riskapp.compliance.models.ReportStatus",
        "ScheduleKindEnum": "riskapp.monitoring.models.ScheduleKind",
        "SeverityEnum": "riskapp.monitoring.models.Severity",
        "AlertKindEnum": "riskapp.monitoring.models.AlertKind",
        "AlertStatusEnum": "riskapp.monitoring.models.AlertStatus",
        "ChannelKindEnum": "riskapp.monitoring.models.ChannelKind",
        "DeliveryStatusEnum": "riskapp.monitoring.models.DeliveryStatus",
    },
}

# --- logging ----------------------------------------------------------------------------------------
LOG_LEVEL = env_choice("RISKAPP_LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR"})
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

RISKAPP_DEMO_PASSWORD = env_str("RISKAPP_DEMO_PASSWORD", "riskapp-demo")
RISKAPP_WORKER_CPU_THREADS = env_int("RISKAPP_WORKER_CPU_THREADS", 0, minimum=0)  # 0 = torch default
