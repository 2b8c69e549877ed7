"""Normalization: one canonical form, its hash, and the readable diff."""

from __future__ import annotations

import hashlib
import json

import pytest

from blueprints.normalize import canonical_json, diff_normalized, spec_hash
from blueprints.validation import validate_blueprint
from tests.blueprints.helpers import example


def normalized(text: str, **options) -> dict:
    result = validate_blueprint(text, **options)
    assert result.valid, [p.format() for p in result.errors]
    assert result.normalized is not None
    return result.normalized


def hash_of(text: str, **options) -> str:
    result = validate_blueprint(text, **options)
    assert result.valid and result.hash is not None
    return result.hash


LIST_STYLE = """\
name: shop
services:
  - name: api
    image: ghcr.io/example/api:1.0.0
    ports: [{containerPort: 8080}]
    env: {B: "2", A: "1"}
    dependsOn: [db, cache]
    resources: {cpu: 0.5, memory: 1024Mi}
  - name: db
    image: postgres:16.3
    ports: [{containerPort: 5432}]
  - name: cache
    image: redis:7.2
ttl: 72h
routing: {headerName: X-MSX-Env}
"""

MAP_STYLE = """\
ttl: 3d
routing:
  headerName: x-msx-env
  propagateHeader: false
  mode: isolated
autoShutdownDelayMinutes: 30
autoShutdownEnabled: true
name: shop
services:
  db:
    ports: ["5432"]
    image: postgres:16.3
    replicas: 1
  cache: {image: "redis:7.2", expose: false}
  api:
    resources: {memory: 1Gi, cpu: 500m}
    dependsOn: [cache, db]
    env: {A: "1", B: "2"}
    image: ghcr.io/example/api:1.0.0
    ports: [{containerPort: 8080, port: 8080, name: tcp-8080, protocol: TCP}]
"""


def test_blueprints_differing_only_in_style_normalize_identically():
    assert normalized(LIST_STYLE) == normalized(MAP_STYLE)
    assert hash_of(LIST_STYLE) == hash_of(MAP_STYLE)


def test_any_real_change_changes_the_hash():
    assert hash_of(LIST_STYLE) != hash_of(LIST_STYLE.replace("api:1.0.0", "api:1.0.1"))
    assert hash_of(LIST_STYLE) != hash_of(LIST_STYLE.replace('A: "1"', 'A: "one"'))


def test_the_normalized_service_has_every_field_filled():
    api = next(s for s in normalized(LIST_STYLE)["services"] if s["name"] == "api")
    assert api == {
        "name": "api",
        "image": "ghcr.io/example/api:1.0.0",
        "replicas": 1,
        "expose": False,
        "ports": [{"containerPort": 8080, "port": 8080, "name": "tcp-8080", "protocol": "TCP"}],
        "env": {"A": "1", "B": "2"},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "500m", "memory": "1Gi"}},
        "dependsOn": ["cache", "db"],
        "command": None,
        "args": None,
        "secrets": [],
        "volumes": [],
        "init": None,
        "probes": {"readiness": None, "liveness": None},
        "mock": None,
        "propagateHeader": False,
        "removed": False,
    }


def test_the_normalized_top_level_has_defaults_and_sorted_services():
    data = normalized(LIST_STYLE)
    assert [s["name"] for s in data["services"]] == ["api", "cache", "db"]
    assert data["routing"] == {
        "mode": "isolated",
        "baselineId": None,
        "overlayId": None,
        "headerName": "x-msx-env",
        "propagateHeader": False,
    }
    assert (data["autoShutdownEnabled"], data["autoShutdownDelayMinutes"], data["ttl"]) == (True, 30, "72h")
    assert data["plan"] is None and data["plans"] == {} and data["snapshot"] is None


def test_compose_port_strings_become_port_objects():
    text = "name: x\nservices:\n  web: {image: 'a:1', ports: ['8080:80', '53/udp']}\n"
    assert normalized(text)["services"][0]["ports"] == [
        {"containerPort": 80, "port": 8080, "name": "tcp-8080", "protocol": "TCP"},
        {"containerPort": 53, "port": 53, "name": "udp-53", "protocol": "UDP"},
    ]


def test_volumes_probes_and_secrets_get_their_defaults():
    text = """\
name: x
services:
  - name: db
    image: postgres:16.3
    volumes: [{name: data, mountPath: /data}, {name: tmp, mountPath: /tmp, type: emptyDir}]
    secrets: [{name: pw, envKey: PGPASSWORD}]
    probes: {readiness: {tcpSocket: {port: 5432}}}
    ports: ['5432']
"""
    db = normalized(text)["services"][0]
    assert db["volumes"] == [
        {"name": "data", "mountPath": "/data", "type": "pvc", "size": "1Gi"},
        {"name": "tmp", "mountPath": "/tmp", "type": "emptyDir", "size": None},
    ]
    assert db["secrets"] == [{"name": "pw", "envKey": "PGPASSWORD", "value": "auto-generated"}]
    assert db["probes"]["readiness"] == {
        "tcpSocket": {"port": 5432},
        "initialDelaySeconds": 0,
        "periodSeconds": 10,
        "timeoutSeconds": 1,
        "failureThreshold": 3,
    }


def test_a_plan_is_applied_only_when_asked():
    text = (
        LIST_STYLE
        + "plans:\n  production:\n    services:\n      db: {replicas: 3, resources: {memory: 512Mi, cpu: 500m}}\n"
    )
    plain = normalized(text)
    production = normalized(text, plan="production")
    db_plain = next(s for s in plain["services"] if s["name"] == "db")
    db_prod = next(s for s in production["services"] if s["name"] == "db")
    assert db_plain["replicas"] == 1
    assert db_prod["replicas"] == 3
    assert db_prod["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi"}
    assert production["plan"] == "production"
    assert hash_of(text) != hash_of(text, plan="production")


def test_a_base_given_at_creation_makes_an_overlay_keyed_by_its_name():
    routing = normalized(example("feature-payment-v2-map-style.yaml"), base_given=True)["routing"]
    assert routing["mode"] == "overlay"
    assert routing["overlayId"] == "feature-payment-v2"
    assert routing["baselineId"] is None


def test_the_documented_overlay_keeps_its_routing():
    routing = normalized(example("feat-checkout-overlay.yaml"))["routing"]
    assert routing == {
        "mode": "overlay",
        "baselineId": "env_base_123",
        "overlayId": "feat-checkout",
        "headerName": "x-msx-env",
        "propagateHeader": True,
    }
    checkout = normalized(example("feat-checkout-overlay.yaml"))["services"][0]
    assert checkout["propagateHeader"] is True


def test_a_removed_overlay_service_normalizes_to_its_name():
    text = "name: x\nservices:\n  - {name: api, image: 'a:1'}\n  - {name: old, removed: true}\n"
    assert normalized(text, base_given=True)["services"][1] == {"name": "old", "removed": True}


def test_canonical_json_has_sorted_keys_and_no_whitespace():
    assert canonical_json({"b": 1, "a": [1, {"d": None, "c": "é"}]}) == '{"a":[1,{"c":"é","d":null}],"b":1}'


def test_the_hash_is_sha256_of_the_canonical_json():
    data = normalized(LIST_STYLE)
    expected = hashlib.sha256(canonical_json(data).encode("utf-8")).hexdigest()
    assert spec_hash(data) == expected == hash_of(LIST_STYLE)


def test_normalized_form_is_json_serializable_with_plain_types():
    data = normalized(example("shop-baseline.yaml"))
    assert json.loads(canonical_json(data)) == data


# --- diff ---------------------------------------------------------------------------------------
def test_identical_blueprints_have_no_diff():
    assert diff_normalized(normalized(LIST_STYLE), normalized(MAP_STYLE)) == []


def test_the_diff_names_service_field_and_change():
    before = normalized(LIST_STYLE)
    after = normalized(
        LIST_STYLE.replace("api:1.0.0", "api:1.1.0")
        .replace('A: "1"', 'C: "3"')
        .replace("  - name: cache\n    image: redis:7.2\n", "")
        .replace("dependsOn: [db, cache]", "dependsOn: [db]")
        .replace("ttl: 72h\n", "  - name: search\n    image: opensearch:2.13\nttl: 72h\n")
    )
    changes = diff_normalized(before, after)
    assert {"service": "api", "field": "image", "change": "changed", "before": "ghcr.io/example/api:1.0.0",
            "after": "ghcr.io/example/api:1.1.0"} in changes  # fmt: skip
    assert {"service": "api", "field": "env.A", "change": "removed", "before": "1", "after": None} in changes
    assert {"service": "api", "field": "env.C", "change": "added", "before": None, "after": "3"} in changes
    assert {"service": "api", "field": "dependsOn", "change": "changed", "before": ["cache", "db"],
            "after": ["db"]} in changes  # fmt: skip
    removed = next(c for c in changes if c["service"] == "cache")
    assert (removed["field"], removed["change"], removed["after"]) == (None, "removed", None)
    added = next(c for c in changes if c["service"] == "search")
    assert (added["field"], added["change"]) == (None, "added")
    assert added["after"]["image"] == "opensearch:2.13"


def test_top_level_changes_have_no_service_and_come_first():
    before = normalized(LIST_STYLE)
    after = normalized(LIST_STYLE.replace("ttl: 72h", "ttl: 24h").replace("api:1.0.0", "api:2.0.0"))
    changes = diff_normalized(before, after)
    assert changes[0] == {"service": None, "field": "ttl", "change": "changed", "before": "72h", "after": "24h"}
    assert changes[-1]["service"] == "api"


def test_nested_top_level_maps_diff_by_key():
    before = normalized(LIST_STYLE)
    after = normalized(LIST_STYLE.replace("routing: {headerName: X-MSX-Env}", "routing: {mode: baseline}"))
    assert diff_normalized(before, after) == [
        {"service": None, "field": "routing.mode", "change": "changed", "before": "isolated", "after": "baseline"}
    ]


@pytest.mark.parametrize("name", ["payments-dev.yaml", "shop-baseline.yaml"])
def test_the_diff_is_empty_in_both_directions_for_the_same_blueprint(name):
    data = normalized(example(name))
    assert diff_normalized(data, data) == []
