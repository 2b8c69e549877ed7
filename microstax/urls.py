from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

from blueprints import views as blueprint_views
from microstax.deploy import views as deploy_views
from microstax.graphql.schema import schema
from microstax.graphql.views import MicroStaxGraphQLView

urlpatterns = [
    path("healthz", deploy_views.healthz, name="healthz"),
    path("livez", deploy_views.livez, name="livez"),
    path("graphql", MicroStaxGraphQLView.as_view(schema=schema), name="graphql"),
    path("admin/", admin.site.urls),
    path("schema/blueprint.json", blueprint_views.schema_json, name="blueprint-schema"),
    path("blueprints/", include("blueprints.urls")),
    path("", include("snapshots.urls")),
    path("", include("environments.urls")),
    path("audit/", include("audit.urls")),
    path("", include("frontend.urls")),
]
