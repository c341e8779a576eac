"""One error shape for the whole API: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.access import MissingScope, TenantNotFound
from apps.core.scoping import TenantScopeMissing

logger = logging.getLogger("vigil.api")

_CODES = {
    status.HTTP_400_BAD_REQUEST: "bad_request",
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE: "payload_too_large",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_422_UNPROCESSABLE_ENTITY: "unprocessable",
    status.HTTP_429_TOO_MANY_REQUESTS: "rate_limited",
}


def error_body(status_code: int, message: str, details: Any = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code or _CODES.get(status_code, "error"), "message": message, "details": details}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: map every known failure to the error shape.

    Unknown exceptions are logged and answered 500 with no internals.
    """
    if isinstance(exc, TenantNotFound | Http404):
        exc = exceptions.NotFound("Not found. Check the organization, project and object in the URL.")
    elif isinstance(exc, MissingScope):
        exc = exceptions.PermissionDenied(str(exc))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if isinstance(exc, exceptions.ValidationError):
        return Response(
            error_body(400, "The request body is invalid; see details for each field.", exc.detail, "invalid"),
            status=400,
        )
    response = drf_exception_handler(exc, context)
    if response is None:
        if isinstance(exc, TenantScopeMissing):
            logger.error("tenant scope missing in an API view", exc_info=exc)
        else:
            logger.exception("unhandled API error", exc_info=exc)
        return Response(error_body(500, "Internal error. It has been logged.", code="internal_error"), status=500)
    detail = getattr(exc, "detail", None)
    message = str(detail) if isinstance(detail, str) else "Request failed."
    response.data = error_body(response.status_code, message, detail if not isinstance(detail, str) else None)
    return response


def json_error_response(request: HttpRequest, status_code: int, message: str) -> JsonResponse:
    return JsonResponse(error_body(status_code, message), status=status_code)
