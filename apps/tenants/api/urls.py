from django.urls import path

from apps.core.api.routers import tenant_router
from apps.tenants.api import views

ORG = "orgs/<slug:organization_slug>"
router = tenant_router()
router.register(f"{ORG}/projects", views.ProjectViewSet, basename="project")
router.register(f"{ORG}/members", views.MemberViewSet, basename="member")
router.register(f"{ORG}/invitations", views.InvitationViewSet, basename="invitation")
router.register(f"{ORG}/projects/<slug:project_slug>/keys", views.IngestKeyViewSet, basename="ingest-key")

urlpatterns = [
    path("orgs/", views.MyOrganizationsView.as_view(), name="organization-list"),
    path(
        f"{ORG}/",
        views.OrganizationViewSet.as_view({"get": "retrieve", "patch": "partial_update"}),
        name="organization-detail",
    ),
    *router.urls,
]
