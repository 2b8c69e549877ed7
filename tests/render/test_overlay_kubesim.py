"""A baseline, its router and an overlay with bridges, applied to kubesim: all admitted, all ready.

Routed with Traefik: kubesim serves no ReferenceGrant (a Gateway API CRD), so the gateway-api
variant is covered by strict schema validation only (``test_overlay.py``).
"""

from __future__ import annotations

from kubernetes import dynamic

from environments.render import RenderedEnvironment, Wave, render_environment, render_overlay, render_routing
from microstax.kube import readiness
from microstax.kube.objects import matches_selector
from microstax.kubesim import KubeSim
from tests.routing.overlays import (
    A_NS,
    BASE_NS,
    BASELINE,
    OVERLAY_A,
    baseline_context,
    baseline_spec,
    inherited_from,
    overlay_context,
    overlay_spec,
)

from .test_kubesim import QUOTA, apply, dyn, provision, sim  # noqa: F401 - fixtures used by name

PLURALS = {
    "Namespace": "namespaces",
    "NetworkPolicy": "networkpolicies",
    "LimitRange": "limitranges",
    "ResourceQuota": "resourcequotas",
    "Secret": "secrets",
    "ConfigMap": "configmaps",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "Deployment": "deployments",
    "Service": "services",
    "Job": "jobs",
    "Ingress": "ingresses",
}


def assert_stored(cluster: KubeSim, objects: list[dict]) -> None:
    for obj in objects:
        namespace = obj["metadata"].get("namespace", "")
        stored = cluster.get(PLURALS[obj["kind"]], namespace, obj["metadata"]["name"])
        assert stored is not None, f"{obj['kind']}/{namespace}/{obj['metadata']['name']} was not stored"


def test_baseline_router_and_overlay_with_bridges_are_admitted_and_converge(sim, dyn: dynamic.DynamicClient):  # noqa: F811
    # given a converged baseline under a quota
    base_spec = baseline_spec()
    base_ctx = baseline_context(base_spec, quota=QUOTA)
    provision(dyn, render_environment(base_spec, base_ctx), BASE_NS)

    # when overlay A (changing checkout and storefront) is provisioned with bridges, its
    # allowances in the baseline's namespace are applied, and the baseline routes into it
    spec = overlay_spec("checkout", "storefront")
    ctx = overlay_context(spec, quota=QUOTA)
    overlay: RenderedEnvironment = render_overlay(
        spec,
        ctx,
        local=["checkout", "storefront"],
        inherited=inherited_from(BASELINE, "checkout", "storefront"),
        baseline_namespace=BASE_NS,
    )
    provision(dyn, overlay, A_NS)
    apply(dyn, Wave("provider", overlay.provider_objects[BASE_NS], wait=False))
    routes = {name: {"feat-a": OVERLAY_A, "feat-b": OVERLAY_A} for name in ("checkout", "storefront")}
    routing = render_routing(base_spec, base_ctx, routes)
    provision(dyn, routing, BASE_NS)

    # then every object exists and every Deployment in both namespaces is available
    assert_stored(sim, [*overlay.objects, *overlay.provider_objects[BASE_NS], *routing.objects])
    for namespace, expected in ((A_NS, {"checkout", "storefront"}), (BASE_NS, None)):
        deployments = sim.list("deployments", namespace)
        assert all(readiness.deployment(d).state == readiness.State.READY for d in deployments)
        if expected is not None:
            assert {d["metadata"]["name"] for d in deployments} == expected
    # the bridges are ExternalName Services to the baseline
    bridge = sim.get("services", A_NS, "catalog")
    assert bridge["spec"]["type"] == "ExternalName"
    assert bridge["spec"]["externalName"] == f"catalog.{BASE_NS}.svc.cluster.local"
    # the baseline's checkout Service now selects the running router pods, its origin the old pods
    pods = [p for p in sim.list("pods", BASE_NS) if p["status"].get("phase") == "Running"]
    service = sim.get("services", BASE_NS, "checkout")
    origin = sim.get("services", BASE_NS, "checkout-origin")
    routers = [
        p for p in pods if matches_selector({"matchLabels": service["spec"]["selector"]}, p["metadata"]["labels"])
    ]
    servers = [
        p for p in pods if matches_selector({"matchLabels": origin["spec"]["selector"]}, p["metadata"]["labels"])
    ]
    assert routers and all(p["spec"]["containers"][0]["image"] == "nginx:1.27-alpine" for p in routers)
    assert servers and all("checkout:" in p["spec"]["containers"][0]["image"] for p in servers)
    # the quota admitted the router pods with their explicit resources
    assert sim.get("resourcequotas", BASE_NS, "microstax-quota")["status"]["used"]["pods"] != "0"
