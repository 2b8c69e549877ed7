"""The pydantic spec: accepted spellings, defaults and field-level checks."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from blueprints.parsing import parse_yaml
from blueprints.quantities import (
    canonical_cpu,
    canonical_memory,
    format_duration,
    parse_duration,
    parse_quantity,
)
from blueprints.spec import BlueprintSpec, PortSpec, ServiceSpec
from tests.blueprints.helpers import EXAMPLE_FILES


def spec_of(text: str) -> BlueprintSpec:
    return BlueprintSpec.model_validate(parse_yaml(text).data)


def error_types(exc: ValidationError) -> list[str]:
    return [e["type"] for e in exc.errors()]


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.name)
def test_every_documented_example_parses_into_the_model(path):
    spec = spec_of(path.read_text(encoding="utf-8"))
    assert spec.services
    assert all(service.name for service in spec.services)


def test_top_level_defaults_follow_the_documentation():
    spec = spec_of("name: demo\nservices: [{name: web, image: 'nginx:1.27'}]\n")
    assert spec.auto_shutdown_enabled is True
    assert spec.auto_shutdown_delay_minutes == 30
    assert spec.routing is None and spec.ttl is None and spec.snapshot is None and spec.plans == {}


def test_services_in_map_style_take_their_name_from_the_key():
    spec = spec_of(
        "name: demo\nservices:\n  payments:\n    image: ghcr.io/org/payments:1\n  cache: {image: 'redis:7'}\n"
    )
    assert [s.name for s in spec.services] == ["payments", "cache"]


def test_service_fields_are_read_with_their_documented_camel_case_names():
    service = spec_of(
        """
name: demo
services:
  - name: db
    image: postgres:16-alpine
    dependsOn: [cache]
    secrets: [{name: db-password, envKey: POSTGRES_PASSWORD, value: auto-generated}]
    volumes: [{name: data, mountPath: /var/lib/postgresql/data, type: pvc, size: 5Gi}]
    init: {script: seeds/shop.sql, type: sql}
    probes:
      readiness: {httpGet: {path: /healthz, port: 8080}}
      liveness: {exec: {command: [pg_isready, -U, postgres]}}
    mock: {enabled: false}
    propagateHeader: true
  - {name: cache, image: "redis:7"}
"""
    ).services[0]
    assert service.depends_on == ["cache"]
    assert service.secrets[0].env_key == "POSTGRES_PASSWORD"
    assert service.volumes[0].mount_path == "/var/lib/postgresql/data"
    assert service.init is not None and service.init.script == "seeds/shop.sql"
    assert service.probes is not None and service.probes.readiness is not None
    assert service.probes.readiness.http_get is not None and service.probes.readiness.http_get.port == 8080
    assert service.probes.liveness is not None and service.probes.liveness.exec_ is not None
    assert service.propagate_header is True


@pytest.mark.parametrize(
    ("written", "container", "service_port", "protocol"),
    [
        (8080, 8080, None, "TCP"),
        ("8080", 8080, None, "TCP"),
        ("8080:80", 80, 8080, "TCP"),
        ("53/udp", 53, None, "UDP"),
        ("5353:53/UDP", 53, 5353, "UDP"),
        ({"containerPort": 9090, "name": "metrics", "protocol": "tcp"}, 9090, None, "TCP"),
        ({"containerPort": 80, "port": 8080}, 80, 8080, "TCP"),
    ],
)
def test_ports_accept_objects_numbers_and_compose_strings(written, container, service_port, protocol):
    port = PortSpec.model_validate(written)
    assert (port.container_port, port.port, port.protocol) == (container, service_port, protocol)


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("8000-8010", "ranges"),
        ("127.0.0.1:8080:80", "host addresses"),
        ("http", "write it as"),
        ("0", "outside the range"),
        (70000, "outside the range"),
    ],
)
def test_malformed_ports_are_refused_with_a_reason(written, reason):
    with pytest.raises(ValidationError) as caught:
        PortSpec.model_validate(written)
    assert "MSX-E015" in error_types(caught.value)
    assert reason in str(caught.value)


def test_mock_modes_include_the_documented_ai_stateful_mode():
    for mode in ("replace", "sidecar", "mirror", "ai-stateful"):
        service = ServiceSpec.model_validate({"name": "stripe", "image": "x:1", "mock": {"mode": mode, "openapi": "a"}})
        assert service.mock is not None and service.mock.mode == mode
    with pytest.raises(ValidationError):
        ServiceSpec.model_validate({"name": "stripe", "mock": {"mode": "stateful"}})


def test_env_values_keep_the_spelling_the_author_wrote():
    spec = spec_of("name: d\nservices: [{name: a, image: 'x:1', env: {VERSION: 1.10, ZIP: 007, ON: yes, N: 3}}]\n")
    assert spec.services[0].env == {"VERSION": "1.10", "ZIP": "007", "ON": "yes", "N": "3"}


def test_command_strings_are_split_like_a_shell_would():
    service = ServiceSpec.model_validate(
        {"name": "a", "image": "x:1", "command": "python -m app --name 'two words'", "args": ["--port", 8080]}
    )
    assert service.command == ["python", "-m", "app", "--name", "two words"]
    assert service.args == ["--port", "8080"]


@pytest.mark.parametrize(
    "image",
    [
        "postgres:16-alpine",
        "ghcr.io/example/payments-api:1.4.2",
        "localhost:5000/team/app",
        "registry.example.com/a/b/c:v1",
        "busybox@sha256:" + "a" * 64,
    ],
)
def test_valid_image_references_are_accepted(image):
    assert ServiceSpec.model_validate({"name": "a", "image": image}).image == image


@pytest.mark.parametrize("image", ["Foo/Bar", "nginx:", "has space:1", "-leading/dash", "a//b"])
def test_invalid_image_references_are_refused(image):
    with pytest.raises(ValidationError) as caught:
        ServiceSpec.model_validate({"name": "a", "image": image})
    assert error_types(caught.value) == ["MSX-E014"]


@pytest.mark.parametrize("name", ["api", "a", "payments-v2", "x" * 63])
def test_dns_labels_are_valid_service_names(name):
    assert ServiceSpec.model_validate({"name": name, "image": "x:1"}).name == name


@pytest.mark.parametrize("name", ["Api", "my_app", "-api", "api-", "x" * 64, ""])
def test_names_that_are_not_dns_labels_are_refused(name):
    with pytest.raises(ValidationError) as caught:
        ServiceSpec.model_validate({"name": name, "image": "x:1"})
    assert error_types(caught.value) == ["MSX-E012"]


def test_routing_defaults_the_header_name():
    spec = spec_of("name: d\nrouting: {mode: baseline}\nservices: [{name: a, image: 'x:1'}]\n")
    assert spec.routing is not None
    assert spec.routing.header_name == "x-msx-env"
    assert spec.routing.propagate_header is False


@pytest.mark.parametrize(
    ("text", "value"),
    [("500m", Decimal("0.5")), ("0.5", Decimal("0.5")), ("1Gi", Decimal(2**30)), ("1e3", Decimal(1000))],
)
def test_kubernetes_quantities_are_parsed_exactly(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize(
    ("text", "canonical"), [("0.5", "500m"), ("1000m", "1"), ("2", "2"), ("250m", "250m"), ("1.5", "1500m")]
)
def test_cpu_quantities_have_one_canonical_spelling(text, canonical):
    assert canonical_cpu(text) == canonical


@pytest.mark.parametrize(
    ("text", "canonical"),
    [("1024Mi", "1Gi"), ("0.5Gi", "512Mi"), ("1G", "1G"), ("1000M", "1G"), ("2048", "2Ki"), ("512Mi", "512Mi")],
)
def test_memory_quantities_have_one_canonical_spelling(text, canonical):
    assert canonical_memory(text) == canonical


@pytest.mark.parametrize("text", ["100x", "-1", "1.2.3", "Mi", ""])
def test_malformed_quantities_raise_value_error(text):
    with pytest.raises(ValueError):
        parse_quantity(text)


def test_memory_in_milli_units_suggests_mebibytes():
    with pytest.raises(ValueError, match="did you mean 100Mi"):
        canonical_memory("100m")


@pytest.mark.parametrize(
    ("text", "seconds", "canonical"),
    [
        ("72h", 259200, "72h"),
        ("3d", 259200, "72h"),
        ("1h30m", 5400, "1h30m"),
        ("90m", 5400, "1h30m"),
        ("2w", 1209600, "336h"),
    ],
)
def test_durations_parse_and_format_canonically(text, seconds, canonical):
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == canonical


@pytest.mark.parametrize("value", ["0h", "72", "h", "1x", 72, "", "1h 30m"])
def test_invalid_durations_raise_value_error(value):
    with pytest.raises(ValueError):
        parse_duration(value)
