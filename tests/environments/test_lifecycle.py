"""An environment's life on kubesim, through GraphQL: create → ready → stop → resume → delete."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from environments.models import Environment, Operation, TeamPolicy

STACK = """\
name: shop
ttl: 48h
services:
  - name: db
    image: postgres:16.3
    ports: ["5432"]
    secrets:
      - name: db-password
        envKey: POSTGRES_PASSWORD
        value: auto-generated
    volumes:
      - name: data
        mountPath: /var/lib/postgresql/data
        size: 1Gi
  - name: api
    image: ghcr.io/example/api:1.0.0
    ports: ["80:8080"]
    expose: true
    dependsOn: [db]
    resources: {cpu: 250m, memory: 256Mi}
"""

CREATE = """mutation($t: ID!, $y: String!) { createEnvironment(input: {team: $t, yaml: $y}) {
  environment { id name state namespace } operation { id kind } errors { code field message } } }"""
SHOW = """query($id: ID!) { environment(id: $id) { state stateReason namespace endpoints
  cluster { name simulated } services { name status reason readyReplicas desiredReplicas endpoints }
  operations { kind state error steps { name outcome } } } }"""


def _op(gql, user, mutation: str, env_id: str, **extra) -> dict:
    args = ", ".join([f'id: "{env_id}"'] + [f"{k}: {v}" for k, v in extra.items()])
    name = mutation
    body = gql(
        f"mutation {{ {name}(input: {{{args}}}) {{ environment {{ state }} errors {{ code message }} }} }}", user=user
    )
    return body["data"][name]


@pytest.fixture
def created(gql, team, owner, sandbox_cluster, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        data = gql(CREATE, {"t": team.public_id, "y": STACK}, user=owner)["data"]["createEnvironment"]
    assert data["errors"] == [], data
    return data["environment"]


def test_create_provisions_to_ready_with_services_endpoints_and_a_trace(gql, owner, created, sim):
    env = gql(SHOW, {"id": created["id"]}, user=owner)["data"]["environment"]
    assert env["state"] == "ready", env
    assert env["cluster"] == {"name": "sandbox", "simulated": True}
    assert {s["name"]: (s["status"], s["readyReplicas"]) for s in env["services"]} == {
        "api": ("ready", 1),
        "db": ("ready", 1),
    }
    assert env["endpoints"] == ["http://api-shop.sandbox.localhost"]
    steps = [s["name"] for s in env["operations"][0]["steps"]]
    assert steps[:2] == ["namespace", "render"] and "prune" in steps and steps[-1] == "endpoints"
    assert all(s["outcome"] == "ok" for s in env["operations"][0]["steps"])
    # the objects really are on the cluster, labelled as ours
    namespace = sim.get("namespaces", "", env["namespace"])
    assert namespace["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "microstax"
    assert sim.get("deployments", env["namespace"], "api")["status"]["readyReplicas"] == 1
    secret_objects = sim.list("secrets", env["namespace"])
    assert secret_objects, "the generated db password is stored as a Kubernetes Secret"


def test_stop_resume_and_delete(gql, owner, created, sim, django_capture_on_commit_callbacks):
    env_id, namespace = created["id"], created["namespace"]
    with django_capture_on_commit_callbacks(execute=True):
        assert _op(gql, owner, "stopEnvironment", env_id)["errors"] == []
    assert Environment.objects.get(public_id=env_id).state == "stopped"
    assert sim.get("deployments", namespace, "api")["spec"]["replicas"] == 0
    assert sim.get("persistentvolumeclaims", namespace, "db-data") is not None or sim.list(
        "persistentvolumeclaims", namespace
    ), "volumes are kept while stopped"

    with django_capture_on_commit_callbacks(execute=True):
        assert _op(gql, owner, "resumeEnvironment", env_id)["errors"] == []
    assert Environment.objects.get(public_id=env_id).state == "ready"
    assert sim.get("deployments", namespace, "api")["spec"]["replicas"] == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert _op(gql, owner, "deleteEnvironment", env_id)["errors"] == []
    env = Environment.objects.get(public_id=env_id)
    delete = env.operations.get(kind="delete")
    assert (env.state, delete.state) == ("deleted", "succeeded"), (delete.error, list(delete.steps.values()))
    assert env.deleted_at is not None
    assert sim.get("namespaces", "", namespace) is None
    assert [e.action for e in AuditEvent.objects.filter(target_id=env_id).order_by("sequence")] == [
        "environment.create",
        "environment.stop",
        "environment.resume",
        "environment.delete",
    ]


def test_a_missing_image_fails_with_the_reason_and_retry_is_possible(
    gql, team, owner, sandbox_cluster, django_capture_on_commit_callbacks
):
    broken = STACK.replace("ghcr.io/example/api:1.0.0", "ghcr.io/example/api:does-not-exist")
    with django_capture_on_commit_callbacks(execute=True):
        data = gql(CREATE, {"t": team.public_id, "y": broken}, user=owner)["data"]["createEnvironment"]
    env = gql(SHOW, {"id": data["environment"]["id"]}, user=owner)["data"]["environment"]
    assert env["state"] in ("failed", "degraded")
    assert "ImagePull" in env["stateReason"] or "ErrImagePull" in env["stateReason"]
    api = next(s for s in env["services"] if s["name"] == "api")
    assert api["status"] == "failed" and "Image" in api["reason"]
    assert env["operations"][0]["state"] == "failed"


def test_invalid_blueprints_and_quota_are_refused_without_trace(gql, team, owner, sandbox_cluster, no_trace):
    with no_trace():
        invalid = gql(CREATE, {"t": team.public_id, "y": "name: x\nservices: []\n"}, user=owner)
    assert invalid["data"]["createEnvironment"]["errors"][0]["code"] == "INVALID_BLUEPRINT"
    TeamPolicy.objects.create(team=team, max_cpu_millicores=100)
    with no_trace():
        over = gql(CREATE, {"t": team.public_id, "y": STACK}, user=owner)["data"]["createEnvironment"]
    assert over["errors"][0]["code"] == "QUOTA_EXCEEDED" and "250m" in over["errors"][0]["message"]


@pytest.mark.parametrize("persona", ["viewer", "outsider"])
def test_viewers_and_outsiders_cannot_create_or_operate(gql, created, request, other_team, no_trace, persona, team):
    user = request.getfixturevalue(persona)
    with no_trace(refused=3):
        create = gql(CREATE, {"t": team.public_id, "y": STACK}, user=user)["data"]["createEnvironment"]
        results = [_op(gql, user, m, created["id"]) for m in ("stopEnvironment", "deleteEnvironment")]
    expected = "PERMISSION_DENIED" if persona == "viewer" else "NOT_FOUND"
    assert create["errors"][0]["code"] == expected
    assert all(r["errors"][0]["code"] == expected for r in results)
    seen = gql(SHOW, {"id": created["id"]}, user=user)["data"]["environment"]
    assert (seen is not None) == (persona == "viewer")


def test_a_second_run_of_a_finished_operation_does_nothing(created):
    from environments.provisioning import run_operation

    operation = Operation.objects.get(environment__public_id=created["id"])
    assert run_operation(operation.pk).startswith("skipped")
