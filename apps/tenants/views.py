"""Tenancy pages: home, projects, ingest keys, organization settings, members, invitations.

Views are thin: they validate a form, call ``apps.tenants.services`` and
render. A ``TenancyError`` is shown as a form error with status 400; an
invalid form is re-rendered with its field errors (200, Django's convention).
Views with an object id in the URL name its ``model`` (the isolation tests
use it to address a real row).
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views import View

from apps.audit.services import Origin
from apps.core.reveal import stash_secret, take_secret
from apps.core.views import TenantView
from apps.tenants import queries, services
from apps.tenants.forms import (
    IngestKeyForm,
    InvitationSignupForm,
    InviteForm,
    OrganizationForm,
    ProjectForm,
    ProjectRenameForm,
    RoleForm,
)
from apps.tenants.invitations import send_invitation
from apps.tenants.middleware import LAST_ORGANIZATION_SESSION_KEY
from apps.tenants.models import IngestKey, Invitation, Membership
from apps.tenants.roles import Scope

_INGEST_KEY = "ingest_key"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The remembered organization's projects, else the first organization's; an empty state without any."""
    memberships = queries.memberships_of_user(request.user)
    if not memberships:
        return render(request, "tenants/home_empty.html")
    slugs = [m.organization.slug for m in memberships]
    remembered = request.session.get(LAST_ORGANIZATION_SESSION_KEY)
    slug = remembered if remembered in slugs else slugs[0]
    return redirect("tenants:projects", organization_slug=slug)


# --- Projects ---------------------------------------------------------------


class ProjectsView(TenantView):
    scope_map = {"GET": Scope.ORG_READ, "POST": Scope.PROJECTS_WRITE}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self._page(request, ProjectForm())

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        form = ProjectForm(request.POST)
        if form.is_valid():
            try:
                project = services.create_project(
                    self.access.organization_id,
                    request.user,
                    name=form.cleaned_data["name"],
                    slug=form.cleaned_data["slug"] or None,
                    origin=Origin.from_request(request),
                )
            except services.TenancyError as exc:
                form.add_error(None, str(exc))
                return self._page(request, form, status=400)
            messages.success(request, f"Project “{project.name}” created.")
            return redirect("tenants:projects", organization_slug=self.access.organization_slug)
        return self._page(request, form)

    def _page(self, request: HttpRequest, form: ProjectForm, status: int = 200) -> HttpResponse:
        context = {"projects": queries.projects_of(self.access.organization_id), "form": form}
        return render(request, "tenants/projects.html", context, status=status)


class ProjectSettingsView(TenantView):
    scope_map = {"GET": Scope.PROJECTS_WRITE, "POST": Scope.PROJECTS_WRITE}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self._page(request, ProjectRenameForm(initial={"name": self.access.project_name}))

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        form = ProjectRenameForm(request.POST)
        if not form.is_valid():
            return self._page(request, form)
        project = queries.project(self.access.organization_id, self._project_id())
        services.update_project(
            project, request.user, name=form.cleaned_data["name"], origin=Origin.from_request(request)
        )
        messages.success(request, f"Project renamed to “{project.name}”.")
        return redirect("tenants:projects", organization_slug=self.access.organization_slug)

    def _project_id(self) -> int:
        assert self.access.project_id is not None  # the URL has a project slug
        return self.access.project_id

    def _page(self, request: HttpRequest, form: ProjectRenameForm, status: int = 200) -> HttpResponse:
        project = queries.project(self.access.organization_id, self._project_id())
        return render(request, "tenants/project_settings.html", {"project": project, "form": form}, status=status)


class ProjectDeleteView(TenantView):
    """GET asks for confirmation; POST deletes the project with its keys and data."""

    scope_map = {"GET": Scope.PROJECTS_WRITE, "POST": Scope.PROJECTS_WRITE}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        org = self.access.organization_slug
        return render(
            request,
            "confirm.html",
            {
                "title": f"Delete project “{self.access.project_name}”?",
                "message": "Its ingest keys stop working at once and its telemetry is deleted. This cannot be undone.",
                "action": request.path,
                "button": "Delete project",
                "cancel": reverse("tenants:project-settings", args=[org, self.access.project_slug]),
            },
        )

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        assert self.access.project_id is not None
        project = queries.project(self.access.organization_id, self.access.project_id)
        services.delete_project(project, request.user, origin=Origin.from_request(request))
        messages.success(request, f"Project “{project.name}” deleted.")
        return redirect("tenants:projects", organization_slug=self.access.organization_slug)


# --- Ingest keys ------------------------------------------------------------


class IngestKeysView(TenantView):
    scope_map = {"GET": Scope.KEYS_WRITE, "POST": Scope.KEYS_WRITE}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self._page(request, IngestKeyForm())

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        form = IngestKeyForm(request.POST)
        if form.is_valid():
            assert self.access.project_id is not None
            project = queries.project(self.access.organization_id, self.access.project_id)
            try:
                issued = services.create_ingest_key(
                    project,
                    request.user,
                    name=form.cleaned_data["name"],
                    expires_at=form.cleaned_data["expires_at"],
                    origin=Origin.from_request(request),
                )
            except services.TenancyError as exc:
                form.add_error("expires_at", str(exc))
                return self._page(request, form, status=400)
            stash_secret(request, _INGEST_KEY, issued.key.pk, issued.plaintext)
            return redirect(
                "tenants:ingest-key-created",
                organization_slug=self.access.organization_slug,
                project_slug=self.access.project_slug,
            )
        return self._page(request, form)

    def _page(self, request: HttpRequest, form: IngestKeyForm, status: int = 200) -> HttpResponse:
        assert self.access.project_id is not None
        keys = queries.ingest_keys_of(self.access.organization_id, self.access.project_id)
        return render(request, "tenants/ingest_keys.html", {"keys": keys, "form": form}, status=status)


class IngestKeyCreatedView(TenantView):
    """Shows a new key's plaintext once; afterwards it sends back to the list, which shows only the prefix."""

    scope_map = {"GET": Scope.KEYS_WRITE}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        keys_url = reverse("tenants:ingest-keys", args=[self.access.organization_slug, self.access.project_slug])
        revealed = take_secret(request, _INGEST_KEY)
        key = None
        if revealed is not None:
            assert self.access.project_id is not None
            try:
                key = queries.ingest_key(self.access.organization_id, self.access.project_id, revealed.object_id)
            except IngestKey.DoesNotExist:
                key = None  # stashed for another project (two tabs): do not show it here
        if revealed is None or key is None:
            messages.info(request, "A new key is shown only once, right after it is created. Create another if needed.")
            return redirect(keys_url)
        response = render(
            request, "tenants/ingest_key_created.html", {"key": key, "plaintext": revealed.plaintext, "back": keys_url}
        )
        response["Cache-Control"] = "no-store"  # the back button must not bring the secret back from cache
        return response


class IngestKeyRevokeView(TenantView):
    model = IngestKey
    scope_map = {"POST": Scope.KEYS_WRITE}

    def post(self, request: HttpRequest, key_id: int, **kwargs: Any) -> HttpResponse:
        assert self.access.project_id is not None
        try:
            key = queries.ingest_key(self.access.organization_id, self.access.project_id, key_id)
        except IngestKey.DoesNotExist:
            messages.error(request, "That key does not exist in this project.")
        else:
            services.revoke_ingest_key(key, request.user, origin=Origin.from_request(request))
            messages.success(
                request, f"Key “{key.name}” ({key.prefix}…) revoked; it authenticates nothing from now on."
            )
        return redirect("tenants:ingest-keys", self.access.organization_slug, self.access.project_slug)


# --- Organization settings and members --------------------------------------


class OrganizationSettingsView(TenantView):
    scope_map = {"GET": Scope.ORG_READ, "POST": Scope.ORG_ADMIN}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self._page(request, OrganizationForm(initial={"name": self.access.organization_name}))

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        form = OrganizationForm(request.POST)
        if not form.is_valid():
            return self._page(request, form)
        services.update_organization(
            self.access.organization_id,
            request.user,
            name=form.cleaned_data["name"],
            origin=Origin.from_request(request),
        )
        messages.success(request, "Organization renamed.")
        return redirect("tenants:settings", organization_slug=self.access.organization_slug)

    def _page(self, request: HttpRequest, form: OrganizationForm, status: int = 200) -> HttpResponse:
        organization = queries.organization(self.access.organization_id)
        return render(request, "tenants/settings.html", {"organization": organization, "form": form}, status=status)


class _MembersPage(TenantView):
    """The members page, re-rendered by the member actions when the service refuses them."""

    def members_page(
        self, request: HttpRequest, *, invite_form: InviteForm | None = None, error: str = "", status: int = 200
    ) -> HttpResponse:
        organization_id = self.access.organization_id
        can_manage = Scope.MEMBERS_WRITE in self.access.scopes
        context = {
            "members": queries.members_of(organization_id),
            "invitations": queries.invitations_of(organization_id) if can_manage else [],
            "invite_form": invite_form or InviteForm(actor_role=self.access.role),
            "role_choices": RoleForm.base_fields["role"].choices,  # type: ignore[attr-defined]
            "can_manage": can_manage,
            "error": error,
        }
        return render(request, "tenants/members.html", context, status=status)


class MembersView(_MembersPage):
    scope_map = {"GET": Scope.ORG_READ}

    def get(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        return self.members_page(request)


class MemberRoleView(_MembersPage):
    model = Membership
    scope_map = {"POST": Scope.MEMBERS_WRITE}

    def post(self, request: HttpRequest, membership_id: int, **kwargs: Any) -> HttpResponse:
        form = RoleForm(request.POST)
        try:
            membership = queries.membership(self.access.organization_id, membership_id)
        except Membership.DoesNotExist:
            return self.members_page(request, error="That member is no longer in this organization.", status=404)
        if not form.is_valid():
            return self.members_page(request, error="Choose one of the listed roles.")
        try:
            services.change_role(
                membership,
                request.user,
                self.access.role,
                role=form.cleaned_data["role"],
                origin=Origin.from_request(request),
            )
        except services.TenancyError as exc:
            return self.members_page(request, error=str(exc), status=400)
        messages.success(request, f"{membership.user.get_username()} is now {membership.get_role_display()}.")
        return redirect("tenants:members", organization_slug=self.access.organization_slug)


class MemberRemoveView(_MembersPage):
    """GET asks for confirmation; POST removes the member."""

    model = Membership
    scope_map = {"GET": Scope.MEMBERS_WRITE, "POST": Scope.MEMBERS_WRITE}

    def get(self, request: HttpRequest, membership_id: int, **kwargs: Any) -> HttpResponse:
        try:
            membership = queries.membership(self.access.organization_id, membership_id)
        except Membership.DoesNotExist:
            return self.members_page(request, error="That member is no longer in this organization.", status=404)
        username = membership.user.get_username()
        return render(
            request,
            "confirm.html",
            {
                "title": f"Remove {username} from {self.access.organization_name}?",
                "message": f"{username} loses access at once; their API tokens here stop working.",
                "action": request.path,
                "button": "Remove member",
                "cancel": reverse("tenants:members", args=[self.access.organization_slug]),
            },
        )

    def post(self, request: HttpRequest, membership_id: int, **kwargs: Any) -> HttpResponse:
        try:
            membership = queries.membership(self.access.organization_id, membership_id)
            services.remove_member(membership, request.user, self.access.role, origin=Origin.from_request(request))
        except Membership.DoesNotExist:
            return self.members_page(request, error="That member is no longer in this organization.", status=404)
        except services.TenancyError as exc:
            return self.members_page(request, error=str(exc), status=400)
        messages.success(request, f"{membership.user.get_username()} was removed.")
        if membership.user_id == request.user.pk:
            return redirect("home")  # you removed yourself: this organization is no longer yours to see
        return redirect("tenants:members", organization_slug=self.access.organization_slug)


class InviteView(_MembersPage):
    scope_map = {"POST": Scope.MEMBERS_WRITE}

    def post(self, request: HttpRequest, **kwargs: Any) -> HttpResponse:
        form = InviteForm(request.POST, actor_role=self.access.role)
        if not form.is_valid():
            return self.members_page(request, invite_form=form)
        try:
            issued = services.invite_member(
                self.access.organization_id,
                request.user,
                self.access.role,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                origin=Origin.from_request(request),
            )
        except services.TenancyError as exc:
            form.add_error(None, str(exc))
            return self.members_page(request, invite_form=form, status=400)
        send_invitation(issued, self.access.organization_name, request.user)
        messages.success(request, f"Invitation sent to {issued.invitation.email}.")
        return redirect("tenants:members", organization_slug=self.access.organization_slug)


class InvitationRevokeView(_MembersPage):
    model = Invitation
    scope_map = {"POST": Scope.MEMBERS_WRITE}

    def post(self, request: HttpRequest, invitation_id: int, **kwargs: Any) -> HttpResponse:
        try:
            invitation = queries.invitation(self.access.organization_id, invitation_id)
        except Invitation.DoesNotExist:
            return self.members_page(request, error="That invitation does not exist.", status=404)
        services.revoke_invitation(invitation, request.user, origin=Origin.from_request(request))
        messages.success(request, f"Invitation for {invitation.email} revoked; its link no longer works.")
        return redirect("tenants:members", organization_slug=self.access.organization_slug)


# --- Accepting an invitation ------------------------------------------------


class AcceptInvitationView(View):
    """``/invitations/<token>/``: the link from the invitation email.

    Not a ``TenantView``: the visitor is not a member yet; the token alone
    names the organization. Unusable tokens answer 410 (known but used,
    revoked or expired) or 404 (never issued) with the reason, never a 500.
    """

    def get(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            invitation = services.find_invitation(token)
        except services.TenancyError as exc:
            return self._unusable(request, token, exc)
        return self._page(request, token, invitation, InvitationSignupForm(email=invitation.email))

    def post(self, request: HttpRequest, token: str) -> HttpResponse:
        try:
            invitation = services.find_invitation(token)
        except services.TenancyError as exc:
            return self._unusable(request, token, exc)
        origin = Origin.from_request(request)
        if request.user.is_authenticated:
            try:
                services.accept_invitation(token, request.user, origin=origin)
            except services.TenancyError as exc:  # already a member, or the link was used a moment ago
                return render(request, "error.html", {"status": 400, "message": str(exc)}, status=400)
            return self._joined(request, invitation)
        form = InvitationSignupForm(request.POST, email=invitation.email)
        if form.is_valid():
            try:
                # One transaction: an account is never left behind without the membership it was made for.
                with transaction.atomic():
                    user = services.create_user_for_invitation(
                        token, username=form.cleaned_data["username"], password=form.cleaned_data["password1"]
                    )
                    services.accept_invitation(token, user, origin=origin)
            except services.TenancyError as exc:
                form.add_error("username" if "username" in str(exc) else None, str(exc))
                return self._page(request, token, invitation, form, status=400)
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return self._joined(request, invitation)
        return self._page(request, token, invitation, form)

    def _joined(self, request: HttpRequest, invitation: Any) -> HttpResponse:
        organization = invitation.organization
        messages.success(request, f"Welcome to {organization.name}. You joined as {invitation.get_role_display()}.")
        return redirect("tenants:projects", organization_slug=organization.slug)

    def _page(
        self, request: HttpRequest, token: str, invitation: Any, form: InvitationSignupForm, status: int = 200
    ) -> HttpResponse:
        login_url = reverse("accounts:login") + "?" + urlencode({"next": request.path})
        context = {"invitation": invitation, "form": form, "login_url": login_url}
        return render(request, "tenants/accept_invitation.html", context, status=status)

    def _unusable(self, request: HttpRequest, token: str, exc: Exception) -> HttpResponse:
        status = 410 if queries.invitation_token_exists(token) else 404
        return render(request, "error.html", {"status": status, "message": str(exc)}, status=status)
