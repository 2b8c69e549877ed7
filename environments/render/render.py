"""``render_environment``: a normalized blueprint and a context in, ordered manifests out.

Waves (each applied with server-side apply; ``wait`` means the next starts once it is ready):

1. ``foundation`` — Namespace, NetworkPolicies, ResourceQuota, LimitRange: guards exist before
   any pod can start, so admission and isolation apply from the first pod on.
2. ``config`` — Secrets, ConfigMaps, PersistentVolumeClaims the workloads mount.
3. ``services-<n>`` then ``seed-<n>`` for each dependency level ``n`` — level 0 holds the services
   that depend on nothing rendered here (the data services of a stack), level ``n`` those whose
   deepest dependency is at ``n - 1``. A level's seed Jobs run right after its services are
   ready and before the next level starts, so dependents never see an unseeded database.
4. ``routes`` — Ingress or HTTPRoute, not awaited: many healthy clusters never publish an
   ingress status (NGINX without ``--publish-service``, Traefik without a load balancer).

Empty waves are left out. Every object carries the identity labels and the spec-hash
annotation (:func:`microstax.kube.labels.with_managed_metadata`), so the output is exactly what
the adapter writes and prune-by-label finds all of it. Nothing here reads a clock, a random
source or the network: equal inputs give equal output.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from microstax.kube.labels import SERVICE, with_managed_metadata
from microstax.kube.objects import ObjectRef

from . import config, foundation, mocks, routes, seeds, workloads
from .model import RenderContext, RenderedEnvironment, RenderError, Wave
from .names import is_dns_label, label_value, require_service_name


@dataclass
class _ServiceObjects:
    """One service's objects, sorted into the waves they belong to."""

    policies: list[dict[str, Any]] = field(default_factory=list)
    config: list[dict[str, Any]] = field(default_factory=list)
    workload: list[dict[str, Any]] = field(default_factory=list)
    seed: list[dict[str, Any]] = field(default_factory=list)
    routes: list[dict[str, Any]] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def live_services(spec: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services the blueprint runs, by name, in the normalized (name) order."""
    return {s["name"]: s for s in spec["services"] if not s.get("removed")}


def published_ports(ctx: RenderContext, spec: Mapping[str, Any], service: dict[str, Any]) -> list[dict[str, Any]]:
    """The ports the service's Service publishes, as :func:`render_environment` renders it.

    A replacing mock publishes its own ports instead of the service's, a sidecar mock adds its
    port; bridges and routers of another environment must offer exactly these.
    """
    mock = mocks.mock_parts(ctx, dict(spec), service)
    if mocks.replaces(service):
        return list(mock.service_ports)
    return [*service["ports"], *mock.service_ports]


def required_files(spec: Mapping[str, Any]) -> list[str]:
    """Repository paths whose text the caller should pass in :attr:`RenderContext.files`."""
    paths = set()
    for service in live_services(spec).values():
        init = service["init"]
        if init is not None and init["inline"] is None and init["script"] and not mocks.replaces(service):
            paths.add(init["script"])
        mock = service["mock"]
        if mock is not None and mock["mode"] != "mirror" and mock["openapi"]:
            paths.add(mock["openapi"])
    return sorted(paths)


def generated_secret_keys(spec: Mapping[str, Any]) -> list[str]:
    """``<service>/<secret>`` keys the caller must generate once and pass in ``secret_values``."""
    return sorted(
        config.secret_key(service["name"], secret["name"])
        for service in live_services(spec).values()
        if not mocks.replaces(service)
        for secret in service["secrets"]
        if secret["value"] == config.AUTO_GENERATED
    )


def dependency_levels(services: Mapping[str, Mapping[str, Any]]) -> dict[str, int]:
    """Each service's wave level: 0 without dependencies here, else one more than its deepest.

    Dependencies outside ``services`` (provided by a baseline when rendering an overlay's
    subset) are already running, so they do not hold a service back.
    """
    levels: dict[str, int] = {}
    visiting: set[str] = set()

    def level(name: str) -> int:
        if name in levels:
            return levels[name]
        if name in visiting:
            raise RenderError(f"dependency cycle through {name!r}")
        visiting.add(name)
        deps = [dep for dep in services[name]["dependsOn"] if dep in services]
        levels[name] = 1 + max((level(dep) for dep in deps), default=-1)
        visiting.discard(name)
        return levels[name]

    for name in services:
        level(name)
    return levels


def _check_context(ctx: RenderContext) -> None:
    for what, value in (("namespace", ctx.namespace), ("environment_slug", ctx.environment_slug)):
        if not is_dns_label(value):
            raise RenderError(f"{what} {value!r} is not a DNS label (lowercase letters, digits, '-'; at most 63)")
    for what, value in (("environment_id", ctx.environment_id), ("team_slug", ctx.team_slug)):
        if not value or label_value(value) != value:
            raise RenderError(f"{what} {value!r} cannot be a label value")
    routes.check_provider(ctx)


def _select(all_services: dict[str, dict[str, Any]], wanted: Iterable[str] | None) -> dict[str, dict[str, Any]]:
    if wanted is None:
        return all_services
    names = set(wanted)
    unknown = sorted(names - set(all_services))
    if unknown:
        raise RenderError(f"unknown services: {', '.join(unknown)}")
    return {name: service for name, service in all_services.items() if name in names}


def _render_service(ctx: RenderContext, spec: dict[str, Any], service: dict[str, Any]) -> _ServiceObjects:
    """All objects of one service; a replacing mock stands in for the image, its secrets, claims and seed."""
    out = _ServiceObjects()
    name = service["name"]
    mock = mocks.mock_parts(ctx, spec, service)
    out.warnings += mock.warnings
    read_by_pod: list[dict[str, Any] | None] = [mock.config_map]
    if mocks.replaces(service):
        containers, volumes, ports = mock.containers, mock.volumes, mock.service_ports
        if service["init"] is not None:
            out.warnings.append(f"{name}: the seed job is skipped while a mock replaces the service")
    else:
        secret = config.secret(ctx, spec, service)
        read_by_pod.append(secret)
        containers = [workloads.container(service, ctx.quota), *mock.containers]
        volumes = workloads.pod_volumes(service) + mock.volumes
        ports = service["ports"] + mock.service_ports
        out.config += [obj for obj in (secret,) if obj is not None]
        out.config += config.claims(ctx, spec, service)
        seed = seeds.seed(ctx, spec, service)
        if seed is not None:
            out.warnings += seed.warnings
            out.config += [seed.config_map] if seed.config_map is not None else []
            out.seed.append(seed.job)
        restore = ctx.snapshot_restore
        if restore is not None and restore.service["name"] == name:
            from snapshots.jobs import render_transfer  # the snapshot app's pure Job renderer

            for obj in render_transfer(ctx, spec, restore):
                (out.seed if obj["kind"] == "Job" else out.config).append(obj)
    out.config += [mock.config_map] if mock.config_map is not None else []
    present = [obj for obj in read_by_pod if obj is not None]
    config_hash = config.content_hash(*present) if present else None
    out.workload.append(workloads.deployment(ctx, spec, service, containers, volumes, config_hash))
    if ports:
        require_service_name(name)
        out.workload.append(workloads.service_object(ctx, spec, service, ports))
    if service["expose"] and not ports:
        out.warnings.append(f"{name}: exposed but declares no port, so there is nothing to route to")
    elif service["expose"] and ctx.ingress_domain:
        out.policies.append(foundation.ingress_policy(ctx, spec, name, ports[0]))
        out.routes.append(routes.route(ctx, spec, service, ports[0]["port"]))
        out.endpoints.append(routes.endpoint(service, ctx))
    return out


def _stamp(objects: Iterable[dict[str, Any]], ctx: RenderContext) -> list[dict[str, Any]]:
    return [with_managed_metadata(obj, environment_id=ctx.environment_id, team_slug=ctx.team_slug) for obj in objects]


def render_environment(
    spec: Mapping[str, Any], ctx: RenderContext, *, services: Iterable[str] | None = None
) -> RenderedEnvironment:
    """Render a normalized blueprint (``validate_blueprint(...).normalized``) into manifests.

    ``services`` limits the output to those services' objects plus the shared foundation
    (namespace, shared policies, quota), as an overlay needs; ``None`` renders every service.
    Raises :class:`RenderError` when the inputs cannot give valid manifests (an invalid context,
    a missing auto-generated secret value, an unknown service, a dependency cycle).
    """
    _check_context(ctx)
    blueprint = dict(spec)
    selected = _select(live_services(blueprint), services)
    missing = [key for key in generated_secret_keys(blueprint) if key.split("/", 1)[0] in selected]
    missing = [key for key in missing if key not in ctx.secret_values]
    if missing:
        raise RenderError(f"values of auto-generated secrets were not supplied: {', '.join(missing)}")
    levels = dependency_levels(selected)
    rendered = {name: _render_service(ctx, blueprint, service) for name, service in selected.items()}

    waves: list[Wave] = []

    def add(name: str, objects: list[dict[str, Any]], wait: bool) -> None:
        if objects:
            waves.append(Wave(name=name, objects=_stamp(objects, ctx), wait=wait))

    add(
        "foundation",
        [
            foundation.namespace(ctx),
            *foundation.shared_network_policies(ctx),
            *foundation.quota_objects(ctx),
            *(obj for parts in rendered.values() for obj in parts.policies),
        ],
        True,
    )
    add("config", [obj for parts in rendered.values() for obj in parts.config], True)
    for level in range(max(levels.values(), default=-1) + 1):
        names = [name for name in rendered if levels[name] == level]
        add(f"services-{level}", [obj for name in names for obj in rendered[name].workload], True)
        add(f"seed-{level}", [obj for name in names for obj in rendered[name].seed], True)
    route_objects = [obj for parts in rendered.values() for obj in parts.routes]
    if route_objects and ctx.wake is not None:
        route_objects.append(routes.wake_service(ctx))
    add("routes", route_objects, False)

    objects = [obj for wave in waves for obj in wave.objects]
    refs = [ObjectRef.of(obj) for obj in objects]
    duplicates = sorted(str(ref) for ref, count in Counter(refs).items() if count > 1)
    if duplicates:
        raise RenderError(f"two objects would share a name: {', '.join(duplicates)}")
    owners: dict[str, list[ObjectRef]] = {name: [] for name in rendered}
    for obj, ref in zip(objects, refs, strict=True):
        owner = obj["metadata"]["labels"].get(SERVICE)
        if owner in owners:
            owners[owner].append(ref)
    return RenderedEnvironment(
        objects=objects,
        waves=waves,
        endpoints={name: parts.endpoints for name, parts in rendered.items() if parts.endpoints},
        services=owners,
        warnings=[warning for parts in rendered.values() for warning in parts.warnings],
    )
