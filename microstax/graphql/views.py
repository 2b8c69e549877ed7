from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from strawberry.django.views import GraphQLView

from microstax.graphql.errors import unauthenticated
from microstax.lib.headers import GRAPHIQL_POLICY
from microstax.lib.limits import too_large


class MicroStaxGraphQLView(GraphQLView):
    """GraphQL over HTTP. Session requests go through Django's CSRF check; token requests are exempt
    (set by the token middleware). Anonymous POSTs are refused before any resolver runs."""

    def dispatch(self, request: HttpRequest, *args, **kwargs):
        if request.method == "POST" and not request.user.is_authenticated:
            error = unauthenticated()
            return JsonResponse(
                {"errors": [error.formatted]}, status=401, headers={"WWW-Authenticate": 'Bearer realm="microstax"'}
            )
        # A declared length is refused by RequestSizeLimitMiddleware; a chunked body is measured here.
        if request.method == "POST" and len(request.body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return too_large(request)
        return super().dispatch(request, *args, **kwargs)

    def render_graphql_ide(self, request: HttpRequest) -> HttpResponse:
        response = super().render_graphql_ide(request)
        response["Content-Security-Policy"] = GRAPHIQL_POLICY
        return response
