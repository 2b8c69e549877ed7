"""``render_overlay``: local services in full, bridges to inherited ones, policies on both sides."""

from __future__ import annotations

import pytest

from environments.render import ProviderRef, RenderError, render_overlay
from environments.render.router import ROUTER_FOR
from microstax.kube.labels import ENVIRONMENT, SERVICE, SPEC_HASH
from tests.routing.overlays import (
    A_NS,
    BASE_NS,
    BASELINE,
    C_NS,
    GATEWAY,
    OVERLAY_A,
    SERVICES,
    assert_all_valid,
    inherited_from,
    named,
    overlay_context,
    overlay_spec,
)

from .helpers import SCHEMA_VERSIONS

PROVIDERS = ("traefik", "nginx", "gateway-api")


def render(*, provider: str = "traefik", baseline_namespace: str | None = BASE_NS, **overrides):
    spec = overlay_spec("checkout")
    ctx = overlay_context(spec, routing_provider=provider, gateway=GATEWAY, **overrides)
    return render_overlay(
        spec,
        ctx,
        local=["checkout"],
        inherited=inherited_from(BASELINE, "checkout"),
        baseline_namespace=baseline_namespace,
    )


@pytest.fixture(scope="module")
def result():
    return render()


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_overlay_object_and_provider_object_validates_strictly(provider, version):
    result = render(provider=provider)

    assert_all_valid(result, version)


def test_rendering_is_deterministic_whatever_the_input_order():
    spec = overlay_spec("checkout", "cart")
    ctx = overlay_context(spec)
    inherited = inherited_from(BASELINE, "checkout", "cart")

    first = render_overlay(spec, ctx, local=["checkout", "cart"], inherited=inherited, baseline_namespace=BASE_NS)
    again = render_overlay(
        spec,
        ctx,
        local=("cart", "checkout"),
        inherited=dict(reversed(list(inherited.items()))),
        baseline_namespace=BASE_NS,
    )

    assert first == again
    assert all(SPEC_HASH in obj["metadata"]["annotations"] for obj in first.objects)


def test_only_local_services_get_workloads(result):
    assert set(named(result.objects, "Deployment")) == {"checkout"}
    assert not named(result.objects, "Secret")  # payments' and db's secrets stay with the baseline
    assert not named(result.objects, "Job")  # and so does db's seed
    assert not named(result.objects, "PersistentVolumeClaim")


def test_every_inherited_service_is_bridged_to_its_provider_service(result):
    services = named(result.objects, "Service")

    bridges = {name: svc for name, svc in services.items() if svc["spec"]["type"] == "ExternalName"}
    assert set(bridges) == set(SERVICES) - {"checkout"}
    assert bridges["catalog"]["spec"] == {
        "type": "ExternalName",
        "externalName": f"catalog.{BASE_NS}.svc.cluster.local",
        "ports": [{"name": "tcp-8080", "port": 8080, "targetPort": 8080, "protocol": "TCP"}],
    }
    assert bridges["db"]["spec"]["externalName"] == f"db.{BASE_NS}.svc.cluster.local"
    assert services["checkout"]["spec"]["type"] == "ClusterIP"
    # bridges belong to their service and to the overlay, so status and prune find them
    assert bridges["cart"]["metadata"]["labels"][SERVICE] == "cart"
    assert bridges["cart"]["metadata"]["labels"][ENVIRONMENT] == "env_a"
    assert [ref.kind for ref in result.services["cart"]] == ["Service"]


def test_a_chained_overlay_bridges_each_service_to_its_nearest_provider():
    # given C over A over the baseline: A changed checkout, C changes cart
    spec = overlay_spec("cart")
    ctx = overlay_context(spec, namespace=C_NS, environment_id="env_c", environment_slug="feat-c")
    inherited = inherited_from(BASELINE, "cart") | {"checkout": OVERLAY_A}

    result = render_overlay(spec, ctx, local=["cart"], inherited=inherited, baseline_namespace=BASE_NS)

    services = named(result.objects, "Service")
    assert services["checkout"]["spec"]["externalName"] == f"checkout.{A_NS}.svc.cluster.local"
    assert services["catalog"]["spec"]["externalName"] == f"catalog.{BASE_NS}.svc.cluster.local"
    assert set(result.provider_objects) == {A_NS, BASE_NS}
    # routers only live in baselines, so nothing is opened towards router pods in A
    assert sorted(named(result.provider_objects[A_NS], "NetworkPolicy")) == ["allow-env-feat-c-to-checkout"]
    egress = named(result.objects, "NetworkPolicy")["allow-bridge-checkout"]["spec"]["egress"]
    assert [peer["podSelector"]["matchLabels"] for peer in egress[0]["to"]] == [
        {"app.kubernetes.io/component": "server", SERVICE: "checkout"}
    ]


def test_bridge_egress_reaches_exactly_the_provider_pods_of_the_service_on_its_ports(result):
    policy = named(result.objects, "NetworkPolicy")["allow-bridge-catalog"]

    assert policy["metadata"]["namespace"] == A_NS
    assert policy["spec"] == {
        "podSelector": {},
        "egress": [
            {
                "to": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": BASE_NS}},
                        "podSelector": {"matchLabels": {"app.kubernetes.io/component": "server", SERVICE: "catalog"}},
                    },
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": BASE_NS}},
                        "podSelector": {
                            "matchLabels": {"app.kubernetes.io/component": "router", ROUTER_FOR: "catalog"}
                        },
                    },
                ],
                "ports": [{"port": 8080, "protocol": "TCP"}],
            }
        ],
        "policyTypes": ["Egress"],
    }


def test_the_provider_namespace_gets_ingress_allowances_labelled_as_the_overlay(result):
    objects = result.provider_objects[BASE_NS]
    policies = named(objects, "NetworkPolicy")

    assert set(policies) == {f"allow-{A_NS}-to-{name}" for name in SERVICES if name != "checkout"} | {
        f"allow-{A_NS}-to-{name}-router" for name in SERVICES if name != "checkout"
    }
    db = policies[f"allow-{A_NS}-to-db"]
    assert db["metadata"]["namespace"] == BASE_NS
    # the overlay's labels: pruned with the overlay, never mistaken for the baseline's objects
    assert db["metadata"]["labels"][ENVIRONMENT] == "env_a"
    assert SPEC_HASH in db["metadata"]["annotations"]
    assert db["spec"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/component": "server", SERVICE: "db"}},
        "ingress": [
            {
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": A_NS}}}],
                "ports": [{"port": 5432, "protocol": "TCP"}],
            }
        ],
        "policyTypes": ["Ingress"],
    }
    router = policies[f"allow-{A_NS}-to-db-router"]["spec"]["podSelector"]
    assert router == {"matchLabels": {"app.kubernetes.io/component": "router", ROUTER_FOR: "db"}}
    assert not any(obj["metadata"]["namespace"] != BASE_NS for obj in objects)


def test_bridges_are_in_place_before_the_first_local_pod_starts(result):
    names = [wave.name for wave in result.waves]

    assert names[:2] == ["foundation", "bridges"]
    assert names.index("bridges") < names.index("services-0")
    foundation = result.waves[0]
    assert {"allow-bridge-db", "allow-router-checkout"} <= {obj["metadata"]["name"] for obj in foundation.objects}


def test_a_routed_overlay_admits_the_baseline_router_and_the_ingress_controller(result):
    policies = named(result.objects, "NetworkPolicy")

    router = policies["allow-router-checkout"]["spec"]
    assert router["podSelector"] == {"matchLabels": {"app.kubernetes.io/component": "server", SERVICE: "checkout"}}
    assert router["ingress"] == [
        {
            "from": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": BASE_NS}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/component": "router", ROUTER_FOR: "checkout"}},
                }
            ],
            "ports": [{"port": 8080, "protocol": "TCP"}],
        }
    ]
    assert "allow-ingress-checkout" in policies


def test_an_unexposed_local_service_is_still_reachable_from_the_ingress_controller_when_routed():
    # the baseline's entry route may send keyed requests to it whatever the overlay's blueprint says
    spec = overlay_spec()
    ctx = overlay_context(spec)
    result = render_overlay(
        spec, ctx, local=["cart"], inherited=inherited_from(BASELINE, "cart"), baseline_namespace=BASE_NS
    )

    policies = named(result.objects, "NetworkPolicy")
    assert policies["allow-ingress-cart"]["spec"]["ingress"][0]["ports"] == [{"port": 8080, "protocol": "TCP"}]
    assert not named(result.objects, "Ingress")


def test_without_a_routing_baseline_no_router_or_controller_allowance_is_rendered():
    spec = overlay_spec()
    result = render_overlay(spec, overlay_context(spec), local=["cart"], inherited=inherited_from(BASELINE, "cart"))

    policies = named(result.objects, "NetworkPolicy")
    assert "allow-router-cart" not in policies
    assert "allow-ingress-cart" not in policies
    assert not named(result.objects, "ReferenceGrant")


def test_gateway_api_overlays_grant_the_baseline_routes_their_services():
    result = render(provider="gateway-api")

    grant = named(result.objects, "ReferenceGrant")[f"allow-routes-from-{BASE_NS}"]
    assert grant["metadata"]["namespace"] == A_NS
    assert grant["spec"] == {
        "from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": BASE_NS}],
        "to": [{"group": "", "kind": "Service", "name": "checkout"}],
    }
    assert any(obj["kind"] == "ReferenceGrant" for obj in result.waves[-1].objects)


@pytest.mark.parametrize("provider", ["traefik", "nginx"])
def test_ingress_providers_need_no_reference_grant(provider):
    assert not named(render(provider=provider).objects, "ReferenceGrant")


def test_an_inherited_service_without_a_port_is_not_bridged():
    spec = overlay_spec("checkout")
    next(s for s in spec["services"] if s["name"] == "cache")["ports"] = []
    ctx = overlay_context(spec)

    result = render_overlay(spec, ctx, local=["checkout"], inherited=inherited_from(BASELINE, "checkout"))

    assert "cache" not in named(result.objects, "Service")
    assert "allow-bridge-cache" not in named(result.objects, "NetworkPolicy")
    assert "cache: inherited but declares no port, so it is not bridged" in result.warnings


@pytest.mark.parametrize(
    ("local", "inherited", "message"),
    [
        (["checkout"], {"checkout": BASELINE}, "both local and inherited"),
        (["checkout"], {"cart": BASELINE}, "neither local nor inherited"),
        (["nope"], inherited_from(BASELINE), "unknown services: nope"),
        (["checkout"], inherited_from(ProviderRef("env_x", A_NS), "checkout"), "own namespace"),
        (["checkout"], inherited_from(ProviderRef("env_x", "Not_A_Label"), "checkout"), "not a DNS label"),
    ],
)
def test_inconsistent_inputs_are_refused_before_anything_is_rendered(local, inherited, message):
    spec = overlay_spec("checkout")

    with pytest.raises(RenderError, match=message):
        render_overlay(spec, overlay_context(spec), local=local, inherited=inherited)
