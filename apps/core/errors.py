"""Error pages: JSON under /api/, templates elsewhere; never a stack trace."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from apps.core.api.errors import error_body

_MESSAGES = {
    400: "The request could not be understood.",
    403: "You do not have permission to do this.",
    404: "Not found. Check the address.",
    500: "Something went wrong on our side. It has been logged.",
}


def _respond(request: HttpRequest, status: int, message: str | None = None) -> HttpResponse:
    text = message or _MESSAGES[status]
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(status, text), status=status)
    return render(request, "error.html", {"status": status, "message": text}, status=status)


def _message(exception: Any) -> str | None:
    text = str(exception) if exception is not None else ""
    # Django's own resolver messages are dicts meant for debugging; show only plain sentences.
    return text if text and not text.startswith("{") else None


def bad_request(request: HttpRequest, exception: Any = None) -> HttpResponse:
    return _respond(request, 400)


def permission_denied(request: HttpRequest, exception: Any = None) -> HttpResponse:
    return _respond(request, 403, _message(exception))


def page_not_found(request: HttpRequest, exception: Any = None) -> HttpResponse:
    return _respond(request, 404, _message(exception))


def server_error(request: HttpRequest) -> HttpResponse:
    return _respond(request, 500)
