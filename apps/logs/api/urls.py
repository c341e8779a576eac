from apps.core.api.routers import tenant_router
from apps.logs.api import views

router = tenant_router()
router.register("orgs/<slug:organization_slug>/projects/<slug:project_slug>/logs", views.LogViewSet, basename="log")
urlpatterns = router.urls
