"""How the authorization matrix requests each dashboard URL against the world's objects.

A URL is named ``namespace:name`` as the resolver knows it. ``expect`` is text that must be on a
page for it to count as ``allowed`` (lists are filtered: absent means ``not_found``); ``effect``
tells whether a POST really changed something, since several forms answer a refusal with a
redirect and a message rather than a 403.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tests.fixtures.blueprints import SHOP_V2
from tests.security.world import POLICY, World


@dataclass(frozen=True)
class Page:
    path: Callable[[World], str]
    method: str = "GET"
    data: Callable[[World], dict] = field(default=lambda w: {})
    expect: Callable[[World], str] | None = None
    effect: Callable[[World], bool] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Signing out ends on the sign-in page: there, that redirect is the success.
    login_redirect_is_success: bool = False


def _team(w: World):
    from microstax.teams.models import Team

    return Team.objects.get(public_id=w.team_id)


def _policy(w: World):
    from environments.models import TeamPolicy

    return TeamPolicy.for_team(_team(w))


def _policy_form(w: World) -> dict:
    from environments.actions.policies import policy_snapshot

    return {**{k: v for k, v in policy_snapshot(_policy(w)).items() if v is not None}, "max_environments": 20}


def _env_state(w: World) -> str:
    from environments.models import Environment

    return Environment.objects.get(public_id=w.env_id).state


def _member_role(w: World, username: str) -> str | None:
    from microstax.teams.models import Membership

    return (
        Membership.objects.filter(team__public_id=w.team_id, user__username=username)
        .values_list("role", flat=True)
        .first()
    )


def _snapshot_state(w: World) -> str:
    from snapshots.models import Snapshot

    return Snapshot.objects.get(public_id=w.snapshot_id).state


def _restores(w: World) -> int:
    from snapshots.models import SnapshotRestore

    return SnapshotRestore.objects.filter(snapshot__public_id=w.snapshot_id).count()


def _token_revoked(w: World) -> bool:
    from microstax.teams.models import ApiToken

    return ApiToken.objects.get(public_id=w.token_id).revoked_at is not None


PAGES: dict[str, Page] = {
    "healthz": Page(lambda w: "/healthz"),
    "livez": Page(lambda w: "/livez"),
    "graphql": Page(lambda w: "/graphql", headers={"HTTP_ACCEPT": "text/html"}),
    "blueprint-schema": Page(lambda w: "/schema/blueprint.json"),
    "blueprints:list": Page(lambda w: "/blueprints/", expect=lambda w: w.blueprint_id),
    "blueprints:new": Page(lambda w: "/blueprints/new/"),
    "blueprints:validate": Page(lambda w: "/blueprints/validate/", "POST", lambda w: {"yaml": SHOP_V2}),
    "blueprints:detail": Page(lambda w: f"/blueprints/{w.blueprint_id}/"),
    "blueprints:publish": Page(lambda w: f"/blueprints/{w.blueprint_id}/publish/"),
    "snapshots:artifact": Page(lambda w: f"/snapshots/{w.snapshot_id}/artifact"),
    "snapshots:list": Page(lambda w: "/snapshots/", expect=lambda w: w.snapshot_id),
    "snapshots:rows": Page(lambda w: "/snapshots/rows/", expect=lambda w: w.snapshot_id),
    "snapshots:policies": Page(lambda w: "/snapshots/policies/", expect=lambda w: "payments-pii"),
    "snapshots:policy-validate": Page(lambda w: "/snapshots/policies/validate/", "POST", lambda w: {"yaml": POLICY}),
    "snapshots:detail": Page(lambda w: f"/snapshots/{w.snapshot_id}/"),
    "snapshots:restore": Page(
        lambda w: f"/snapshots/{w.snapshot_id}/restore/",
        "POST",
        lambda w: {"environment": w.env_id},
        effect=lambda w: _restores(w) > 0,
    ),
    "snapshots:delete": Page(
        lambda w: f"/snapshots/{w.snapshot_id}/delete/", "POST", effect=lambda w: _snapshot_state(w) != "ready"
    ),
    "snapshots:download": Page(lambda w: f"/snapshots/{w.snapshot_id}/download/"),
    "snapshots:environment": Page(lambda w: f"/environments/{w.env_id}/snapshots/"),
    "environments:list": Page(lambda w: "/environments/", expect=lambda w: w.env_id),
    "environments:rows": Page(lambda w: "/environments/rows/", expect=lambda w: w.env_id),
    "environments:create": Page(lambda w: "/environments/new/"),
    "environments:detail": Page(lambda w: f"/environments/{w.env_id}/"),
    "environments:status": Page(lambda w: f"/environments/{w.env_id}/status/"),
    "environments:logs": Page(lambda w: f"/environments/{w.env_id}/logs/?service=api"),
    "environments:action": Page(
        lambda w: f"/environments/{w.env_id}/actions/stop/", "POST", effect=lambda w: _env_state(w) != "ready"
    ),
    "environments:promote": Page(
        lambda w: f"/environments/{w.env_id}/promote/", "POST", effect=lambda w: _env_mode(w) == "baseline"
    ),
    "environments:overlay-create": Page(lambda w: f"/environments/{w.baseline_id}/overlays/new/"),
    "environments:clusters": Page(lambda w: "/clusters/", expect=lambda w: "sandbox.localhost"),
    "environments:fleet": Page(lambda w: "/fleet/"),
    "environments:wake": Page(lambda w: f"/wake/{w.env_id}/"),
    "environments:wake-service": Page(lambda w: f"/wake/{w.env_id}/api/"),
    "audit:events": Page(lambda w: "/audit/?team=payments", expect=lambda w: "team.create"),
    "audit:event": Page(lambda w: f"/audit/events/{w.event_sequence}/"),
    "audit:export-csv": Page(lambda w: "/audit/export.csv?team=payments", expect=lambda w: "team.create"),
    "audit:export-jsonl": Page(lambda w: "/audit/export.jsonl?team=payments", expect=lambda w: "team.create"),
    "audit:environment": Page(lambda w: f"/audit/environments/{w.env_id}/"),
    "audit:compliance": Page(lambda w: "/audit/compliance/", expect=lambda w: "payments"),
    "audit:integrity": Page(lambda w: "/audit/integrity/"),
    "frontend:home": Page(lambda w: "/"),
    "frontend:login": Page(lambda w: "/login/"),
    "frontend:logout": Page(lambda w: "/logout/", "POST", login_redirect_is_success=True),
    "frontend:switch-team": Page(lambda w: "/teams/switch/", "POST", lambda w: {"team": w.team_id, "next": "/"}),
    "frontend:team-create": Page(lambda w: "/teams/new/"),
    "frontend:team": Page(lambda w: f"/teams/{w.team_id}/"),
    "frontend:team-rename": Page(
        lambda w: f"/teams/{w.team_id}/rename/",
        "POST",
        lambda w: {"name": "Renamed"},
        effect=lambda w: _team(w).name == "Renamed",
    ),
    "frontend:team-policy": Page(
        lambda w: f"/teams/{w.team_id}/policy/",
        "POST",
        _policy_form,
        effect=lambda w: _policy(w).max_environments == 20,
    ),
    "frontend:member-add": Page(
        lambda w: f"/teams/{w.team_id}/members/add/",
        "POST",
        lambda w: {"username": "oscar", "role": "viewer"},
        effect=lambda w: _member_role(w, "oscar") is not None,
    ),
    "frontend:member-role": Page(
        lambda w: f"/teams/{w.team_id}/members/walter/role/",
        "POST",
        lambda w: {"role": "developer"},
        effect=lambda w: _member_role(w, "walter") == "developer",
    ),
    "frontend:member-remove": Page(
        lambda w: f"/teams/{w.team_id}/members/walter/remove/",
        "POST",
        effect=lambda w: _member_role(w, "walter") is None,
    ),
    "frontend:token-create": Page(lambda w: "/tokens/create/", "POST", lambda w: {"name": "matrix"}),
    "frontend:token-revoke": Page(lambda w: f"/tokens/{w.token_id}/revoke/", "POST", effect=_token_revoked),
}


def _env_mode(w: World) -> str:
    from environments.models import Environment

    return Environment.objects.get(public_id=w.env_id).mode
