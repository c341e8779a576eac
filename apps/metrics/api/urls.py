from apps.core.api.routers import tenant_router
from apps.metrics.api import views

router = tenant_router()
router.register(
    "orgs/<slug:organization_slug>/projects/<slug:project_slug>/metrics", views.MetricViewSet, basename="metric"
)
urlpatterns = router.urls
