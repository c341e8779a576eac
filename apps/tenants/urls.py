"""Tenancy pages. ``home`` (``/``) is routed in ``config.urls``: it must not be namespaced."""

from django.urls import path

from apps.tenants import views

app_name = "tenants"
_ORG = "o/<slug:organization_slug>/"
_PROJECT = _ORG + "p/<slug:project_slug>/"

urlpatterns = [
    path(_ORG + "projects/", views.ProjectsView.as_view(), name="projects"),
    path(_PROJECT + "settings/", views.ProjectSettingsView.as_view(), name="project-settings"),
    path(_PROJECT + "delete/", views.ProjectDeleteView.as_view(), name="project-delete"),
    path(_PROJECT + "keys/", views.IngestKeysView.as_view(), name="ingest-keys"),
    path(_PROJECT + "keys/created/", views.IngestKeyCreatedView.as_view(), name="ingest-key-created"),
    path(_PROJECT + "keys/<int:key_id>/revoke/", views.IngestKeyRevokeView.as_view(), name="ingest-key-revoke"),
    path(_ORG + "settings/", views.OrganizationSettingsView.as_view(), name="settings"),
    path(_ORG + "settings/members/", views.MembersView.as_view(), name="members"),
    path(_ORG + "settings/members/<int:membership_id>/role/", views.MemberRoleView.as_view(), name="member-role"),
    path(_ORG + "settings/members/<int:membership_id>/remove/", views.MemberRemoveView.as_view(), name="member-remove"),
    path(_ORG + "settings/invitations/", views.InviteView.as_view(), name="invite"),
    path(
        _ORG + "settings/invitations/<int:invitation_id>/revoke/",
        views.InvitationRevokeView.as_view(),
        name="invitation-revoke",
    ),
    path("invitations/<str:token>/", views.AcceptInvitationView.as_view(), name="accept-invitation"),
]
