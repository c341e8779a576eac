"""Refuse oversized request bodies before anything reads them."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.core.api.errors import error_body


class RequestSizeLimitMiddleware:
    """413 for a declared body above ``VIGIL_MAX_REQUEST_BYTES``.

    Django limits only form and ``request.body`` reads; DRF's parsers read the
    stream directly, so without this a client could post any amount of JSON.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.VIGIL_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body(400, "The Content-Length header is not a number."), status=400)
        if length > limit:
            message = f"The request body is {length} bytes; the limit is {limit} bytes. Send less per request."
            return JsonResponse(error_body(413, message), status=413)
        return self.get_response(request)
