from django.urls import path

from apps.alerting.api.views import AlertAnalyticsViewSet, AlertRuleViewSet, IncidentViewSet, SilenceViewSet
from apps.core.api.routers import tenant_router

ORG = "orgs/<slug:organization_slug>"
router = tenant_router()
router.register(f"{ORG}/projects/<slug:project_slug>/alert-rules", AlertRuleViewSet, basename="alert-rule")
router.register(f"{ORG}/incidents", IncidentViewSet, basename="incident")
router.register(f"{ORG}/silences", SilenceViewSet, basename="silence")
urlpatterns = [
    # One report, not a list of rows: a plain GET, so it is not paged.
    path(f"{ORG}/alert-analytics/", AlertAnalyticsViewSet.as_view({"get": "report"}), name="alert-analytics"),
    *router.urls,
]
