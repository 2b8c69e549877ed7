from __future__ import annotations

from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("", views.event_list, name="events"),
    path("events/<int:sequence>/", views.event_detail, name="event"),
    path("export.csv", views.export_events, {"fmt": "csv"}, name="export-csv"),
    path("export.jsonl", views.export_events, {"fmt": "jsonl"}, name="export-jsonl"),
    path("environments/<str:env_id>/", views.environment_history, name="environment"),
    path("compliance/", views.compliance, name="compliance"),
    path("integrity/", views.integrity, name="integrity"),
]
