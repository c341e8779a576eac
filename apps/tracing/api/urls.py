from django.urls import path

from apps.core.api.routers import tenant_router
from apps.tracing.api import dependencies, views

PROJECT = "orgs/<slug:organization_slug>/projects/<slug:project_slug>"
router = tenant_router()
router.register(f"{PROJECT}/traces", views.TraceViewSet, basename="trace")
router.register(f"{PROJECT}/services", views.ServiceViewSet, basename="service")
router.register(f"{PROJECT}/database-calls", dependencies.DatabaseCallViewSet, basename="database-call")
router.register(f"{PROJECT}/n-plus-one", dependencies.NPlusOneViewSet, basename="n-plus-one")
router.register(f"{PROJECT}/external-calls", dependencies.ExternalCallViewSet, basename="external-call")
router.register(f"{PROJECT}/code-timings", dependencies.CodeTimingViewSet, basename="code-timing")
urlpatterns = [
    # One graph, not a list of rows: a plain GET, so it is not paged.
    path(f"{PROJECT}/service-map/", views.ServiceMapViewSet.as_view({"get": "graph"}), name="service-map"),
    *router.urls,
]
