"""Settings for the Celery worker that ``test_email_worker`` starts: the test settings, with
e-mail written to files the test reads, tasks really queued (re-queued batches go through
Redis too) and a queue of the test's own."""

import os

from config.settings.test import *  # noqa: F403

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ["TEST_EMAIL_FILE_PATH"]
CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = os.environ["TEST_CELERY_QUEUE"]
