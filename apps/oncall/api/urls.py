from apps.core.api.routers import tenant_router
from apps.oncall.api import views

ORG = "orgs/<slug:organization_slug>"
router = tenant_router()
router.register(f"{ORG}/schedules", views.ScheduleViewSet, basename="schedule")
router.register(f"{ORG}/schedule-overrides", views.OverrideViewSet, basename="schedule-override")
router.register(f"{ORG}/on-call", views.OnCallViewSet, basename="on-call")
router.register(f"{ORG}/escalation-policies", views.PolicyViewSet, basename="escalation-policy")
router.register(f"{ORG}/routing-rules", views.RuleViewSet, basename="routing-rule")
urlpatterns = router.urls
