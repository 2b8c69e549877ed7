"""ASGI entry point: Django for HTTP; GraphQL subscriptions over WebSocket at /graphql."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "microstax.settings")
django_asgi = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.urls import re_path  # noqa: E402
from strawberry.channels import GraphQLWSConsumer  # noqa: E402

from microstax.graphql.schema import schema  # noqa: E402
from microstax.teams.channels import TokenAuthMiddleware  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The dashboard's few static files (CSS, htmx) from the app directories: daphne serves no
        # files itself, and a deployment then needs no extra web server or collectstatic volume.
        "http": ASGIStaticFilesHandler(django_asgi) if settings.MICROSTAX_SERVE_STATIC else django_asgi,
        # Origin checks are strawberry's: same-origin browser pages and non-browser clients (no
        # Origin header, e.g. the CLI with a token) are let in; other sites' pages are refused.
        "websocket": AuthMiddlewareStack(
            TokenAuthMiddleware(URLRouter([re_path(r"^graphql$", GraphQLWSConsumer.as_asgi(schema=schema))]))
        ),
    }
)
