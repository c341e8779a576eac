from apps.core.api.routers import tenant_router
from apps.tracing.api import views

PROJECT = "orgs/<slug:organization_slug>/projects/<slug:project_slug>"
router = tenant_router()
router.register(f"{PROJECT}/traces", views.TraceViewSet, basename="trace")
router.register(f"{PROJECT}/services", views.ServiceViewSet, basename="service")
router.register(f"{PROJECT}/service-map", views.ServiceMapViewSet, basename="service-map")
urlpatterns = router.urls
