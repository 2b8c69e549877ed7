from __future__ import annotations

from django.urls import path

from blueprints import views

app_name = "blueprints"

urlpatterns = [
    path("", views.blueprint_list, name="list"),
    path("new/", views.editor, name="new"),
    path("validate/", views.validate_fragment, name="validate"),
    path("<str:blueprint_id>/", views.blueprint_detail, name="detail"),
    path("<str:blueprint_id>/publish/", views.editor, name="publish"),
]
