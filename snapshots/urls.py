from __future__ import annotations

from django.urls import path

from snapshots import pages, views

app_name = "snapshots"

urlpatterns = [
    path("snapshots/<str:snapshot_id>/artifact", views.artifact, name="artifact"),
    # Dashboard pages (snapshots/pages.py)
    path("snapshots/", pages.snapshot_list, name="list"),
    path("snapshots/rows/", pages.snapshot_rows, name="rows"),
    path("snapshots/policies/", pages.policy_list, name="policies"),
    path("snapshots/policies/validate/", pages.policy_validate, name="policy-validate"),
    path("snapshots/<str:snap_id>/", pages.snapshot_detail, name="detail"),
    path("snapshots/<str:snap_id>/restore/", pages.snapshot_restore, name="restore"),
    path("snapshots/<str:snap_id>/delete/", pages.snapshot_delete, name="delete"),
    path("snapshots/<str:snap_id>/download/", pages.snapshot_download, name="download"),
    path("environments/<str:env_id>/snapshots/", pages.environment_snapshots, name="environment"),
]
