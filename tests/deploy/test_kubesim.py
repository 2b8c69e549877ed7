"""The rendered deployment applied to kubesim with the unmodified official client (and kubectl)."""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
from typing import Any

import pytest
from kubernetes import client, dynamic

from microstax.deploy.output import to_yaml
from microstax.deploy.render import FIELD_MANAGER, SECRET_KEYS

from .helpers import objects, options

NAMESPACE = "microstax"


@pytest.fixture
def api(sim) -> client.ApiClient:
    cfg = client.Configuration()
    cfg.host = sim.url
    cfg.api_key = {"authorization": sim.config.token}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    with client.ApiClient(cfg) as api_client:
        yield api_client


def create_secret(core: client.CoreV1Api, namespace: str = NAMESPACE) -> None:
    """What the operator does before applying: the Secret the pods mount (test values)."""
    data = {key: base64.b64encode(f"test-{key}".encode()).decode() for key in SECRET_KEYS.values()}
    core.create_namespaced_secret(namespace, {"metadata": {"name": "microstax"}, "data": data})


def wait_until(check, seconds: float = 20.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def available(apps: client.AppsV1Api, name: str, namespace: str = NAMESPACE) -> bool:
    status = apps.read_namespaced_deployment_status(name, namespace).status
    conditions = {c.type: c.status for c in status.conditions or []}
    return conditions.get("Available") == "True" and status.available_replicas == status.replicas


def test_applied_with_the_official_client_everything_exists_and_the_deployments_become_available(api, tmp_path):
    # given the rendered objects, applied in order with server-side apply
    rendered = objects(replicas_web=2, replicas_worker=2)
    dyn = dynamic.DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
    core, apps, batch = client.CoreV1Api(api), client.AppsV1Api(api), client.BatchV1Api(api)
    for obj in rendered:
        resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        resource.server_side_apply(
            body=obj,
            namespace=obj["metadata"].get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        if obj["kind"] == "Namespace":
            create_secret(core)

    # then every object exists
    for obj in rendered:
        resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        live = resource.get(name=obj["metadata"]["name"], namespace=obj["metadata"].get("namespace"))
        assert live.metadata.labels["app.kubernetes.io/part-of"] == "microstax"
    # and the migrations Job completes, and both Deployments become available
    job = next(o["metadata"]["name"] for o in rendered if o["kind"] == "Job")
    assert wait_until(lambda: batch.read_namespaced_job_status(job, NAMESPACE).status.succeeded == 1)
    for name in ("microstax-web", "microstax-worker"):
        assert wait_until(lambda name=name: available(apps, name)), name
    pods = core.list_namespaced_pod(NAMESPACE, label_selector="app.kubernetes.io/component=web").items
    assert len([p for p in pods if p.status.phase == "Running"]) == 2
    service = core.read_namespaced_service("microstax-web", NAMESPACE)
    assert service.spec.cluster_ip
    binding = client.RbacAuthorizationV1Api(api).read_cluster_role_binding("microstax-control-plane")
    assert binding.subjects[0].name == "microstax"


def test_applying_twice_changes_nothing(api, tmp_path):
    dyn = dynamic.DynamicClient(api, cache_file=str(tmp_path / "discovery.json"))
    rendered = objects()
    versions = []
    for _ in range(2):
        applied = []
        for obj in rendered:
            resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
            live = resource.server_side_apply(
                body=obj, namespace=obj["metadata"].get("namespace"), field_manager=FIELD_MANAGER, force_conflicts=True
            )
            applied.append((obj["kind"], live.metadata.name, live.metadata.generation))
        versions.append(applied)

    assert versions[0] == versions[1]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_applies_the_rendered_yaml(sim, api, tmp_path):
    # given the command's YAML stream, as an operator would pipe it
    opts = options(namespace="platform")
    kubeconfig = tmp_path / "kubeconfig"
    sim.kubeconfig(str(kubeconfig))
    stream = to_yaml(opts, objects(namespace="platform"))

    # when kubectl applies it server-side
    done = subprocess.run(
        [
            "kubectl",
            "--kubeconfig",
            str(kubeconfig),
            "apply",
            "--server-side",
            "--field-manager",
            FIELD_MANAGER,
            "-f",
            "-",
        ],
        input=stream,
        capture_output=True,
        text=True,
        timeout=120,
    )

    # then every object was created
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("serverside-applied") == stream.count("\n---\n") + stream.startswith("---\n")
    create_secret(client.CoreV1Api(api), "platform")
    assert wait_until(lambda: available(client.AppsV1Api(api), "microstax-web", "platform"))
