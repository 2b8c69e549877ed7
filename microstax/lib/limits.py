"""Request size limits answered clearly: a POST whose declared body is over
``DATA_UPLOAD_MAX_MEMORY_SIZE`` (``MICROSTAX_MAX_REQUEST_BYTES``) gets a 413 naming the limit,
before any middleware reads it (Django would otherwise answer a bare 400 from deep inside
``request.POST``). Streams are not affected: the snapshot artifact transfer uses PUT and has its
own limit (``MICROSTAX_SNAPSHOT_MAX_BYTES``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse


def declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def too_large(request: HttpRequest) -> HttpResponse:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    message = (
        f"the request body is larger than this server accepts ({limit:,} bytes; MICROSTAX_MAX_REQUEST_BYTES). "
        "Blueprints and sanitization policies are limited to 1 MiB of YAML."
    )
    if request.content_type == "application/json" or "json" in request.headers.get("Accept", ""):
        return JsonResponse({"errors": [{"message": message, "extensions": {"code": "REQUEST_TOO_LARGE"}}]}, status=413)
    return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")


class RequestSizeLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and declared_length(request) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return too_large(request)
        return self.get_response(request)
