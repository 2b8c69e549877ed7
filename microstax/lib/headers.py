"""Security headers Django's own middleware does not set: a Content-Security-Policy and a
Permissions-Policy on every response, and X-Frame-Options on responses that never reach
``XFrameOptionsMiddleware`` (those answered by a middleware above it, such as a refused token).

The dashboard's policy allows scripts and styles from this origin only: its templates carry no
inline ``<script>``, ``<style>``, ``style=`` or ``on…=`` handlers, and htmx is configured (a
``<meta name="htmx-config">`` in the base template) to inject no styles and evaluate nothing.
Responses that are not HTML get a policy that allows nothing at all. A view that needs another
policy (GraphiQL loads its bundle from a CDN) sets the header itself and is left alone.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

DASHBOARD_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        # 'self' covers same-origin WebSockets (subscriptions) in CSP level 3 browsers.
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
NON_HTML_POLICY = "default-src 'none'; frame-ancestors 'none'"
# GraphiQL (strawberry's page): an inline bootstrap script and its bundle from unpkg.com.
GRAPHIQL_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline' https://unpkg.com",
        "style-src 'self' 'unsafe-inline' https://unpkg.com",
        "img-src 'self' data:",
        "font-src 'self' data: https://unpkg.com",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"


class SecurityHeadersMiddleware:
    """Add the headers above unless the response already carries them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            is_html = response.get("Content-Type", "").startswith("text/html")
            response["Content-Security-Policy"] = DASHBOARD_POLICY if is_html else NON_HTML_POLICY
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
