"""Settings for a production deployment (see docs/deploy.md)."""

from config.settings.base import *  # noqa: F403
from config.settings.base import VAR_DIR
from config.settings.env import env_bool, env_int, env_list, env_required

SECRET_KEY = env_required("DJANGO_SECRET_KEY")
# Production never falls back to the embedded servers of `make run`.
env_required("DATABASE_URL")
env_required("REDIS_URL")
VIGIL_METRICS_ALLOW_LOOPBACK = env_bool("VIGIL_METRICS_ALLOW_LOOPBACK", False)
STATIC_ROOT = VAR_DIR / "staticfiles"  # filled by `manage.py collectstatic` at deploy time
ALLOWED_HOSTS = env_list("VIGIL_ALLOWED_HOSTS", [])
CSRF_TRUSTED_ORIGINS = env_list("VIGIL_CSRF_TRUSTED_ORIGINS", [])

# TLS terminates at the proxy in front of Vigil; it must set X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("VIGIL_SSL_REDIRECT", True)
# Load balancers and Prometheus probe over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("VIGIL_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_NAME = "__Host-vigil-session"
CSRF_COOKIE_NAME = "__Host-vigil-csrf"
X_FRAME_OPTIONS = "DENY"
