"""Health endpoints for probes and load balancers: small, unauthenticated, and telling nothing secret."""

from __future__ import annotations

import logging

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Ready to serve: the database answers. 503 otherwise (the reason goes to the log, not the body,
    since a driver's message can name hosts and users)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        logger.warning("healthz: the database is unreachable", exc_info=True)
        return JsonResponse({"status": "unavailable", "checks": {"database": "unreachable"}}, status=503)
    return JsonResponse({"status": "ok", "checks": {"database": "ok"}})


@never_cache
@require_safe
def livez(request: HttpRequest) -> JsonResponse:
    """The process answers requests; no dependency is checked (a database outage must not restart pods)."""
    return JsonResponse({"status": "ok"})
