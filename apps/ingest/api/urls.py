from apps.core.api.routers import tenant_router
from apps.ingest.api import views

router = tenant_router()
router.register(
    "orgs/<slug:organization_slug>/projects/<slug:project_slug>/scrub-rules",
    views.ScrubRuleViewSet,
    basename="scrub-rule",
)
urlpatterns = router.urls
