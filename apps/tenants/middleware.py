"""Remembers the organization of the last tenant page, so ``/`` can return there."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

LAST_ORGANIZATION_SESSION_KEY = "vigil_last_organization"


class RememberOrganizationMiddleware:
    """After a successful tenant HTML page, store its organization slug in the session.

    ``TenantView`` sets ``request.tenant_access`` only once access is granted, so
    only organizations the user belongs to are remembered. API requests are
    skipped: token clients have no session to write to.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        access = getattr(request, "tenant_access", None)
        if (
            access is not None
            and response.status_code < 400
            and not request.path.startswith("/api/")
            and request.session.get(LAST_ORGANIZATION_SESSION_KEY) != access.organization_slug
        ):
            request.session[LAST_ORGANIZATION_SESSION_KEY] = access.organization_slug
        return response
