from __future__ import annotations

import re

from audit import context

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdMiddleware:
    """Give every request an id (honouring a well-formed ``X-Request-ID``) and a RequestContext."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else context.new_request_id()
        request.request_id = request_id
        token = context.set_current(
            context.RequestContext(
                request_id=request_id,
                ip=request.META.get("REMOTE_ADDR") or None,
                user_agent=request.headers.get("User-Agent", "")[:300],
            )
        )
        try:
            response = self.get_response(request)
        finally:
            context.reset(token)
        response["X-Request-ID"] = request_id
        return response
