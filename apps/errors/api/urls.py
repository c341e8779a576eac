from apps.core.api.routers import tenant_router
from apps.errors.api.views import ErrorGroupViewSet

router = tenant_router()
router.register(
    "orgs/<slug:organization_slug>/projects/<slug:project_slug>/errors", ErrorGroupViewSet, basename="error"
)
urlpatterns = router.urls
