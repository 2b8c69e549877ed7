"""Rules that relate several fields or services of a blueprint (errors, ``MSX-E…``).

They run on whatever parts of the blueprint passed the shape checks of :mod:`blueprints.spec`,
so a typo in one service does not hide a dependency cycle in two others. Each rule is a small
pure function returning problems with a precise path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from difflib import get_close_matches

from blueprints.locator import Locator
from blueprints.parsing import Path
from blueprints.problems import Problem
from blueprints.quantities import cpu_millicores, memory_bytes
from blueprints.spec import (
    MOCK_MODES_WITHOUT_IMAGE,
    PlanSpec,
    ProbeSpec,
    ResourceSpec,
    RoutingSpec,
    ServiceSpec,
    SnapshotSpec,
)
from microstax.lib.graph import find_cycles


@dataclass
class SpecParts:
    """The parts of a blueprint that passed the shape checks, with their list positions.

    ``names`` holds every service's name (by list index) even when the rest of that service was
    malformed, so that references to it are not reported as unknown. ``stripped`` lists, per
    service, the fields left out because they were malformed (already reported); rules about
    those fields are skipped for that service.
    """

    services: list[tuple[int, ServiceSpec]] = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)
    routing: RoutingSpec | None = None
    mode: str | None = None
    plans: dict[str, PlanSpec] = field(default_factory=dict)
    snapshot: SnapshotSpec | None = None
    stripped: dict[int, frozenset[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleOptions:
    """What the caller knows beyond the text (see :func:`blueprints.validation.validate_blueprint`)."""

    base_given: bool = False
    known_upstream_services: frozenset[str] | None = None
    plan: str | None = None


def effective_mode(parts: SpecParts, options: RuleOptions) -> str:
    if parts.mode is not None:
        return parts.mode
    return "overlay" if options.base_given else "isolated"


def check_rules(parts: SpecParts, locator: Locator, options: RuleOptions) -> list[Problem]:
    """Every cross-field and cross-service error of the blueprint."""
    problems: list[Problem] = []
    problems.extend(_service_names(parts, locator))
    mode = effective_mode(parts, options)
    local = _local_services(parts)
    for index, service in parts.services:
        base: Path = ("services", index)
        stripped = parts.stripped.get(index, frozenset())
        problems.extend(_service_rules(service, base, locator, mode, options, stripped))
    problems.extend(_dependencies(parts, locator, mode, options, local))
    problems.extend(_cycles(parts, locator, local))
    problems.extend(_routing(parts, locator, options))
    problems.extend(_plans(parts, locator, options))
    problems.extend(_snapshot(parts, locator, local))
    return problems


def _local_services(parts: SpecParts) -> dict[str, tuple[int, ServiceSpec]]:
    """Services this blueprint runs (first of each name; removed ones excluded)."""
    local: dict[str, tuple[int, ServiceSpec]] = {}
    for index, service in parts.services:
        if not service.removed:
            local.setdefault(service.name, (index, service))
    return local


# --- names --------------------------------------------------------------------------------------
def _service_names(parts: SpecParts, locator: Locator) -> Iterator[Problem]:
    first: dict[str, int] = {}
    keys = locator.service_keys
    for index, name in sorted(parts.names.items()):
        if keys is not None and index < len(keys) and keys[index] != name:
            yield locator.problem(
                "MSX-E026",
                f"service key {keys[index]!r} and its name {name!r} differ; drop 'name' or make them equal",
                ("services", index, "name"),
            )
            continue
        if name in first:
            line = locator.where(("services", first[name]))[1][0]
            yield locator.problem(
                "MSX-E011",
                f"service name {name!r} is used twice (first on line {line}); service names must be unique",
                ("services", index, "name"),
            )
        else:
            first[name] = index


# --- one service --------------------------------------------------------------------------------
def _service_rules(
    service: ServiceSpec,
    base: Path,
    locator: Locator,
    mode: str,
    options: RuleOptions,
    stripped: frozenset[str],
) -> Iterator[Problem]:
    label = f"service {service.name!r}"
    if service.removed:
        if mode != "overlay":
            yield locator.problem(
                "MSX-E020",
                f"{label} is marked removed, but only overlays can remove services (this blueprint is {mode})",
                (*base, "removed"),
            )
        return
    if not stripped & {"image", "mock"}:
        yield from _image(service, base, locator, label)
    # An overlay may change a service it inherits, whose ports then come from its provider.
    upstream = options.known_upstream_services
    inherited = mode == "overlay" and (upstream is None or service.name in upstream)
    if service.expose and not service.ports and not inherited and not stripped & {"ports", "expose"}:
        yield locator.problem(
            "MSX-E024",
            f"{label} is exposed but declares no ports; add a port for the ingress to reach",
            (*base, "expose"),
        )
    yield from _ports(service, base, locator, label)
    if service.resources is not None:
        yield from check_resources(service.resources, (*base, "resources"), locator)
    yield from _volumes(service, base, locator, label)
    yield from _secrets(service, base, locator, label)
    if service.init is not None:
        init = service.init
        if init.script is None and init.inline is None:
            yield locator.problem("MSX-E026", f"init of {label} needs 'script' or 'inline'", (*base, "init"))
        elif init.script is not None and init.inline is not None:
            yield locator.problem(
                "MSX-E026", f"init of {label} has both 'script' and 'inline'; keep one", (*base, "init", "inline")
            )
    if service.probes is not None:
        for kind in ("readiness", "liveness"):
            probe = getattr(service.probes, kind)
            if probe is not None and "ports" not in stripped:
                yield from _probe(service, probe, (*base, "probes", kind), locator, f"{kind} probe of {label}")
    mock = service.mock
    if mock is not None and mock.enabled and not mock.openapi:
        yield locator.problem(
            "MSX-E005",
            f"the mock of {label} needs 'openapi', the path of the OpenAPI document it serves",
            (*base, "mock", "openapi"),
        )


def _image(service: ServiceSpec, base: Path, locator: Locator, label: str) -> Iterator[Problem]:
    if service.image:
        return
    mock = service.mock
    if mock is not None and mock.enabled:
        if mock.mode in MOCK_MODES_WITHOUT_IMAGE:
            return
        yield locator.problem(
            "MSX-E013",
            f"{label} has a {mock.mode} mock, which runs beside the real service; set 'image' for it",
            (*base, "image"),
        )
        return
    yield locator.problem(
        "MSX-E013",
        f"{label} has no image; set 'image' (e.g. ghcr.io/org/app:1.0) or enable a mock",
        (*base, "image"),
    )


def _ports(service: ServiceSpec, base: Path, locator: Locator, label: str) -> Iterator[Problem]:
    container: dict[tuple[int, str], int] = {}
    front: dict[tuple[int, str], int] = {}
    names: dict[str, int] = {}
    for j, port in enumerate(service.ports):
        path = (*base, "ports", j)
        service_port = port.port if port.port is not None else port.container_port
        key = (port.container_port, port.protocol)
        if key in container:
            yield locator.problem(
                "MSX-E016",
                f"{label} declares container port {port.container_port}/{port.protocol} twice "
                f"(also ports[{container[key]}])",
                path,
            )
        else:
            container[key] = j
            front_key = (service_port, port.protocol)
            if front_key in front:
                yield locator.problem(
                    "MSX-E016",
                    f"{label} uses service port {service_port}/{port.protocol} twice (also ports[{front[front_key]}])",
                    path,
                )
            front.setdefault(front_key, j)
        if port.name is not None:
            if port.name in names:
                yield locator.problem(
                    "MSX-E016",
                    f"{label} uses port name {port.name!r} twice (also ports[{names[port.name]}])",
                    (*path, "name"),
                )
            names.setdefault(port.name, j)


def check_resources(resources: ResourceSpec, path: Path, locator: Locator) -> Iterator[Problem]:
    """Shorthand and explicit requests/limits are not mixed, and no limit is below its request."""
    shorthand = resources.cpu is not None or resources.memory is not None
    explicit = resources.requests is not None or resources.limits is not None
    if shorthand and explicit:
        yield locator.problem(
            "MSX-E026",
            "use either cpu/memory (both request and limit) or requests/limits, not both",
            path,
        )
        return
    requests, limits = resources.requests, resources.limits
    if requests is None or limits is None:
        return
    if requests.cpu is not None and limits.cpu is not None:
        if cpu_millicores(limits.cpu) < cpu_millicores(requests.cpu):
            yield locator.problem(
                "MSX-E027",
                f"CPU limit {limits.cpu} is lower than the request {requests.cpu}",
                (*path, "limits", "cpu"),
            )
    if requests.memory is not None and limits.memory is not None:
        if memory_bytes(limits.memory) < memory_bytes(requests.memory):
            yield locator.problem(
                "MSX-E027",
                f"memory limit {limits.memory} is lower than the request {requests.memory}",
                (*path, "limits", "memory"),
            )


def _volumes(service: ServiceSpec, base: Path, locator: Locator, label: str) -> Iterator[Problem]:
    names: set[str] = set()
    paths: set[str] = set()
    for j, volume in enumerate(service.volumes):
        if volume.name in names:
            yield locator.problem(
                "MSX-E028", f"{label} declares volume {volume.name!r} twice", (*base, "volumes", j, "name")
            )
        if volume.mount_path in paths:
            yield locator.problem(
                "MSX-E028",
                f"{label} mounts two volumes at {volume.mount_path}",
                (*base, "volumes", j, "mountPath"),
            )
        names.add(volume.name)
        paths.add(volume.mount_path)


def _secrets(service: ServiceSpec, base: Path, locator: Locator, label: str) -> Iterator[Problem]:
    names: set[str] = set()
    keys: set[str] = set()
    for j, secret in enumerate(service.secrets):
        if secret.name in names:
            yield locator.problem(
                "MSX-E028", f"{label} declares secret {secret.name!r} twice", (*base, "secrets", j, "name")
            )
        if secret.env_key in service.env:
            yield locator.problem(
                "MSX-E028",
                f"{label} sets {secret.env_key} both in env and from secret {secret.name!r}; keep one",
                (*base, "secrets", j, "envKey"),
            )
        elif secret.env_key in keys:
            yield locator.problem(
                "MSX-E028",
                f"{label} injects two secrets as {secret.env_key}",
                (*base, "secrets", j, "envKey"),
            )
        names.add(secret.name)
        keys.add(secret.env_key)


def _probe(service: ServiceSpec, probe: ProbeSpec, path: Path, locator: Locator, label: str) -> Iterator[Problem]:
    handlers = [
        name
        for name, value in (("httpGet", probe.http_get), ("tcpSocket", probe.tcp_socket), ("exec", probe.exec_))
        if value is not None
    ]
    if not handlers:
        yield locator.problem("MSX-E026", f"{label} needs one of httpGet, tcpSocket or exec", path)
        return
    if len(handlers) > 1:
        yield locator.problem(
            "MSX-E026", f"{label} has {' and '.join(handlers)}; a probe uses exactly one", (*path, handlers[1])
        )
        return
    action = probe.http_get or probe.tcp_socket
    if action is not None and isinstance(action.port, str):
        known = {port.name for port in service.ports if port.name}
        known |= {
            f"{port.protocol.lower()}-{port.port if port.port is not None else port.container_port}"
            for port in service.ports
        }
        if action.port not in known:
            yield locator.problem(
                "MSX-E015",
                f"{label} uses port {action.port!r}, which is not the name of any port of this service",
                (*path, handlers[0], "port"),
            )


# --- across services ----------------------------------------------------------------------------
def _dependencies(
    parts: SpecParts,
    locator: Locator,
    mode: str,
    options: RuleOptions,
    local: dict[str, tuple[int, ServiceSpec]],
) -> Iterator[Problem]:
    removed = {service.name for _, service in parts.services if service.removed}
    declared = set(parts.names.values())
    if mode == "overlay":
        if options.known_upstream_services is None:
            # Providers of the chain are only known when the overlay is created.
            allowed = None
        else:
            allowed = (declared | options.known_upstream_services) - removed
    else:
        allowed = declared - removed
    for index, service in parts.services:
        if service.removed:
            continue
        for j, dependency in enumerate(service.depends_on):
            path = ("services", index, "dependsOn", j)
            if dependency in removed:
                yield locator.problem(
                    "MSX-E018",
                    f"service {service.name!r} depends on {dependency!r}, which this overlay removes",
                    path,
                )
            elif allowed is not None and dependency not in allowed:
                where = "in this blueprint or its provider chain" if mode == "overlay" else "in this blueprint"
                yield locator.problem(
                    "MSX-E018",
                    f"service {service.name!r} depends on {dependency!r}, but there is no such service {where}"
                    + _did_you_mean(dependency, allowed),
                    path,
                )


def _did_you_mean(name: str, candidates: set[str]) -> str:
    match = get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _cycles(parts: SpecParts, locator: Locator, local: dict[str, tuple[int, ServiceSpec]]) -> Iterator[Problem]:
    graph: dict[str, list[str]] = {}
    for name, (index, service) in local.items():
        if name in service.depends_on:
            step = service.depends_on.index(name)
            yield locator.problem(
                "MSX-E019", f"service {name!r} depends on itself", ("services", index, "dependsOn", step)
            )
        graph[name] = sorted({d for d in service.depends_on if d in local and d != name})
    for cycle in find_cycles(graph):
        index, service = local[cycle[0]]
        step = service.depends_on.index(cycle[1])
        message = "dependency cycle: " + " → ".join(cycle) + "; services must be startable in some order"
        yield locator.problem("MSX-E019", message, ("services", index, "dependsOn", step))


# --- routing, plans, snapshot -------------------------------------------------------------------
def _routing(parts: SpecParts, locator: Locator, options: RuleOptions) -> Iterator[Problem]:
    routing = parts.routing
    if options.base_given and parts.mode in {"isolated", "baseline"}:
        yield locator.problem(
            "MSX-E020",
            f"a base environment was given, but routing.mode is {parts.mode!r}; "
            "use mode: overlay or create it without a base",
            ("routing", "mode"),
        )
    if parts.mode == "overlay" and not options.base_given and (routing is None or not routing.baseline_id):
        yield locator.problem(
            "MSX-E020",
            "an overlay needs routing.baselineId (the environment it derives from), or a base given when it is created",
            ("routing", "baselineId"),
        )


def _plans(parts: SpecParts, locator: Locator, options: RuleOptions) -> Iterator[Problem]:
    names = set(parts.names.values())
    for plan_name, plan in parts.plans.items():
        for service_name, override in plan.services.items():
            path: Path = ("plans", plan_name, "services", service_name)
            if service_name not in names:
                yield locator.problem(
                    "MSX-E022",
                    f"plan {plan_name!r} overrides service {service_name!r}, which this blueprint does not define"
                    + _did_you_mean(service_name, names),
                    path,
                    at_key=True,
                )
            if override.resources is not None:
                yield from check_resources(override.resources, (*path, "resources"), locator)
    if options.plan is not None and options.plan not in parts.plans:
        available = ", ".join(sorted(parts.plans)) if parts.plans else ""
        message = f"plan {options.plan!r} is not defined; " + (
            f"available plans: {available}" if available else "this blueprint defines no plans"
        )
        yield Problem.make("MSX-E023", message, path="plans")


def _snapshot(parts: SpecParts, locator: Locator, local: dict[str, tuple[int, ServiceSpec]]) -> Iterator[Problem]:
    snapshot = parts.snapshot
    if snapshot is None:
        return
    parsed = {service.name for _, service in parts.services}
    unparsed = set(parts.names.values()) - parsed
    if snapshot.service not in local and snapshot.service not in unparsed:
        reason = "removes" if snapshot.service in parsed else "does not run"
        yield locator.problem(
            "MSX-E018",
            f"snapshot restores into service {snapshot.service!r}, which this blueprint {reason}; "
            "data is only restored into services the environment runs itself",
            ("snapshot", "service"),
        )
    if (snapshot.id is None) == (snapshot.from_environment is None):
        yield locator.problem(
            "MSX-E026",
            "snapshot needs exactly one of 'id' (a snapshot) or 'fromEnvironment' (its latest snapshot)",
            ("snapshot",),
        )
    yield from _snapshot_capture_options(snapshot, locator)


def _snapshot_capture_options(snapshot: SnapshotSpec, locator: Locator) -> Iterator[Problem]:
    """What the capture options may be combined with, and the two options MicroStax does not honour.

    ``policy`` (a published team policy) or inline ``rules``/``tables`` sanitize the capture that a
    ``fromEnvironment`` section makes when no snapshot under that policy exists yet; a snapshot
    named by ``id`` is already captured. ``sourceSecret`` and ``storage`` are refused rather than
    ignored: captures always come from an environment's own service, whose credentials MicroStax
    holds, and artifacts go to the storage the installation is configured with.
    """
    inline = [name for name, given in (("rules", snapshot.rules), ("tables", snapshot.tables)) if given]
    if snapshot.id is not None:
        for name in [*(["policy"] if snapshot.policy else []), *inline]:
            yield locator.problem(
                "MSX-E026",
                f"snapshot.{name} sanitizes a new capture, but 'id' names a snapshot already captured; "
                "use fromEnvironment to capture under a policy, or drop the option",
                ("snapshot", name),
                at_key=True,
            )
    elif snapshot.policy and inline:
        yield locator.problem(
            "MSX-E026",
            f"snapshot names the published policy {snapshot.policy!r} and inline {' and '.join(inline)}; "
            "give one of them (publish the rules as a team policy to reuse them)",
            ("snapshot", inline[0]),
            at_key=True,
        )
    if snapshot.source_secret is not None:
        yield locator.problem(
            "MSX-E031",
            "snapshot.sourceSecret is not supported: data is captured from an environment's own database "
            "service (fromEnvironment), whose credentials MicroStax already holds; to bring data from "
            "elsewhere, load it into an environment and snapshot that",
            ("snapshot", "sourceSecret"),
            at_key=True,
        )
    if snapshot.storage is not None:
        yield locator.problem(
            "MSX-E031",
            "snapshot.storage is not supported: artifacts are kept in the storage this MicroStax "
            "installation is configured with (MICROSTAX_SNAPSHOT_STORAGE_URL), the same for every snapshot",
            ("snapshot", "storage"),
            at_key=True,
        )
