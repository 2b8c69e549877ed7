"""Lint rules: warnings (``MSX-L…``) about blueprints that are valid but likely to hurt.

* ``MSX-L001`` an image uses ``:latest`` or no tag, so two environments may run different code;
* ``MSX-L002`` an ``env`` value looks like a secret (a ``PASSWORD``/``SECRET``/``TOKEN``/``API_KEY``
  style name with a literal value, or a URL with a password in it); use ``secrets`` instead;
* ``MSX-L003`` a dependency is listed twice;
* ``MSX-L004`` a probe checks a port number the service does not declare;
* ``MSX-L005`` ``baselineId``/``overlayId`` are set on a blueprint that is not an overlay (ignored);
* ``MSX-L006`` a removed overlay service carries other fields (ignored).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from blueprints.locator import Locator
from blueprints.parsing import Path
from blueprints.problems import Problem
from blueprints.rules import RuleOptions, SpecParts, effective_mode
from blueprints.spec import ServiceSpec

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL", re.I)
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


def lint(parts: SpecParts, locator: Locator, options: RuleOptions) -> list[Problem]:
    """All lint warnings for the parts of a blueprint that passed the shape checks."""
    problems: list[Problem] = []
    for index, service in parts.services:
        base: Path = ("services", index)
        if service.removed:
            extra = service.model_fields_set - {"name", "removed"}
            if extra:
                fields = ", ".join(sorted(ServiceSpec.model_fields[f].alias or f for f in extra))
                problems.append(
                    locator.problem(
                        "MSX-L006",
                        f"service {service.name!r} is removed; its other fields ({fields}) are ignored",
                        (*base, "removed"),
                    )
                )
            continue
        problems.extend(_image_tag(service, base, locator))
        problems.extend(_env_secrets(service, base, locator))
        problems.extend(_duplicate_dependencies(service, base, locator))
        if "ports" not in parts.stripped.get(index, frozenset()):
            problems.extend(_probe_ports(service, base, locator))
    routing = parts.routing
    if routing is not None and effective_mode(parts, options) != "overlay":
        for field, value in (("baselineId", routing.baseline_id), ("overlayId", routing.overlay_id)):
            if value is not None:
                problems.append(
                    locator.problem(
                        "MSX-L005",
                        f"routing.{field} only applies to overlays and is ignored for a "
                        f"{effective_mode(parts, options)} blueprint",
                        ("routing", field),
                    )
                )
    return problems


def image_is_mutable(image: str) -> bool:
    """True for ``app``, ``app:latest`` and ``registry:5000/app``; False for tags and digests."""
    if "@" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" not in last or last.rsplit(":", 1)[1] == "latest"


def _image_tag(service: ServiceSpec, base: Path, locator: Locator) -> Iterator[Problem]:
    if service.image and image_is_mutable(service.image):
        yield locator.problem(
            "MSX-L001",
            f"image {service.image!r} of service {service.name!r} has no fixed tag; pin a version "
            "(e.g. :1.4.2) so every environment runs the same code",
            (*base, "image"),
        )


def _env_secrets(service: ServiceSpec, base: Path, locator: Locator) -> Iterator[Problem]:
    for key, value in service.env.items():
        if not value or value.startswith(("${", "$(")):
            continue
        path = (*base, "env", key)
        if SECRET_NAME.search(key):
            yield locator.problem(
                "MSX-L002",
                f"env {key} of service {service.name!r} looks like a secret written in plain text; "
                "declare it under 'secrets' (value: auto-generated) instead",
                path,
            )
        elif URL_WITH_PASSWORD.search(value):
            yield locator.problem(
                "MSX-L002",
                f"env {key} of service {service.name!r} contains a password inside a URL; keep passwords in 'secrets'",
                path,
            )


def _duplicate_dependencies(service: ServiceSpec, base: Path, locator: Locator) -> Iterator[Problem]:
    seen: set[str] = set()
    for j, dependency in enumerate(service.depends_on):
        if dependency in seen:
            yield locator.problem(
                "MSX-L003",
                f"service {service.name!r} lists dependency {dependency!r} twice",
                (*base, "dependsOn", j),
            )
        seen.add(dependency)


def _probe_ports(service: ServiceSpec, base: Path, locator: Locator) -> Iterator[Problem]:
    if service.probes is None:
        return
    declared = {port.container_port for port in service.ports}
    for kind in ("readiness", "liveness"):
        probe = getattr(service.probes, kind)
        if probe is None:
            continue
        for handler, action in (("httpGet", probe.http_get), ("tcpSocket", probe.tcp_socket)):
            if action is not None and isinstance(action.port, int) and action.port not in declared:
                yield locator.problem(
                    "MSX-L004",
                    f"{kind} probe of service {service.name!r} checks port {action.port}, "
                    "which the service does not declare in 'ports'",
                    (*base, "probes", kind, handler, "port"),
                )
