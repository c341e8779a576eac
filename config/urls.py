"""Every HTTP route. API routes live under /api/v1/ and are discovered by the isolation tests."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from apps.core import errors
from apps.tenants.views import home

api_v1 = [
    path("", include("apps.tenants.api.urls")),
    path("", include("apps.accounts.api.urls")),
    path("", include("apps.audit.api.urls")),
    path("", include("apps.tracing.api.urls")),
    path("", include("apps.tracing.api.sampling_urls")),
    path("", include("apps.ingest.api.urls")),
    path("", include("apps.logs.api.urls")),
    path("", include("apps.metrics.api.urls")),
    path("", include("apps.privacy.api.urls")),
    path("", include("apps.errors.api.urls")),
    path("", include("apps.notifications.api.urls")),
    path("", include("apps.oncall.api.urls")),
    path("", include("apps.alerting.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularRedocView.as_view(url_name="api:api-schema"), name="api-docs"),
]

urlpatterns = [
    path("api/v1/", include((api_v1, "api"), namespace="api")),
    # Not namespaced: settings.LOGIN_REDIRECT_URL names it "home".
    path("", home, name="home"),
    path("", include("apps.ops.urls")),
    path("", include("apps.accounts.urls", namespace="accounts")),
    path("", include("apps.tenants.urls", namespace="tenants")),
    path("", include("apps.audit.urls", namespace="audit")),
    path("", include("apps.ingest.urls", namespace="ingest")),
    path("", include("apps.apm.urls", namespace="apm")),
    path("", include("apps.notifications.urls", namespace="notifications")),
    path("", include("apps.oncall.urls", namespace="oncall")),
    path("", include("apps.alerting.urls", namespace="alerting")),
]

handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error
