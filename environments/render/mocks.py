"""Mock servers standing in for (``replace``) or beside (``sidecar``) a service.

The mock is Stoplight Prism serving the blueprint's OpenAPI document, mounted from a ConfigMap.
Prism answers on one port per process, so a replacing mock runs one Prism container per TCP
port of the service: callers keep using the same host and ports. ``mirror`` (copying live
traffic to a mock) needs a traffic tee in front of the service; it is not rendered yet, and the
real service runs alone with a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .model import RenderContext, RenderError
from .names import dns_name, metadata, service_labels

PRISM_IMAGE = "stoplight/prism:5"
PRISM_DEFAULT_PORT = 4010
SPEC_DIR = "/spec"
SPEC_KEY = "openapi.yaml"
SPEC_VOLUME = "openapi"
REPLACING_MODES = frozenset({"replace", "ai-stateful"})
CONFIGMAP_LIMIT = 1024 * 1024  # the API server refuses larger ConfigMaps


@dataclass
class MockParts:
    """What a mock adds to a service's pod and Service."""

    containers: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    service_ports: list[dict[str, Any]] = field(default_factory=list)
    config_map: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)


def replaces(service: dict[str, Any]) -> bool:
    """True when a mock runs instead of the service's own image."""
    mock = service["mock"]
    return mock is not None and mock["mode"] in REPLACING_MODES


def _fallback_document(name: str) -> str:
    return f'openapi: 3.0.3\ninfo:\n  title: {name} mock (no document supplied)\n  version: "0"\npaths: {{}}\n'


def _prism(name: str, port_name: str, port: int) -> dict[str, Any]:
    # The image's entrypoint is the prism CLI, so only its arguments are given.
    return {
        "name": name,
        "image": PRISM_IMAGE,
        "args": ["mock", "-h", "0.0.0.0", "-p", str(port), f"{SPEC_DIR}/{SPEC_KEY}"],
        "ports": [{"name": port_name, "containerPort": port, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 5, "failureThreshold": 6},
        "volumeMounts": [{"name": SPEC_VOLUME, "mountPath": SPEC_DIR, "readOnly": True}],
    }


def mock_parts(ctx: RenderContext, spec: dict[str, Any], service: dict[str, Any]) -> MockParts:
    """Containers, volumes, Service ports and the ConfigMap of a service's enabled mock."""
    mock = service["mock"]
    parts = MockParts()
    if mock is None:
        return parts
    name = service["name"]
    if mock["mode"] == "mirror":
        parts.warnings.append(f"{name}: mock mode 'mirror' is not supported yet; the service runs without its mock")
        return parts
    if mock["mode"] == "ai-stateful":
        parts.warnings.append(f"{name}: mock mode 'ai-stateful' runs as a stateless OpenAPI mock (Prism)")
    document = ctx.files.get(mock["openapi"]) if mock["openapi"] else None
    if document is None:
        parts.warnings.append(
            f"{name}: OpenAPI document {mock['openapi']!r} was not supplied; the mock serves an empty API"
        )
        document = _fallback_document(name)
    if len(document.encode()) > CONFIGMAP_LIMIT:
        raise RenderError(f"{name}: OpenAPI document {mock['openapi']!r} is larger than a ConfigMap can hold (1 MiB)")
    parts.config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(dns_name(name, "openapi"), ctx, service_labels(ctx, spec, name)),
        "data": {SPEC_KEY: document},
    }
    parts.volumes.append({"name": SPEC_VOLUME, "configMap": {"name": parts.config_map["metadata"]["name"]}})
    if mock["mode"] in ("replace", "ai-stateful"):
        tcp = [port for port in service["ports"] if port["protocol"] == "TCP"]
        if not tcp:
            tcp = [{"name": "mock", "containerPort": PRISM_DEFAULT_PORT, "port": PRISM_DEFAULT_PORT, "protocol": "TCP"}]
        single = len(tcp) == 1
        for port in tcp:
            container_name = "mock" if single else dns_name("mock", port["name"])
            parts.containers.append(_prism(container_name, port["name"], port["containerPort"]))
        parts.service_ports = tcp
    else:  # sidecar: beside the real container, on a port the service does not use
        used = {port["containerPort"] for port in service["ports"]}
        port_number = next(p for p in range(PRISM_DEFAULT_PORT, 65536) if p not in used)
        taken = {port["name"] for port in service["ports"]}
        port_name = "mock" if "mock" not in taken else "prism-mock"
        container_name = "mock" if name != "mock" else "mock-sidecar"
        parts.containers.append(_prism(container_name, port_name, port_number))
        parts.service_ports = [
            {"name": port_name, "containerPort": port_number, "port": port_number, "protocol": "TCP"}
        ]
    return parts
