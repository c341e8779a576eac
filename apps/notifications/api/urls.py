from apps.core.api.routers import tenant_router
from apps.notifications.api.views import ChannelViewSet, ContactMethodViewSet

router = tenant_router()
router.register("orgs/<slug:organization_slug>/channels", ChannelViewSet, basename="channel")
router.register("orgs/<slug:organization_slug>/contact-methods", ContactMethodViewSet, basename="contact-method")
urlpatterns = router.urls
