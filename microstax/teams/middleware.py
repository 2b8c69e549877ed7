from __future__ import annotations

from django.http import JsonResponse

from audit import context
from microstax.teams import throttle
from microstax.teams.actions import authenticate_token, record_authentication_failure


class ApiTokenMiddleware:
    """Authenticate ``Authorization: Bearer msx_…`` requests as the token's user.

    Token requests carry no cookies, so CSRF does not apply to them; a presented but invalid token
    is answered 401 at once (never silently downgraded to an anonymous request).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.api_token = None
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            secret = header[7:].strip()
            # Token guessing is throttled per client IP, and refused before the token is looked up.
            limit = throttle.ip_limit(request)
            wait = throttle.retry_after(limit)
            if wait:
                message = f"too many failed authentications from this address; retry in {wait} seconds"
                return JsonResponse(
                    {"errors": [{"message": message, "extensions": {"code": "RATE_LIMITED"}}]},
                    status=429,
                    headers={"Retry-After": str(wait)},
                )
            token = authenticate_token(secret)
            if token is None:
                throttle.record_failure(limit)
                record_authentication_failure(username="", method="token", reason="invalid, expired or revoked token")
                return JsonResponse(
                    {
                        "errors": [
                            {
                                "message": "invalid, expired or revoked API token",
                                "extensions": {"code": "UNAUTHENTICATED"},
                            }
                        ]
                    },
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="microstax"'},
                )
            request.user = token.user
            request.api_token = token
            request._dont_enforce_csrf_checks = True
            context.update(token_name=token.name)
        return self.get_response(request)
