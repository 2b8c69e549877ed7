"""The merge rule: what an overlay's partial service inherits from the upstream version."""

from __future__ import annotations

from environments.planner import merge_service

from .helpers import partial, port, service

UPSTREAM = service(
    "checkout",
    image="shop/checkout:3",
    replicas=3,
    expose=True,
    ports=[port(8080, name="http")],
    env={"DB": "postgres://db", "LOG": "info"},
    resources={"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}},
    dependsOn=["db", "payments"],
    command=["serve"],
    args=["--fast"],
    secrets=[{"name": "key", "envKey": "KEY", "value": "auto-generated"}],
    volumes=[{"name": "tmp", "mountPath": "/tmp", "type": "pvc", "size": "1Gi"}],
    init={"type": "sql", "script": "seed.sql", "inline": None},
    probes={"readiness": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}}, "liveness": None},
)


def test_partial_service_inherits_everything_it_leaves_empty():
    # given an overlay that only swaps the image
    own = partial("checkout", image="shop/checkout:feat")

    # when
    merged, filled = merge_service(UPSTREAM, own)

    # then
    assert merged["image"] == "shop/checkout:feat"
    for field in ("ports", "dependsOn", "secrets", "volumes", "command", "args", "init", "resources", "env"):
        assert merged[field] == UPSTREAM[field], field
    assert merged["probes"] == UPSTREAM["probes"]
    assert merged["expose"] is True
    assert filled == sorted(
        ["args", "command", "dependsOn", "env", "expose", "init", "ports", "probes", "resources", "secrets", "volumes"]
    )


def test_env_is_merged_key_wise_with_the_overlay_winning():
    merged, filled = merge_service(UPSTREAM, partial("checkout", env={"LOG": "debug", "FEATURE": "on"}))

    assert merged["env"] == {"DB": "postgres://db", "FEATURE": "on", "LOG": "debug"}
    assert list(merged["env"]) == sorted(merged["env"])
    assert "env" in filled


def test_env_that_overrides_every_key_inherits_nothing():
    merged, filled = merge_service(UPSTREAM, partial("checkout", env={"DB": "x", "LOG": "y"}))

    assert merged["env"] == {"DB": "x", "LOG": "y"}
    assert "env" not in filled


def test_given_lists_and_commands_replace_the_upstream_ones():
    own = partial("checkout", ports=[port(9090)], dependsOn=["db"], command=["run"], args=[])

    merged, filled = merge_service(UPSTREAM, own)

    assert merged["ports"] == [port(9090)]
    assert merged["dependsOn"] == ["db"]
    assert merged["command"] == ["run"]
    # An empty (not null) args list is written by the developer: it clears the upstream args.
    assert merged["args"] == []
    assert not {"ports", "dependsOn", "command", "args"} & set(filled)


def test_given_resources_replace_the_upstream_ones_as_a_whole():
    own = partial("checkout", resources={"requests": {"cpu": "1"}, "limits": {"cpu": "1"}})

    merged, filled = merge_service(UPSTREAM, own)

    assert merged["resources"] == {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}
    assert "resources" not in filled


def test_each_probe_is_inherited_separately():
    liveness = {"tcpSocket": {"port": 8080}}
    merged, _ = merge_service(UPSTREAM, partial("checkout", probes={"readiness": None, "liveness": liveness}))

    assert merged["probes"] == {"readiness": UPSTREAM["probes"]["readiness"], "liveness": liveness}


def test_replicas_and_propagate_header_are_always_the_overlays():
    merged, filled = merge_service(UPSTREAM, partial("checkout", replicas=1, propagateHeader=True))

    assert merged["replicas"] == 1
    assert merged["propagateHeader"] is True
    assert "replicas" not in filled


def test_a_mock_replaces_the_upstream_image_and_a_service_giving_neither_keeps_both():
    mock = {"enabled": True, "mode": "replace", "openapi": "psp.yaml"}

    mocked, _ = merge_service(UPSTREAM, partial("checkout", image=None, mock=mock))
    neither, filled = merge_service(UPSTREAM, partial("checkout", image=None))

    assert mocked["image"] is None and mocked["mock"] == mock
    assert neither["image"] == "shop/checkout:3" and "image" in filled


def test_fields_whose_upstream_value_is_empty_are_not_reported_as_inherited():
    merged, filled = merge_service(service("cache", ports=[]), partial("cache", image="redis:8"))

    assert merged["ports"] == []
    assert filled == []


def test_merge_does_not_modify_its_inputs():
    own = partial("checkout", env={"LOG": "debug"})
    before_upstream, before_own = repr(UPSTREAM), repr(own)

    merge_service(UPSTREAM, own)

    assert (repr(UPSTREAM), repr(own)) == (before_upstream, before_own)
