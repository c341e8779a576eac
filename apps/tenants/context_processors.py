"""Navigation context for every page: the user's organizations, the current one's projects, the menus.

Values that need the database are lazy, so a page that does not draw the
navigation (the 500 page) never queries for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.utils.functional import SimpleLazyObject

from apps.core.access import TenantAccess
from apps.tenants.models import Membership, Project
from apps.tenants.queries import memberships_of_user, projects_of
from apps.tenants.roles import scopes_for

# Top navigation: label, URL name, and the URL names under which the link counts as the current section.
ORGANIZATION_LINKS = [
    ("Projects", "tenants:projects", {"tenants:projects"}),
    ("API tokens", "accounts:tokens", {"accounts:tokens", "accounts:token-created"}),
    ("Audit log", "audit:log", {"audit:log"}),
    ("Settings", "tenants:settings", {"tenants:settings", "tenants:members", "tenants:member-remove"}),
]
# A project's telemetry pages: in the bar; the administration links go in its "Manage" menu.
TELEMETRY_LINKS = [
    ("Services", "apm:services", {"apm:services", "apm:service"}),
    ("Traces", "apm:traces", {"apm:traces", "apm:trace", "apm:trace-compare"}),
    ("Service map", "apm:service-map", {"apm:service-map"}),
    ("Errors", "apm:errors", {"apm:errors", "apm:error"}),
    ("Dependencies", "apm:dependencies", {"apm:dependencies"}),
    ("Logs", "apm:logs", {"apm:logs"}),
    ("Metrics", "apm:metrics", {"apm:metrics"}),
    ("Alert rules", "alerting:rules", {"alerting:rules", "alerting:rule", "alerting:rule-new", "alerting:rule-edit"}),
]
# What responders open most: in the bar on every organization and project page.
RESPONDER_LINKS = [
    ("Incidents", "alerting:incidents", {"alerting:incidents", "alerting:incident"}),
    (
        "On-call",
        "oncall:schedules",
        {"oncall:schedules", "oncall:schedule", "oncall:schedule-create", "oncall:schedule-edit"},
    ),
]
# Alerting's configuration: in the "Manage" menu.
ALERTING_LINKS = [
    ("Alert analytics", "alerting:analytics", {"alerting:analytics"}),
    ("Silences", "alerting:silences", {"alerting:silences"}),
    ("Escalation policies", "oncall:policies", {"oncall:policies", "oncall:policy-create", "oncall:policy-edit"}),
    ("Routing rules", "oncall:rules", {"oncall:rules", "oncall:rule-create", "oncall:rule-edit"}),
    (
        "Channels",
        "notifications:channels",
        {"notifications:channels", "notifications:channel", "notifications:channel-new", "notifications:channel-edit"},
    ),
    (
        "My contact methods",
        "notifications:contact-methods",
        {"notifications:contact-methods", "notifications:contact-method-new"},
    ),
]
PROJECT_LINKS = [
    ("Ingest keys", "tenants:ingest-keys", {"tenants:ingest-keys", "tenants:ingest-key-created"}),
    ("PII scrubbing", "ingest:scrub-rules", {"ingest:scrub-rules"}),
    ("Project settings", "tenants:project-settings", {"tenants:project-settings", "tenants:project-delete"}),
]
# Pages the switchers keep when changing organization or project: they need no other URL argument.
_ORGANIZATION_PAGES = {"tenants:projects", "tenants:settings", "tenants:members", "accounts:tokens", "audit:log",
                       "alerting:incidents", "oncall:schedules"}  # fmt: skip
_PROJECT_PAGES = {
    "apm:services",
    "apm:traces",
    "apm:service-map",
    "apm:errors",
    "apm:dependencies",
    "apm:logs",
    "apm:metrics",
    "tenants:ingest-keys",
    "tenants:project-settings",
    "ingest:scrub-rules",
}


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    current: bool = False


def allowed_url(name: str, scopes: Iterable[str], **kwargs: str) -> str | None:
    """The URL of page ``name`` if a member with ``scopes`` may open it (its TenantView's GET scope), else None."""
    try:
        url = reverse(name, kwargs=kwargs)
        view_class = getattr(resolve(url).func, "view_class", None)
    except (NoReverseMatch, Resolver404):
        return None
    required = getattr(view_class, "scope_map", {}).get("GET")
    return url if required is not None and required in frozenset(scopes) else None


def _first_allowed(names: Iterable[str], scopes: Iterable[str], **kwargs: str) -> str | None:
    return next((url for name in names if (url := allowed_url(name, scopes, **kwargs))), None)


def _links(access: TenantAccess, current: str, table: list[tuple[str, str, set[str]]]) -> list[NavLink]:
    kwargs = {"organization_slug": access.organization_slug}
    if table in (TELEMETRY_LINKS, PROJECT_LINKS):
        if not access.project_slug:
            return []
        kwargs["project_slug"] = access.project_slug
    links = []
    for label, name, section in table:
        url = allowed_url(name, access.scopes, **kwargs)
        if url:
            links.append(NavLink(label, url, current in section))
    return links


def _navigation(access: TenantAccess, current: str) -> tuple[list[NavLink], list[NavLink]]:
    """(links in the bar, links in the "Manage" menu): on a project's pages its telemetry pages and the
    responders' pages are in the bar, the administration of the organization, its alerting and the project in
    the menu; on the organization's pages its administration and the responders' pages are in the bar and
    alerting's configuration in the menu."""
    pages = _links(access, current, TELEMETRY_LINKS)
    responders = _links(access, current, RESPONDER_LINKS)
    alerting = _links(access, current, ALERTING_LINKS)
    organization = _links(access, current, ORGANIZATION_LINKS)
    if pages:
        return pages + responders, organization + alerting + _links(access, current, PROJECT_LINKS)
    return organization + responders, alerting


def _organization_choices(memberships: list[Membership], access: TenantAccess | None, current: str) -> list[NavLink]:
    """One link per organization: the same kind of page there when the role there allows it, else its projects."""
    choices = []
    for membership in memberships:
        organization = membership.organization
        scopes = scopes_for(membership.role)
        names = [current, "tenants:projects"] if current in _ORGANIZATION_PAGES else ["tenants:projects"]
        url = _first_allowed(names, scopes, organization_slug=organization.slug)
        if url:
            is_current = access is not None and access.organization_id == organization.pk
            choices.append(NavLink(organization.name, url, is_current))
    return choices


def _project_choices(projects: list[Project], access: TenantAccess, current: str) -> list[NavLink]:
    """One link per project: the same project page for another project, else the first project page allowed."""
    names = [current] if current in _PROJECT_PAGES else []
    names += [name for _, name, _ in TELEMETRY_LINKS + PROJECT_LINKS]
    choices = []
    for project in projects:
        url = _first_allowed(
            names, access.scopes, organization_slug=access.organization_slug, project_slug=project.slug
        )
        if url:
            choices.append(NavLink(project.name, url, access.project_id == project.pk))
    return choices


def _lazy(factory: Callable[[], Any]) -> Any:
    return SimpleLazyObject(factory)


def tenant_navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    access: TenantAccess | None = getattr(request, "tenant_access", None)
    match = getattr(request, "resolver_match", None)
    current = match.view_name if match else ""
    memberships = _lazy(lambda: memberships_of_user(user))
    context: dict[str, Any] = {
        "nav_memberships": memberships,
        "tenant": access,
        "nav_organization_choices": _lazy(lambda: _organization_choices(list(memberships), access, current)),
    }
    if access is not None:
        projects = _lazy(lambda: projects_of(access.organization_id))
        context["nav_projects"] = projects
        context["nav_scopes"] = access.scopes
        navigation = _lazy(lambda: _navigation(access, current))
        context["nav_links"] = _lazy(lambda: navigation[0])
        context["nav_menu_links"] = _lazy(lambda: navigation[1])
        context["nav_project_choices"] = _lazy(lambda: _project_choices(list(projects), access, current))
    return context
