from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from microstax.graphql.schema import schema
from microstax.graphql.views import MicroStaxGraphQLView

urlpatterns = [
    path("graphql", MicroStaxGraphQLView.as_view(schema=schema), name="graphql"),
    path("admin/", admin.site.urls),
    path("", include("frontend.urls")),
]
