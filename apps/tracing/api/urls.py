from apps.core.api.routers import tenant_router
from apps.tracing.api import views

router = tenant_router()
router.register(
    "orgs/<slug:organization_slug>/projects/<slug:project_slug>/traces", views.TraceViewSet, basename="trace"
)
urlpatterns = router.urls
