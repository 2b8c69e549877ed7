"""``render_routing`` / ``render_router``: a baseline's routers and header-aware entry routes."""

from __future__ import annotations

import copy

import pytest

from environments.render import ProviderRef, RenderError, nginx_router_config, render_environment, render_routing
from environments.render.router import CONFIG_HASH, ROUTER_FOR, ROUTER_IMAGE, render_router
from microstax.kube.labels import ENVIRONMENT, SERVICE
from microstax.kube.objects import matches_selector
from tests.routing.overlays import (
    A_NS,
    BASE_NS,
    BASELINE,
    C_NS,
    GATEWAY,
    OVERLAY_A,
    assert_all_valid,
    baseline_context,
    baseline_spec,
    named,
)

from .helpers import SCHEMA_VERSIONS

OVERLAY_C = ProviderRef("env_c", C_NS, "feat-c")
# feat-a and feat-c change storefront (exposed) and checkout; feat-b, a child of feat-a that
# does not change them, falls through to A.
ROUTES = {
    "storefront": {"feat-a": OVERLAY_A, "feat-b": OVERLAY_A, "feat-c": OVERLAY_C},
    "checkout": {"feat-a": OVERLAY_A, "feat-b": OVERLAY_A},
}


def render(provider: str = "traefik", routes=ROUTES, **overrides):
    spec = baseline_spec()
    return render_routing(spec, baseline_context(spec, routing_provider=provider, gateway=GATEWAY, **overrides), routes)


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("provider", ["traefik", "nginx", "gateway-api"])
def test_routing_objects_validate_strictly(provider, version):
    assert_all_valid(render(provider), version)
    assert_all_valid(render(provider, routes={"storefront": {"feat-a": OVERLAY_A}}), version)


def test_routing_is_deterministic():
    assert render("gateway-api") == render("gateway-api")
    assert render() == render(routes={name: dict(reversed(keys.items())) for name, keys in reversed(ROUTES.items())})


def test_routers_are_ready_before_the_services_switch_to_them():
    result = render()

    assert [(wave.name, wave.wait) for wave in result.waves] == [("routers", True), ("routing", False)]
    first = {(obj["kind"], obj["metadata"]["name"]) for obj in result.waves[0].objects}
    assert {
        ("Deployment", "checkout-router"),
        ("ConfigMap", "checkout-router"),
        ("Service", "checkout-origin"),
    } <= first
    assert {(obj["kind"], obj["metadata"]["name"]) for obj in result.waves[1].objects} == {
        ("Service", "checkout"),
        ("Service", "storefront"),
    }


def test_the_router_deployment_runs_nginx_on_the_service_container_ports_with_baseline_labels():
    result = render()
    deployment = named(result.objects, "Deployment")["checkout-router"]

    labels = deployment["metadata"]["labels"]
    assert labels[ENVIRONMENT] == "env_base"
    assert labels[ROUTER_FOR] == "checkout"
    # not a blueprint service's pod: logs and status by service never pick it up
    assert SERVICE not in labels
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["image"] == ROUTER_IMAGE == "nginx:1.27-alpine"
    assert container["command"] == ["nginx", "-c", "/etc/msx-router/nginx.conf", "-g", "daemon off;"]
    assert container["ports"] == [{"name": "tcp-8080", "containerPort": 8080, "protocol": "TCP"}]
    assert container["readinessProbe"]["tcpSocket"] == {"port": 8080}
    assert pod["spec"]["volumes"] == [{"name": "config", "configMap": {"name": "checkout-router"}}]
    assert matches_selector(deployment["spec"]["selector"], pod["metadata"]["labels"])
    assert CONFIG_HASH in pod["metadata"]["annotations"]


def test_changing_the_routes_rolls_the_router_pods():
    def pod_hash(result):
        return named(result.objects, "Deployment")["checkout-router"]["spec"]["template"]["metadata"]["annotations"]

    one = render(routes={"checkout": {"feat-a": OVERLAY_A}})
    two = render(routes={"checkout": {"feat-a": OVERLAY_A, "feat-c": OVERLAY_C}})

    assert pod_hash(one)[CONFIG_HASH] != pod_hash(two)[CONFIG_HASH]
    assert pod_hash(one) == pod_hash(render(routes={"checkout": {"feat-a": OVERLAY_A}}))


def test_the_service_keeps_its_name_ports_and_labels_and_only_selects_the_router():
    spec = baseline_spec()
    ctx = baseline_context(spec)
    plain = named(render_environment(spec, ctx).objects, "Service")["checkout"]
    routed = named(render_routing(spec, ctx, ROUTES).objects, "Service")

    takeover, origin = routed["checkout"], routed["checkout-origin"]
    assert takeover["metadata"]["labels"] == plain["metadata"]["labels"]
    assert takeover["spec"]["ports"] == plain["spec"]["ports"]
    assert takeover["spec"]["selector"] == {
        "app.kubernetes.io/component": "router",
        ENVIRONMENT: "env_base",
        ROUTER_FOR: "checkout",
    }
    # the origin Service is what the plain one was: the service's own pods, same ports
    assert origin["spec"] == plain["spec"]
    # so reverting is re-applying the plain render: only the selector differs
    assert {k: v for k, v in takeover["spec"].items() if k != "selector"} == {
        k: v for k, v in plain["spec"].items() if k != "selector"
    }


def test_the_router_config_maps_keys_to_the_nearest_provider_and_falls_back_to_origin():
    config = named(render().objects, "ConfigMap")["storefront-router"]["data"]["nginx.conf"]

    assert f'default "storefront-origin.{BASE_NS}.svc.cluster.local:8080";' in config
    assert f'"feat-a" "storefront.{A_NS}.svc.cluster.local:8080";' in config
    assert f'"feat-b" "storefront.{A_NS}.svc.cluster.local:8080";' in config
    assert f'"feat-c" "storefront.{C_NS}.svc.cluster.local:8080";' in config
    assert "listen 8080;" in config
    assert "resolver kube-dns.kube-system.svc.cluster.local valid=10s ipv6=off;" in config


def test_a_key_served_by_the_baseline_itself_is_left_to_the_default():
    # routing it to the baseline's own Service would send it back into the router
    only_baseline = render(routes={"checkout": {"feat-x": BASELINE}})
    mixed = named(render(routes={"checkout": {"feat-x": BASELINE, "feat-a": OVERLAY_A}}).objects, "ConfigMap")

    assert only_baseline.objects == []
    assert '"feat-x"' not in mixed["checkout-router"]["data"]["nginx.conf"]


def test_no_routes_render_no_router():
    spec = baseline_spec()

    assert render_router(spec, baseline_context(spec), "checkout", {}) == []
    assert render(routes={"checkout": {}}).objects == []
    assert render(routes={}).waves == []


def test_the_router_may_reach_only_the_overlays_pods_of_its_service():
    policies = named(render().objects, "NetworkPolicy")

    egress = policies["allow-router-egress-storefront"]["spec"]
    assert egress["podSelector"]["matchLabels"][ROUTER_FOR] == "storefront"
    assert egress["egress"] == [
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/component": "server", SERVICE: "storefront"}},
                }
                for namespace in (A_NS, C_NS)
            ]
        }
    ]


def test_the_ingress_controller_may_reach_the_router_of_an_exposed_service_only():
    policies = named(render().objects, "NetworkPolicy")

    ingress = policies["allow-ingress-storefront-router"]["spec"]
    assert ingress["podSelector"]["matchLabels"][ROUTER_FOR] == "storefront"
    assert ingress["ingress"] == [
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
            "ports": [{"port": 8080, "protocol": "TCP"}],
        }
    ]
    assert "allow-ingress-checkout-router" not in policies  # checkout is not exposed in the baseline


def test_gateway_api_routes_header_matches_to_the_overlay_namespaces_and_the_rest_to_the_baseline():
    route = named(render("gateway-api").objects, "HTTPRoute")["storefront"]

    rules = route["spec"]["rules"]
    assert route["spec"]["hostnames"] == ["storefront-shop.dev.example.com"]
    assert rules[0] == {
        "matches": [
            {
                "path": {"type": "PathPrefix", "value": "/"},
                "headers": [{"type": "Exact", "name": "x-msx-env", "value": key}],
            }
            for key in ("feat-a", "feat-b")
        ],
        "backendRefs": [{"group": "", "kind": "Service", "name": "storefront", "namespace": A_NS, "port": 8080}],
    }
    assert rules[1]["backendRefs"][0]["namespace"] == C_NS
    assert rules[2] == {
        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
        "backendRefs": [{"group": "", "kind": "Service", "name": "storefront", "port": 8080}],
    }
    # only exposed services have an entry route
    assert "checkout" not in named(render("gateway-api").objects, "HTTPRoute")


def test_nginx_gets_a_canary_ingress_for_a_single_overlay_key():
    result = render("nginx", routes={"storefront": {"feat-a": OVERLAY_A}})

    canary = named(result.objects, "Ingress")["storefront-canary"]
    annotations = {k: v for k, v in canary["metadata"]["annotations"].items() if k.startswith("nginx.")}
    assert annotations == {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-by-header": "x-msx-env",
        "nginx.ingress.kubernetes.io/canary-by-header-value": "feat-a",
    }
    rule = canary["spec"]["rules"][0]
    assert rule["host"] == "storefront-shop.dev.example.com"
    assert rule["http"]["paths"][0]["backend"] == {"service": {"name": "storefront-canary", "port": {"number": 8080}}}
    target = named(result.objects, "Service")["storefront-canary"]
    assert target["spec"]["type"] == "ExternalName"
    assert target["spec"]["externalName"] == f"storefront.{A_NS}.svc.cluster.local"


def test_nginx_leaves_several_keys_to_the_router_and_says_so():
    result = render("nginx")

    assert not named(result.objects, "Ingress")
    assert any("one canary per host" in warning for warning in result.warnings)
    assert "storefront-router" in named(result.objects, "Deployment")


def test_traefik_routes_at_the_entry_through_the_router_only():
    result = render("traefik")

    assert not named(result.objects, "Ingress")
    assert not named(result.objects, "HTTPRoute")
    assert result.warnings == []
    assert result.endpoints == {"storefront": ["http://storefront-shop.dev.example.com"]}


def test_the_routing_header_name_is_configurable():
    result = render("gateway-api", routes={"storefront": {"feat-a": OVERLAY_A}})
    spec = baseline_spec()
    custom = render_routing(
        spec,
        baseline_context(spec, routing_provider="gateway-api", gateway=GATEWAY),
        {"storefront": {"feat-a": OVERLAY_A}},
        header_name="x-branch",
    )

    header = named(custom.objects, "HTTPRoute")["storefront"]["spec"]["rules"][0]["matches"][0]["headers"][0]
    assert header["name"] == "x-branch"
    assert (
        "map $http_x_branch $msx_key" in named(custom.objects, "ConfigMap")["storefront-router"]["data"]["nginx.conf"]
    )
    assert result != custom


def test_a_service_with_a_udp_port_cannot_be_routed():
    spec = copy.deepcopy(baseline_spec())
    next(s for s in spec["services"] if s["name"] == "checkout")["ports"][0]["protocol"] = "UDP"

    with pytest.raises(RenderError, match="not TCP"):
        render_routing(spec, baseline_context(spec), {"checkout": {"feat-a": OVERLAY_A}})


def test_a_blueprint_service_holding_the_router_name_is_refused():
    spec = copy.deepcopy(baseline_spec())
    clone = copy.deepcopy(next(s for s in spec["services"] if s["name"] == "cache"))
    spec["services"].append(clone | {"name": "checkout-origin"})

    with pytest.raises(RenderError, match="checkout-origin"):
        render_routing(spec, baseline_context(spec), {"checkout": {"feat-a": OVERLAY_A}})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"routes": {'x"; evil': "a:1"}}, "not a valid key"),
        ({"default_upstream": "b; include /etc/passwd:1"}, "not host:port"),
        ({"routes": {"feat-a": "a:99999"}}, "not host:port"),
        ({"header_name": "x-msx-hops"}, "cannot be used"),
    ],
)
def test_values_that_could_inject_nginx_directives_are_refused(arguments, message):
    values = {"routes": {"feat-a": "a.svc:80"}, "default_upstream": "b.svc:80"} | arguments
    options = {"header_name": values.pop("header_name")} if "header_name" in values else {}

    with pytest.raises(RenderError, match=message):
        nginx_router_config("checkout", 8080, values["routes"], values["default_upstream"], **options)
