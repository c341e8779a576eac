from apps.accounts.api import views
from apps.core.api.routers import tenant_router

router = tenant_router()
router.register("orgs/<slug:organization_slug>/tokens", views.ApiTokenViewSet, basename="api-token")
urlpatterns = router.urls
