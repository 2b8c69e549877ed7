from __future__ import annotations

from django.urls import path

from environments import views

app_name = "environments"

urlpatterns = [
    path("clusters/", views.cluster_list, name="clusters"),
]
