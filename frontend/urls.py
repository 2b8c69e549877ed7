from __future__ import annotations

from django.urls import path

from frontend import views

app_name = "frontend"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("teams/switch/", views.switch_team, name="switch-team"),
    path("teams/new/", views.create_team, name="team-create"),
    path("teams/<str:team_id>/", views.team_detail, name="team"),
    path("teams/<str:team_id>/rename/", views.rename_team, name="team-rename"),
    path("teams/<str:team_id>/policy/", views.team_policy, name="team-policy"),
    path("teams/<str:team_id>/members/add/", views.add_member, name="member-add"),
    path("teams/<str:team_id>/members/<str:username>/role/", views.set_role, name="member-role"),
    path("teams/<str:team_id>/members/<str:username>/remove/", views.remove_member, name="member-remove"),
    path("tokens/create/", views.create_token, name="token-create"),
    path("tokens/<str:token_id>/revoke/", views.revoke_token, name="token-revoke"),
]
