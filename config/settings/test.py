"""Test settings: fast hashing, in-memory mail, a throw-away media folder."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Worker subprocesses started by tests are handed the parent's folder through the environment.
MEDIA_ROOT = Path(
    os.environ.get("DJANGO_MEDIA_ROOT") or tempfile.mkdtemp(prefix="retention-test-media-")
)
CELERY_TASK_ALWAYS_EAGER = True
# Tests that start a real worker switch eagerness off; the broker is the test Redis from the start
# so no connection pool is ever built for another broker.
CELERY_BROKER_URL = os.environ.get("TEST_CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# WhiteNoise warns about a missing STATIC_ROOT on every request; tests serve static files from the apps.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
STATIC_ROOT = MEDIA_ROOT / "static"
STATIC_ROOT.mkdir(exist_ok=True)
