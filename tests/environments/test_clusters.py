"""Registering clusters: admins only, credentials encrypted and never shown, health read from /version."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audit.models import AuditEvent
from environments import actions
from environments.models import Cluster

REGISTER = """mutation($k: String!, $n: String!) { registerCluster(input: {name: $n, kubeconfig: $k, kind: "k3s",
  ingressDomain: "dev.example.com", isDefault: true}) { cluster { id name apiUrl health serverVersion simulated
  isDefault } errors { code field message } } }"""


def test_registered_cluster_reports_health_and_version(sandbox_cluster, sim):
    cluster = Cluster.objects.get(pk=sandbox_cluster.pk)
    assert cluster.health == "healthy" and cluster.server_version.startswith("v1.")
    assert cluster.api_url == sim.url and cluster.is_simulated and cluster.is_default


def test_credentials_are_encrypted_at_rest_and_absent_from_api_and_audit(gql, sim, admin_user):
    kubeconfig = sim.kubeconfig()
    data = gql(REGISTER, {"k": kubeconfig, "n": "k3s-dev"}, user=admin_user)["data"]["registerCluster"]
    assert data["errors"] == [] and data["cluster"]["health"] == "HEALTHY".lower()
    row = Cluster.objects.get(name="k3s-dev")
    token = sim.config.token
    assert token not in row.credentials_encrypted and row.credentials()["kubeconfig"] == kubeconfig
    listed = gql("{ clusters { name apiUrl health simulated } }", user=admin_user)
    assert token not in json.dumps(listed)
    assert token not in json.dumps(list(AuditEvent.objects.values()), default=str)
    assert AuditEvent.objects.get(action="cluster.register").after["name"] == "k3s-dev"


def test_unreachable_clusters_are_registered_as_unreachable(admin_user, sim):
    kubeconfig = sim.kubeconfig().replace(sim.url, "http://127.0.0.1:9")
    cluster = actions.register_cluster(actor=admin_user, name="down", kubeconfig=kubeconfig)
    assert cluster.health == "unreachable" and cluster.health_detail


@pytest.mark.parametrize(
    ("kubeconfig", "context", "field"),
    [
        ("", None, "kubeconfig"),
        ("clusters: [", None, "kubeconfig"),
        ("kind: Pod", None, "kubeconfig"),
        (None, "nope", "context"),
    ],
)
def test_bad_kubeconfigs_are_refused_with_the_field_and_nothing_written(
    gql, sim, admin_user, no_trace, kubeconfig, context, field
):
    text = sim.kubeconfig() if kubeconfig is None else kubeconfig
    with no_trace():
        data = gql(
            'mutation($k: String!, $c: String) { registerCluster(input: {name: "x", kubeconfig: $k, '
            "context: $c}) { errors { code field } } }",
            {"k": text, "c": context},
            user=admin_user,
        )["data"]["registerCluster"]
    assert data["errors"] == [{"code": "INVALID", "field": field}]


@pytest.mark.parametrize("persona", ["owner", "viewer", "outsider"])
def test_only_platform_admins_register_clusters(gql, sim, team, request, no_trace, persona):
    user = request.getfixturevalue(persona)
    with no_trace():
        data = gql(REGISTER, {"k": sim.kubeconfig(), "n": "x"}, user=user)["data"]["registerCluster"]
    assert data["errors"][0]["code"] == "PERMISSION_DENIED"


def test_register_cluster_command(sim, admin_user, tmp_path, capsys):
    path = tmp_path / "kubeconfig"
    sim.kubeconfig(path, context="lab")
    call_command("register_cluster", "--kubeconfig", str(path), "--kind", "generic")
    assert "registered cluster lab" in capsys.readouterr().out
    assert Cluster.objects.get(name="lab").health == "healthy"
    with pytest.raises(CommandError, match="already registered"):
        call_command("register_cluster", "--kubeconfig", str(path))
    with pytest.raises(CommandError, match="context 'other' is not in the kubeconfig"):
        call_command("register_cluster", "--kubeconfig", str(path), "--context", "other")


def test_clusters_page_marks_the_sandbox_simulated_and_only_admins_get_the_form(client, sandbox_cluster, owner):
    client.force_login(owner)
    page = client.get("/clusters/").content.decode()
    assert "simulated" in page and "sandbox" in page and "Register a cluster" not in page
    assert sandbox_cluster.credentials()["kubeconfig"] not in page


def test_admin_registers_a_cluster_from_the_dashboard(client, sim, admin_user):
    client.force_login(admin_user)
    response = client.post("/clusters/", {"name": "web-made", "kind": "k3s", "kubeconfig": sim.kubeconfig()})
    assert response.status_code == 302
    assert Cluster.objects.get(name="web-made").health == "healthy"
    bad = client.post("/clusters/", {"name": "bad", "kind": "k3s", "kubeconfig": "kind: Pod"})
    assert bad.status_code == 400 and "not a kubeconfig" in bad.content.decode()
