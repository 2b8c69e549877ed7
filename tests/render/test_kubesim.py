"""Apply every wave to kubesim with the official client, as the adapter will, and see it converge.

Server-side apply goes through kubesim's admission (the OpenAPI schemas plus the API server's
semantic checks, quota and LimitRange), so a 422 here is a renderer bug or a kubesim gap.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kubernetes import client, dynamic

from environments.render import QuotaPolicy, RenderedEnvironment, Wave, render_environment
from microstax.kube import readiness
from microstax.kubesim import KubeSim

from .helpers import context, everything

WAVE_TIMEOUT = 15.0
QUOTA = QuotaPolicy(
    requests_cpu="8",
    requests_memory="16Gi",
    limits_cpu="16",
    limits_memory="32Gi",
    pods=30,
    requests_storage="50Gi",
    persistent_volume_claims=5,
)
RULES = {"Deployment": readiness.deployment, "Job": readiness.job}


@pytest.fixture
def sim() -> Iterator[KubeSim]:
    with KubeSim() as sim:
        yield sim
    assert not sim.errors, f"kubesim raised internally: {sim.errors!r}"


@pytest.fixture
def dyn(sim: KubeSim) -> Iterator[dynamic.DynamicClient]:
    """A DynamicClient over an ApiClient of its own (never the process-global configuration)."""
    configuration = client.Configuration()
    configuration.host = sim.url
    configuration.api_key = {"authorization": sim.config.token}
    configuration.api_key_prefix = {"authorization": "Bearer"}
    with client.ApiClient(configuration) as api:
        yield dynamic.DynamicClient(api)


def apply(dyn: dynamic.DynamicClient, wave: Wave) -> None:
    for obj in wave.objects:
        resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        dyn.server_side_apply(
            resource,
            body=obj,
            field_manager="microstax",
            namespace=obj["metadata"].get("namespace") if resource.namespaced else None,
            force_conflicts=True,
        )


def wait_ready(dyn: dynamic.DynamicClient, wave: Wave, namespace: str) -> None:
    """Watch the wave's Deployments and Jobs until each is ready by the adapter's own rules."""
    deadline = time.monotonic() + WAVE_TIMEOUT
    for kind, rule in RULES.items():
        pending = {obj["metadata"]["name"] for obj in wave.objects if obj["kind"] == kind}
        if not pending:
            continue
        resource = dyn.resources.get(api_version="apps/v1" if kind == "Deployment" else "batch/v1", kind=kind)
        while pending and time.monotonic() < deadline:
            timeout = max(1, int(deadline - time.monotonic()))
            for event in dyn.watch(resource, namespace=namespace, timeout=timeout):
                obj = event["object"].to_dict()
                name = obj["metadata"]["name"]
                verdict = rule(obj)
                assert verdict.state != readiness.State.FAILED, f"{kind}/{name}: {verdict}"
                if name in pending and verdict.state == readiness.State.READY:
                    pending.discard(name)
                if not pending:
                    break
        assert not pending, f"wave {wave.name}: {kind}s not ready in {WAVE_TIMEOUT}s: {sorted(pending)}"


def provision(dyn: dynamic.DynamicClient, result: RenderedEnvironment, namespace: str) -> list[str]:
    """Apply the waves in order, waiting where the wave says so; returns the wave names applied."""
    applied = []
    for wave in result.waves:
        apply(dyn, wave)
        if wave.wait:
            wait_ready(dyn, wave, namespace)
        applied.append(wave.name)
    return applied


@pytest.mark.parametrize("provider", ["traefik", "gateway-api"])
def test_kubesim_accepts_every_wave_and_the_environment_converges(sim, dyn, provider):
    # given the richest blueprint, under a quota, routed by the provider
    spec = everything()
    ctx = context(spec, quota=QUOTA, routing_provider=provider, gateway=("kube-system", "shared"))
    result = render_environment(spec, ctx)

    # when every wave is applied and awaited
    applied = provision(dyn, result, ctx.namespace)

    # then all of it exists, every Deployment is available and every seed Job completed
    assert applied == [wave.name for wave in result.waves]
    for obj in result.objects:
        resource = "namespaces" if obj["kind"] == "Namespace" else None
        plural = resource or dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"]).name
        namespace = "" if obj["kind"] == "Namespace" else ctx.namespace
        assert sim.get(plural, namespace, obj["metadata"]["name"]) is not None, obj["metadata"]["name"]
    for deployment in sim.list("deployments", ctx.namespace):
        assert readiness.deployment(deployment).state == readiness.State.READY
    jobs = sim.list("jobs", ctx.namespace)
    assert len(jobs) == 3
    assert all(readiness.job(job).state == readiness.State.READY for job in jobs)
    # the LimitRange filled in the seed and mock pods' resources, so the quota admitted them
    assert sim.get("resourcequotas", ctx.namespace, "microstax-quota")["status"]["used"]["pods"] != "0"


KINDS = ("secrets", "configmaps", "persistentvolumeclaims", "deployments", "services", "jobs", "ingresses")


def versions(sim: KubeSim, namespace: str) -> dict[tuple[str, str], str]:
    return {
        (kind, o["metadata"]["name"]): o["metadata"]["resourceVersion"]
        for kind in KINDS
        for o in sim.list(kind, namespace)
    }


def test_applying_the_same_render_again_changes_nothing(sim, dyn):
    # given a converged environment
    spec = everything()
    ctx = context(spec, quota=QUOTA)
    provision(dyn, render_environment(spec, ctx), ctx.namespace)
    assert sim.wait_idle()
    before = versions(sim, ctx.namespace)

    # when a fresh render of the same inputs is applied again
    for wave in render_environment(spec, ctx).waves:
        apply(dyn, wave)

    # then no object was rewritten: base64 Secret data, sorted env and fixed names are stable
    assert sim.wait_idle()
    assert versions(sim, ctx.namespace) == before
    plurals = {"Secret": "secrets", "ConfigMap": "configmaps", "PersistentVolumeClaim": "persistentvolumeclaims"}
    plurals |= {"Deployment": "deployments", "Service": "services", "Job": "jobs", "Ingress": "ingresses"}
    rendered = render_environment(spec, ctx).objects
    assert {(plurals[o["kind"]], o["metadata"]["name"]) for o in rendered if o["kind"] in plurals} <= set(before)
