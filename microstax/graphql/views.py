from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from strawberry.django.views import GraphQLView

from microstax.graphql.errors import unauthenticated


class MicroStaxGraphQLView(GraphQLView):
    """GraphQL over HTTP. Session requests go through Django's CSRF check; token requests are exempt
    (set by the token middleware). Anonymous POSTs are refused before any resolver runs."""

    def dispatch(self, request: HttpRequest, *args, **kwargs):
        if request.method == "POST" and not request.user.is_authenticated:
            error = unauthenticated()
            return JsonResponse(
                {"errors": [error.formatted]}, status=401, headers={"WWW-Authenticate": 'Bearer realm="microstax"'}
            )
        return super().dispatch(request, *args, **kwargs)
