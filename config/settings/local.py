"""Settings for `make run` on a developer machine (the default)."""

from config.settings.base import *  # noqa: F403
from config.settings.env import env_bool, env_str

DEBUG = env_bool("VIGIL_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "insecure-local-only-key-do-not-use-in-production-6c1f0e")
EMAIL_BACKEND = env_str("VIGIL_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
