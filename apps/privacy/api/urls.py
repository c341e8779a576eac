from apps.core.api.routers import tenant_router
from apps.privacy.api import views

router = tenant_router()
router.register("orgs/<slug:organization_slug>/privacy", views.PrivacyViewSet, basename="privacy")
urlpatterns = router.urls
