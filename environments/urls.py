from __future__ import annotations

from django.urls import path

from environments import fleet_view, views, wake

app_name = "environments"

urlpatterns = [
    path("environments/", views.environment_list, name="list"),
    path("environments/rows/", views.environment_rows, name="rows"),
    path("environments/new/", views.environment_create, name="create"),
    path("environments/<str:env_id>/", views.environment_detail, name="detail"),
    path("environments/<str:env_id>/status/", views.environment_status, name="status"),
    path("environments/<str:env_id>/logs/", views.environment_logs, name="logs"),
    path("environments/<str:env_id>/actions/<str:action>/", views.environment_action, name="action"),
    path("environments/<str:env_id>/promote/", views.environment_promote, name="promote"),
    path("environments/<str:env_id>/overlays/new/", views.overlay_create, name="overlay-create"),
    path("clusters/", views.cluster_list, name="clusters"),
    path("fleet/", fleet_view.fleet_view, name="fleet"),
    path("wake/<str:env_id>/", wake.wake, name="wake"),
    path("wake/<str:env_id>/<str:service>/", wake.wake, name="wake-service"),
]
