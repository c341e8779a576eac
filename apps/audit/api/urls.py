from apps.audit.api import views
from apps.core.api.routers import tenant_router

router = tenant_router()
router.register("orgs/<slug:organization_slug>/audit", views.AuditEntryViewSet, basename="audit-entry")
urlpatterns = router.urls
