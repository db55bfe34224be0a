"""Settings shared by every environment; environment-specific modules override them.

Everything that differs between machines is read from the environment.
"""

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-development-key-change-me")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "customers",
    "campaigns",
    "outreach",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.middleware.LoginRequiredMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.roles",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Internationalisation: Japanese first, English available; Tokyo time by default.
LANGUAGE_CODE = "ja"
LANGUAGES = [("ja", _("Japanese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "Asia/Tokyo")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("DJANGO_MEDIA_ROOT", BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Uploads go to disk (never into memory) past 2.5 MB; the import reads them as a stream.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = 10_485_760
FILE_UPLOAD_PERMISSIONS = 0o640

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "config.api_schema.AutoSchema",
}

# OpenAPI 3 schema at /api/schema/, Swagger UI at /api/docs/ (assets from drf-spectacular-sidecar's
# static files: no CDN, the product runs without internet). Both need an authenticated user.
SPECTACULAR_SETTINGS = {
    "TITLE": "Retention API",
    "DESCRIPTION": (
        "Customers, imports, RFM segments, campaigns and the agent work queue. "
        "Authenticate with a session cookie (the web login) or `Authorization: Token <key>`. "
        "Endpoints marked supervisor-only answer 403 to agents."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Session and token auth come from DRF's authentication classes (cookieAuth, tokenAuth).
    # Choice sets whose field names collide across components get a stable name here.
    "ENUM_NAME_OVERRIDES": {
        "ImportKindEnum": "customers.models.ImportKind",
        "CampaignKindEnum": "campaigns.models.CampaignKind",
    },
}

# Celery: Redis broker in production; eager (in-process) when no broker is configured.
CELERY_TASK_ALWAYS_EAGER = env_bool(
    "CELERY_TASK_ALWAYS_EAGER", not os.environ.get("CELERY_BROKER_URL")
)
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 3600}
CELERY_BEAT_SCHEDULE: dict = {
    "resume-stalled-imports": {
        "task": "customers.tasks.import_resume_stalled",
        "schedule": 300.0,
    },
    "nightly-segmentation": {
        "task": "customers.tasks.segmentation_nightly",
        "schedule": crontab(hour=2, minute=0),  # in CELERY_TIMEZONE (Asia/Tokyo by default)
    },
    "nightly-category-affinity": {
        "task": "customers.tasks.category_affinity_rebuild",
        "schedule": crontab(hour=3, minute=0),  # after the 02:00 segmentation
    },
    "expire-abandoned-claims": {
        "task": "outreach.tasks.claims_expire",
        "schedule": 60.0,
    },
    "launch-due-campaigns": {
        "task": "outreach.tasks.campaigns_launch_due",
        "schedule": 300.0,
    },
    "send-due-emails": {
        "task": "outreach.tasks.email_campaigns_send_due",
        "schedule": 60.0,
    },
    "refresh-campaign-results": {
        "task": "campaigns.tasks.campaign_results_refresh_active",
        "schedule": 900.0,  # result pages say "as of" the snapshot time
    },
    "nightly-kpi-snapshots": {
        "task": "customers.tasks.kpi_snapshots_rebuild",
        "schedule": crontab(hour=3, minute=30),  # after segmentation, so dormant counts are current
    },
    "weekly-kpi-snapshots-full": {
        "task": "customers.tasks.kpi_snapshots_rebuild",
        "schedule": crontab(hour=4, minute=0, day_of_week="sun"),  # late-arriving history
        "kwargs": {"full": True},
    },
    "agent-daily-stats": {
        "task": "outreach.tasks.agent_daily_stats_refresh",
        "schedule": crontab(minute=20),  # hourly; the page reads today live
    },
}

# Import limits: a file larger than this, or with more rows, is refused with a clear message.
IMPORT_MAX_FILE_BYTES = int(os.environ.get("IMPORT_MAX_FILE_BYTES", str(2 * 1024**3)))
IMPORT_MAX_ROWS = int(os.environ.get("IMPORT_MAX_ROWS", "20000000"))
IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES = int(
    os.environ.get("IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES", str(1024**3))
)
IMPORT_XLSX_MAX_RATIO = int(os.environ.get("IMPORT_XLSX_MAX_RATIO", "200"))
IMPORT_BATCH_ROWS = int(os.environ.get("IMPORT_BATCH_ROWS", "100000"))
# A running import that has not reported progress for this long is treated as dead and re-run.
IMPORT_STALL_SECONDS = int(os.environ.get("IMPORT_STALL_SECONDS", "900"))
# How often a running import says it is alive while one long statement (the merge) runs.
IMPORT_HEARTBEAT_SECONDS = int(os.environ.get("IMPORT_HEARTBEAT_SECONDS", "60"))
# Outreach: how long an agent may hold a claimed member before it returns to the queue.
OUTREACH_CLAIM_MINUTES = int(os.environ.get("OUTREACH_CLAIM_MINUTES", "20"))
# E-mail marketing needs recorded consent. Set to 1 to treat a purchase history (an existing
# business relationship, 特定電子メール法 Art.3) as consent; an opt-out always wins.
OUTREACH_EMAIL_RELATIONSHIP_IS_CONSENT = os.environ.get(
    "OUTREACH_EMAIL_RELATIONSHIP_IS_CONSENT", "0"
) in ("1", "true", "True")
# This site's address as customers reach it: the unsubscribe link in every marketing e-mail.
OUTREACH_PUBLIC_URL = os.environ.get("OUTREACH_PUBLIC_URL", "http://127.0.0.1:8000")
# Members one e-mail batch task sends before it re-queues itself.
OUTREACH_EMAIL_BATCH_SIZE = int(os.environ.get("OUTREACH_EMAIL_BATCH_SIZE", "200"))
# Region assumed for phone numbers written without a country code.
DEFAULT_PHONE_REGION = os.environ.get("DEFAULT_PHONE_REGION", "JP")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
