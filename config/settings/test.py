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
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
