"""The ClusterRole grants exactly what MicroStax does in the clusters it manages, and nothing more.

"What it does" is read off the code: every kind the renderers produce (environments, overlays with
every routing provider, snapshot transfers), every kind ``kube.apply`` orders and ``kube.prune``
lists, and every resource the adapter names for reads.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from environments.render import QuotaPolicy, render_environment, render_overlay
from microstax.deploy import rbac
from microstax.kube.apply import KIND_ORDER, PRUNABLE_KINDS
from snapshots.jobs import CAPTURE, RESTORE, Transfer, render_transfer, transfer_name
from tests.render.helpers import EVERYTHING, context, normalized
from tests.routing.overlays import BASE_NS, BASELINE, GATEWAY, inherited_from, overlay_context, overlay_spec

from .helpers import objects, one

KUBE = Path(__file__).parents[2] / "microstax" / "kube"
APPLIED = set(rbac.APPLIED)
GROUPS = {
    "v1": "",
    "apps/v1": "apps",
    "batch/v1": "batch",
    "networking.k8s.io/v1": "networking.k8s.io",
    "storage.k8s.io/v1": "storage.k8s.io",
    "gateway.networking.k8s.io/v1": "gateway.networking.k8s.io",
    "gateway.networking.k8s.io/v1beta1": "gateway.networking.k8s.io",
}
# Reads the adapter makes beyond what it applies: resource -> the verbs they need.
READS = {
    ("", "pods"): {"get", "list", "watch"},
    ("", "pods/log"): {"get"},
    ("", "events"): {"list"},
    ("apps", "replicasets"): {"list"},
    ("storage.k8s.io", "storageclasses"): {"get", "list"},
}


def plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith("y"):
        return lower[:-1] + "ies"
    return lower + ("es" if lower.endswith("s") else "s")


def resource_of(api_version: str, kind: str) -> tuple[str, str]:
    return GROUPS[api_version], plural(kind)


def rendered_kinds() -> set[tuple[str, str]]:
    """(apiVersion, kind) of everything the renderers can produce."""
    out = set()
    spec = normalized(EVERYTHING)
    for provider in ("traefik", "nginx", "gateway-api"):
        ctx = context(spec, routing_provider=provider, gateway=GATEWAY, quota=QuotaPolicy(pods=10, requests_cpu="4"))
        out |= {(o["apiVersion"], o["kind"]) for o in render_environment(spec, ctx).objects}
        overlay = overlay_spec("checkout")
        result = render_overlay(
            overlay,
            overlay_context(overlay, routing_provider=provider, gateway=GATEWAY),
            local=["checkout"],
            inherited=inherited_from(BASELINE, "checkout"),
            baseline_namespace=BASE_NS,
        )
        out |= {(o["apiVersion"], o["kind"]) for o in result.objects}
    db = next(s for s in spec["services"] if s.get("image", "").startswith("postgres"))
    for kind in (CAPTURE, RESTORE):
        transfer = Transfer(
            kind=kind,
            name=transfer_name(kind, "snap_ab12cd34", 1 if kind == RESTORE else None),
            service=db,
            url="https://msx.example.com/snapshots/snap_ab12cd34/artifact",
            token="t",
            image="ghcr.io/microstax/microstax:1.0.0",
            policy_yaml="name: p\n" if kind == CAPTURE else "",
        )
        out |= {(o["apiVersion"], o["kind"]) for o in render_transfer(context(spec), spec, transfer)}
    return out


@pytest.fixture(scope="module")
def kinds() -> set[tuple[str, str]]:
    return rendered_kinds()


def test_the_renderers_produce_only_kinds_apply_knows(kinds):
    assert {kind for _, kind in kinds} <= set(KIND_ORDER)
    # The sweep covers the routing providers and snapshot transfers, not just the plain stack.
    assert {"Deployment", "Job", "Ingress", "HTTPRoute", "ReferenceGrant", "NetworkPolicy", "ResourceQuota"} <= {
        kind for _, kind in kinds
    }


def test_every_rendered_kind_may_be_applied_awaited_and_pruned(kinds):
    for api_version, kind in kinds:
        if kind == "Namespace":
            continue
        group, resource = resource_of(api_version, kind)
        assert rbac.granted(group, resource) == APPLIED, f"{kind}: {rbac.granted(group, resource)}"


def test_every_kind_prune_lists_may_be_listed(kinds):
    for api_version, kind in PRUNABLE_KINDS:
        assert "list" in rbac.granted(*resource_of(api_version, kind)), kind


def test_kinds_microstax_never_creates_are_only_listed(kinds):
    rendered = {kind for _, kind in kinds}
    for api_version, kind in PRUNABLE_KINDS:
        if kind not in rendered:
            assert rbac.granted(*resource_of(api_version, kind)) == {"list"}, kind


def test_namespaces_are_managed_whole_but_never_updated_in_place():
    assert rbac.granted("", "namespaces") == {"get", "list", "watch", "create", "patch", "delete"}


def test_every_resource_the_adapter_reads_is_granted_exactly_those_reads():
    named = set()
    for path in KUBE.glob("*.py"):
        for api_version, kind in re.findall(r'resource\("([^"]+)", "([A-Z][A-Za-z]+)"\)', path.read_text()):
            named.add(resource_of(api_version, kind))
    assert named - {("", "namespaces")} <= set(READS)
    for (group, resource), verbs in READS.items():
        assert rbac.granted(group, resource) == verbs, resource


def test_nothing_is_granted_beyond_what_the_code_uses(kinds):
    needed = {resource_of(v, k) for v, k in kinds} | set(READS) | {("", "namespaces")}
    needed |= {resource_of(v, k) for v, k in PRUNABLE_KINDS}
    granted = {(rule.api_group, resource) for rule in rbac.RULES for resource in rule.resources}

    assert granted == needed


def test_no_wildcards_no_escalation_no_update_and_every_rule_justified():
    for rule in rbac.RULES:
        assert "*" not in rule.resources and "*" not in rule.verbs and rule.api_group != "*"
        assert set(rule.verbs) <= APPLIED
        assert len(rule.why) > 40
    role = one(objects(), "ClusterRole")
    assert role["rules"] == rbac.policy_rules()
    assert "aggregationRule" not in role
