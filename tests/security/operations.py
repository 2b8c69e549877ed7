"""How the authorization matrix calls each GraphQL operation against the world's objects.

Each entry is the document, its variables (from the world) and, for lists, the id that must be in
the answer for the call to count as ``allowed`` (absent: ``not_found``, the list was filtered).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.fixtures.blueprints import SHOP_V1, SHOP_V2
from tests.security.world import OVERLAY, POLICY, World


@dataclass(frozen=True)
class Call:
    document: str
    variables: Callable[[World], dict] = lambda w: {}
    expect_id: Callable[[World], str] | None = None
    # Puts the target in the state the operation starts from (inside the test's savepoint).
    prepare: Callable[[World], None] | None = None


def _set_state(state: str) -> Callable[[World], None]:
    def prepare(w: World) -> None:
        from environments.models import Environment

        Environment.objects.filter(public_id=w.env_id).update(state=state)

    return prepare


ERR = "errors { code message }"
ENV = f"environment {{ id }} {ERR}"

QUERIES: dict[str, Call] = {
    "viewer": Call("{ viewer { username } }"),
    "teams": Call("{ teams { edges { node { id } } } }", expect_id=lambda w: w.team_id),
    "team": Call("query($id: ID!) { team(id: $id) { id } }", lambda w: {"id": w.team_id}),
    "apiTokens": Call("{ apiTokens { edges { node { id } } } }", expect_id=lambda w: w.token_id),
    "validateBlueprint": Call("query($y: String!) { validateBlueprint(yaml: $y) { valid } }", lambda w: {"y": SHOP_V1}),
    "importCompose": Call(
        "query($y: String!) { importCompose(yaml: $y) { yaml } }",
        lambda w: {"y": "services:\n  web:\n    image: nginx\n"},
    ),
    "blueprints": Call("{ blueprints { edges { node { id } } } }", expect_id=lambda w: w.blueprint_id),
    "blueprint": Call("query($id: ID!) { blueprint(id: $id) { id } }", lambda w: {"id": w.blueprint_id}),
    "clusters": Call("{ clusters { name } }", expect_id=lambda w: w.cluster_name),
    "environments": Call("{ environments { edges { node { id } } } }", expect_id=lambda w: w.env_id),
    "baselines": Call("{ baselines { edges { node { id } } } }", expect_id=lambda w: w.baseline_id),
    "overlays": Call("query($b: ID!) { overlays(baseline: $b) { totalCount } }", lambda w: {"b": w.baseline_id}),
    "planEnvironment": Call(
        f"query($b: ID!, $y: String!) {{ planEnvironment(input: {{base: $b, yaml: $y}}) {{ {ERR} }} }}",
        lambda w: {"b": w.baseline_id, "y": OVERLAY},
    ),
    "environment": Call("query($id: ID!) { environment(id: $id) { id } }", lambda w: {"id": w.env_id}),
    "environmentLogs": Call(
        'query($id: ID!) { environmentLogs(id: $id, service: "api", tailLines: 1) { line } }',
        lambda w: {"id": w.env_id},
    ),
    "teamPolicy": Call("query($t: ID!) { teamPolicy(team: $t) { maxEnvironments } }", lambda w: {"t": w.team_id}),
    "teamCost": Call("query($t: ID!) { teamCost(team: $t) { currency } }", lambda w: {"t": w.team_id}),
    "estimateCost": Call(f"query($y: String!) {{ estimateCost(yaml: $y) {{ {ERR} }} }}", lambda w: {"y": SHOP_V1}),
    "snapshots": Call("{ snapshots { edges { node { id } } } }", expect_id=lambda w: w.snapshot_id),
    "snapshot": Call("query($id: ID!) { snapshot(id: $id) { id } }", lambda w: {"id": w.snapshot_id}),
    "sanitizationPolicies": Call("{ sanitizationPolicies { name } }", expect_id=lambda w: "payments-pii"),
    "auditEvents": Call(
        "query($t: String!) { auditEvents(filters: {team: $t}) { edges { node { id } } } }",
        lambda w: {"t": w.team_slug},
        expect_id=lambda w: f'"id": "{w.event_sequence}"',
    ),
    "auditEvent": Call("query($id: ID!) { auditEvent(id: $id) { id } }", lambda w: {"id": str(w.event_sequence)}),
    "verifyAudit": Call("{ verifyAudit { ok } }"),
    "complianceSummary": Call("{ complianceSummary { teams { team } } }", expect_id=lambda w: w.team_slug),
}

MUTATIONS: dict[str, Call] = {
    "createTeam": Call(
        f'mutation {{ createTeam(input: {{slug: "new-team", name: "New"}}) {{ team {{ id }} {ERR} }} }}'
    ),
    "renameTeam": Call(
        f'mutation($t: ID!) {{ renameTeam(input: {{team: $t, name: "Renamed"}}) {{ team {{ id }} {ERR} }} }}',
        lambda w: {"t": w.team_id},
    ),
    "addTeamMember": Call(
        f'mutation($t: ID!) {{ addTeamMember(input: {{team: $t, username: "oscar", role: VIEWER}}) {{ {ERR} }} }}',
        lambda w: {"t": w.team_id},
    ),
    "setMemberRole": Call(
        f'mutation($t: ID!) {{ setMemberRole(input: {{team: $t, username: "walter", role: DEVELOPER}}) {{ {ERR} }} }}',
        lambda w: {"t": w.team_id},
    ),
    "removeTeamMember": Call(
        f'mutation($t: ID!) {{ removeTeamMember(input: {{team: $t, username: "walter"}}) {{ {ERR} }} }}',
        lambda w: {"t": w.team_id},
    ),
    "createApiToken": Call(f'mutation {{ createApiToken(input: {{name: "matrix"}}) {{ secret {ERR} }} }}'),
    "revokeApiToken": Call(
        f"mutation($id: ID!) {{ revokeApiToken(input: {{id: $id}}) {{ {ERR} }} }}", lambda w: {"id": w.token_id}
    ),
    "createBlueprint": Call(
        "mutation($t: ID!, $y: String!) "
        f'{{ createBlueprint(input: {{team: $t, name: "shop2", yaml: $y}}) {{ {ERR} }} }}',
        lambda w: {"t": w.team_id, "y": SHOP_V1},
    ),
    "publishBlueprintVersion": Call(
        f"mutation($b: ID!, $y: String!) {{ publishBlueprintVersion(input: {{blueprint: $b, yaml: $y}}) {{ {ERR} }} }}",
        lambda w: {"b": w.blueprint_id, "y": SHOP_V2},
    ),
    "registerCluster": Call(
        "mutation($k: String!) "
        f'{{ registerCluster(input: {{name: "second", kubeconfig: $k, kind: "sandbox"}}) {{ {ERR} }} }}',
        lambda w: {"k": w.kubeconfig},
    ),
    "createEnvironment": Call(
        "mutation($t: ID!, $y: String!) "
        f'{{ createEnvironment(input: {{team: $t, yaml: $y, name: "other"}}) {{ {ENV} }} }}',
        lambda w: {"t": w.team_id, "y": SHOP_V1},
    ),
    "updateEnvironment": Call(
        f"mutation($id: ID!, $y: String!) {{ updateEnvironment(input: {{id: $id, yaml: $y}}) {{ {ENV} }} }}",
        lambda w: {"id": w.env_id, "y": SHOP_V2},
    ),
    "createBaseline": Call(
        "mutation($t: ID!, $y: String!) "
        f'{{ createBaseline(input: {{team: $t, yaml: $y, name: "base2"}}) {{ {ENV} }} }}',
        lambda w: {"t": w.team_id, "y": SHOP_V1},
    ),
    "createOverlay": Call(
        f"mutation($b: ID!, $y: String!) {{ createOverlay(input: {{base: $b, yaml: $y}}) {{ {ENV} }} }}",
        lambda w: {"b": w.baseline_id, "y": OVERLAY},
    ),
    "promoteEnvironment": Call(
        f"mutation($id: ID!) {{ promoteEnvironment(input: {{id: $id}}) {{ {ENV} }} }}", lambda w: {"id": w.env_id}
    ),
    "stopEnvironment": Call(
        f"mutation($id: ID!) {{ stopEnvironment(input: {{id: $id}}) {{ {ENV} }} }}", lambda w: {"id": w.env_id}
    ),
    "resumeEnvironment": Call(
        f"mutation($id: ID!) {{ resumeEnvironment(input: {{id: $id}}) {{ {ENV} }} }}",
        lambda w: {"id": w.env_id},
        prepare=_set_state("stopped"),
    ),
    "retryEnvironment": Call(
        f"mutation($id: ID!) {{ retryEnvironment(input: {{id: $id}}) {{ {ENV} }} }}",
        lambda w: {"id": w.env_id},
        prepare=_set_state("failed"),
    ),
    "deleteEnvironment": Call(
        f"mutation($id: ID!) {{ deleteEnvironment(input: {{id: $id}}) {{ {ENV} }} }}", lambda w: {"id": w.env_id}
    ),
    "scaleService": Call(
        f'mutation($id: ID!) {{ scaleService(input: {{id: $id, service: "api", replicas: 2}}) {{ {ENV} }} }}',
        lambda w: {"id": w.env_id},
    ),
    "extendEnvironment": Call(
        f'mutation($id: ID!) {{ extendEnvironment(input: {{id: $id, ttl: "72h"}}) {{ {ENV} }} }}',
        lambda w: {"id": w.env_id},
    ),
    "setAutoShutdown": Call(
        f"mutation($id: ID!) {{ setAutoShutdown(input: {{id: $id, enabled: false}}) {{ {ENV} }} }}",
        lambda w: {"id": w.env_id},
    ),
    "updateTeamPolicy": Call(
        f"mutation($t: ID!) {{ updateTeamPolicy(input: {{team: $t, maxEnvironments: 20}}) {{ {ERR} }} }}",
        lambda w: {"t": w.team_id},
    ),
    "createSnapshot": Call(
        f"mutation($e: ID!) {{ createSnapshot(input: {{environment: $e}}) {{ {ERR} }} }}", lambda w: {"e": w.env_id}
    ),
    "restoreSnapshot": Call(
        f"mutation($s: ID!, $e: ID!) {{ restoreSnapshot(input: {{snapshot: $s, environment: $e}}) {{ {ERR} }} }}",
        lambda w: {"s": w.snapshot_id, "e": w.env_id},
    ),
    "replayEnvironment": Call(
        f"mutation($e: ID!, $s: ID!) {{ replayEnvironment(input: {{environment: $e, snapshot: $s}}) {{ {ERR} }} }}",
        lambda w: {"e": w.env_id, "s": w.snapshot_id},
    ),
    "deleteSnapshot": Call(
        f"mutation($s: ID!) {{ deleteSnapshot(input: {{id: $s}}) {{ {ERR} }} }}", lambda w: {"s": w.snapshot_id}
    ),
    "shareSnapshot": Call(
        f"mutation($s: ID!, $t: ID!) {{ shareSnapshot(input: {{snapshot: $s, team: $t}}) {{ {ERR} }} }}",
        lambda w: {"s": w.snapshot_id, "t": w.other_team_id},
    ),
    "createSanitizationPolicy": Call(
        "mutation($t: ID!, $y: String!) "
        f'{{ createSanitizationPolicy(input: {{team: $t, name: "p2", yaml: $y}}) {{ {ERR} }} }}',
        lambda w: {"t": w.team_id, "y": POLICY.replace("payments-pii", "p2")},
    ),
    "validateSanitizationPolicy": Call(
        "mutation($y: String!) { validateSanitizationPolicy(yaml: $y) { valid } }", lambda w: {"y": POLICY}
    ),
}

SUBSCRIPTIONS: dict[str, Call] = {
    "environmentEvents": Call(
        "subscription($id: ID!) { environmentEvents(id: $id) { kind state } }", lambda w: {"id": w.env_id}
    ),
    "environmentLogs": Call(
        'subscription($id: ID!) { environmentLogs(id: $id, service: "api", tailLines: 1, follow: false) { line } }',
        lambda w: {"id": w.env_id},
    ),
}
