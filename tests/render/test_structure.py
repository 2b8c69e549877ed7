"""Shape of a render: determinism, identity labels, waves, subsets, endpoints, names and errors."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from environments.render import (
    RenderError,
    dependency_levels,
    generated_secret_keys,
    render_environment,
    required_files,
)
from environments.render.names import dns_name, host
from microstax.kube.labels import ENVIRONMENT, MANAGED_BY, SERVICE, SPEC_HASH, TEAM, spec_hash
from microstax.kube.objects import ObjectRef

from .helpers import EVERYTHING, EXAMPLES, by_kind, context, everything, normalized, wave_of


def shop():
    return normalized(next(p for p in EXAMPLES if p.stem == "shop-baseline"))


def test_rendering_twice_gives_byte_identical_output():
    spec = everything()

    first = render_environment(spec, context(spec))
    second = render_environment(json.loads(json.dumps(spec)), context(spec))

    assert json.dumps(first.objects, sort_keys=False) == json.dumps(second.objects, sort_keys=False)
    assert [w.name for w in first.waves] == [w.name for w in second.waves]


def test_objects_are_the_waves_in_order():
    result = render_environment(everything(), context(everything()))

    assert result.objects == [obj for wave in result.waves for obj in wave.objects]


@pytest.mark.parametrize("path", [*EXAMPLES, EVERYTHING], ids=lambda p: p.stem)
def test_every_object_carries_the_identity_labels_and_its_spec_hash(path):
    spec = normalized(path)
    result = render_environment(spec, context(spec))

    for obj in result.objects:
        labels = obj["metadata"]["labels"]
        assert labels[MANAGED_BY] == "microstax"
        assert labels[ENVIRONMENT] == "env_abc123"
        assert labels[TEAM] == "acme"
        assert obj["metadata"]["annotations"][SPEC_HASH] == spec_hash(obj)


def test_service_objects_and_their_pods_name_the_service_and_the_blueprint():
    result = render_environment(everything(), context(everything()))

    for name, refs in result.services.items():
        for ref in refs:
            obj = next(o for o in result.objects if ObjectRef.of(o) == ref)
            assert obj["metadata"]["labels"][SERVICE] == name
            assert obj["metadata"]["labels"]["app.kubernetes.io/part-of"] == "everything"
    for workload in [*by_kind(result, "Deployment").values(), *by_kind(result, "Job").values()]:
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert pod_labels[ENVIRONMENT] == "env_abc123"
        assert pod_labels[SERVICE] == workload["metadata"]["labels"][SERVICE]


def test_waves_put_the_foundation_first_config_second_and_routes_last():
    result = render_environment(everything(), context(everything()))
    names = [wave.name for wave in result.waves]

    assert names[:2] == ["foundation", "config"]
    assert names[-1] == "routes"
    assert {o["kind"] for o in result.waves[0].objects} == {"Namespace", "NetworkPolicy"}
    assert result.waves[0].objects[0]["kind"] == "Namespace"
    assert {o["kind"] for o in result.waves[1].objects} == {"Secret", "ConfigMap", "PersistentVolumeClaim"}
    assert {o["kind"] for o in result.waves[-1].objects} == {"Ingress"}
    assert not result.waves[-1].wait
    assert all(wave.wait for wave in result.waves[:-1])


def test_data_services_come_before_the_services_that_depend_on_them():
    spec = shop()
    result = render_environment(spec, context(spec))

    for service in spec["services"]:
        for dependency in service["dependsOn"]:
            assert wave_of(result, "Deployment", dependency) < wave_of(result, "Deployment", service["name"])
    assert [w.name for w in result.waves] == [
        "foundation",
        "config",
        "services-0",
        "seed-0",
        "services-1",
        "services-2",
        "routes",
    ]
    assert set(by_kind_in(result.waves[2])) == {"cache", "db", "payments"}


def by_kind_in(wave):
    return {obj["metadata"]["name"] for obj in wave.objects if obj["kind"] == "Deployment"}


def test_a_seed_job_runs_after_its_service_and_before_its_dependents():
    spec = everything()
    result = render_environment(spec, context(spec))
    db_seed = next(name for name in by_kind(result, "Job") if name.startswith("db-seed-"))

    assert wave_of(result, "Deployment", "db") < wave_of(result, "Job", db_seed)
    assert wave_of(result, "Job", db_seed) < wave_of(result, "Deployment", "search")
    assert wave_of(result, "Job", db_seed) < wave_of(result, "Deployment", "web")


def test_dependency_levels_ignore_services_outside_the_rendered_set():
    services = {s["name"]: s for s in shop()["services"]}
    subset = {name: services[name] for name in ("checkout", "payments")}

    assert dependency_levels(services)["storefront"] == 2
    assert dependency_levels(subset) == {"checkout": 1, "payments": 0}


def test_a_dependency_cycle_is_refused():
    services = {
        "a": {"name": "a", "dependsOn": ["b"]},
        "b": {"name": "b", "dependsOn": ["a"]},
    }

    with pytest.raises(RenderError, match="cycle"):
        dependency_levels(services)


def test_a_subset_renders_only_those_services_plus_the_shared_foundation():
    spec = shop()
    full = render_environment(spec, context(spec))

    result = render_environment(spec, context(spec), services=["storefront", "checkout"])

    assert set(result.services) == {"checkout", "storefront"}
    assert set(by_kind(result, "Deployment")) == {"checkout", "storefront"}
    assert set(by_kind(result, "Secret")) == set()
    assert set(by_kind(result, "NetworkPolicy")) == set(by_kind(full, "NetworkPolicy"))
    assert by_kind(result, "Namespace") == by_kind(full, "Namespace")
    # checkout's dependencies (payments, db) run in the baseline, so it is level 0 here
    assert [w.name for w in result.waves] == ["foundation", "services-0", "services-1", "routes"]
    # the subset's objects are the very objects the full render has for those services
    for obj in result.objects:
        assert obj in full.objects


def test_a_subset_naming_an_unknown_service_is_refused():
    with pytest.raises(RenderError, match="unknown services: nope"):
        render_environment(shop(), context(shop()), services=["cart", "nope"])


def test_endpoints_list_exposed_services_only():
    spec = everything()

    result = render_environment(spec, context(spec))

    assert result.endpoints == {
        "payments": ["http://payments-shop-dev.dev.example.com"],
        "web": ["http://web-shop-dev.dev.example.com"],
    }


def test_without_an_ingress_domain_there_are_no_routes_or_endpoints_but_services_still_render():
    spec = everything()

    result = render_environment(spec, context(spec, ingress_domain=""))

    assert result.endpoints == {}
    assert not by_kind(result, "Ingress")
    assert "routes" not in [w.name for w in result.waves]
    assert "web" in by_kind(result, "Service")
    assert not [name for name in by_kind(result, "NetworkPolicy") if name.startswith("allow-ingress")]


def test_services_map_lists_each_services_objects():
    spec = everything()
    result = render_environment(spec, context(spec))
    web = {(ref.kind, ref.name) for ref in result.services["web"]}

    assert {
        ("Deployment", "web"),
        ("Service", "web"),
        ("Ingress", "web"),
        ("NetworkPolicy", "allow-ingress-web"),
    } <= web
    assert any(kind == "Job" for kind, _ in web)
    assert ("PersistentVolumeClaim", "db-data") in {(r.kind, r.name) for r in result.services["db"]}
    assert all(ref.namespace == "env-shop-dev-ab12cd" for refs in result.services.values() for ref in refs)


def test_long_names_are_truncated_to_63_characters_with_a_hash_suffix():
    long_service = "s" + "x" * 60
    other = "s" + "x" * 59 + "y"

    name = dns_name(long_service, "seed", "abcdef12")

    assert len(name) == 63
    assert name.startswith("s" + "x" * 40)
    assert name != dns_name(other, "seed", "abcdef12")
    assert dns_name("short", "name") == "short-name"


def test_a_long_service_name_gives_bounded_object_names_and_hosts():
    spec = everything()
    long_name = "search-" + "a" * 56
    for service in spec["services"]:
        if service["name"] == "db":
            service["name"] = long_name
            service["expose"] = True
        service["dependsOn"] = [long_name if d == "db" else d for d in service["dependsOn"]]
    ctx = context(spec, environment_slug="a-rather-long-environment-slug")

    result = render_environment(spec, ctx)

    assert all(len(obj["metadata"]["name"]) <= 63 for obj in result.objects)
    assert len(host(long_name, ctx).split(".")[0]) == 63
    assert result.endpoints[long_name] == [f"http://{host(long_name, ctx)}"]


def test_helpers_list_what_the_caller_must_supply():
    spec = everything()

    assert generated_secret_keys(spec) == ["db/db-password"]
    assert required_files(spec) == [
        "scripts/warm-cache.sh",
        "seeds/legacy.sql",
        "specs/payments.yaml",
        "specs/search.yaml",
    ]


def test_a_missing_generated_secret_value_is_refused_before_rendering():
    spec = everything()

    with pytest.raises(RenderError, match="db/db-password"):
        render_environment(spec, replace(context(spec), secret_values={}))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("namespace", "Env_Shop", "namespace"),
        ("environment_slug", "-bad", "environment_slug"),
        ("team_slug", "acme team", "team_slug"),
        ("routing_provider", "istio", "unknown routing provider"),
    ],
)
def test_an_invalid_context_is_refused(field, value, message):
    spec = shop()

    with pytest.raises(RenderError, match=message):
        render_environment(spec, context(spec, **{field: value}))


def test_the_gateway_api_needs_a_gateway():
    spec = shop()

    with pytest.raises(RenderError, match="Gateway"):
        render_environment(spec, context(spec, routing_provider="gateway-api", gateway=None))


def test_a_service_name_kubernetes_refuses_for_a_service_is_reported():
    spec = shop()
    spec["services"][0]["name"] = "1cache"

    with pytest.raises(RenderError, match="must start with a letter"):
        render_environment(spec, context(spec))


def test_removed_overlay_services_render_nothing():
    spec = shop()
    spec["services"].append({"name": "legacy", "removed": True})

    result = render_environment(spec, context(spec))

    assert "legacy" not in result.services


def test_rendering_does_not_modify_the_spec():
    spec = everything()
    snapshot = json.dumps(spec, sort_keys=True)

    render_environment(spec, context(spec))

    assert json.dumps(spec, sort_keys=True) == snapshot


def test_an_overlay_renders_just_its_own_services_and_warns_about_an_exposed_service_without_ports():
    # the example overlay's checkout names no port (it relies on the baseline's definition)
    spec = normalized(next(p for p in EXAMPLES if p.stem == "feat-checkout-overlay"))

    result = render_environment(spec, context(spec))

    assert list(result.services) == ["checkout"]
    assert result.endpoints == {}
    assert result.warnings == ["checkout: exposed but declares no port, so there is nothing to route to"]


def test_two_objects_that_would_share_a_name_are_refused():
    # PVC names join service and volume: api + data-x and api-data + x both give api-data-x
    spec = shop()
    cart = next(s for s in spec["services"] if s["name"] == "cart")
    catalog = next(s for s in spec["services"] if s["name"] == "catalog")
    cart["volumes"] = [{"name": "data-x", "mountPath": "/a", "type": "pvc", "size": "1Gi"}]
    catalog["name"] = "cart-data"
    catalog["volumes"] = [{"name": "x", "mountPath": "/b", "type": "pvc", "size": "1Gi"}]

    with pytest.raises(RenderError, match="PersistentVolumeClaim/env-shop-dev-ab12cd/cart-data-x"):
        render_environment(spec, context(spec))
