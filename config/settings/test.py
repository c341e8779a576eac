"""Settings for pytest: the same real PostgreSQL and Redis, kept apart by prefixes."""

from config.settings.base import *  # noqa: F403
from config.settings.base import CACHES, CHANNEL_LAYERS, DATABASES

SECRET_KEY = "test-only-secret-key-not-for-anything-else-93a8d7b1c2"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CACHES["default"]["KEY_PREFIX"] = "vigil-test"
CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = "vigil-test:ws"
# Tasks run inline so tests see their effect; the tenant_task scoping runs all the same.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
# Connections close after each request, so the in-process ASGI server's threads hold none between tests.
DATABASES["default"]["CONN_MAX_AGE"] = 0
