"""``render_overlay``: an overlay's namespace — its local services, and bridges for the rest.

An overlay runs only the services it adds, changes or promotes (``local``); every other
service of its effective spec is ``inherited`` from its nearest provider and appears in the
overlay namespace as a bridge (:mod:`.bridges`). *Every* inherited service with a port gets a
bridge, not only the dependencies of local services: it costs one Service object, keeps
in-namespace DNS working for anything (a debug pod, a seed script, a dependency the blueprint
forgot to declare), and keeps the namespace's content independent of the dependency graph, so
adding a ``dependsOn`` never changes which objects exist.

Waves: the normal foundation (with the bridge egress policies and, when the overlay is routed
from a baseline, the router and ingress-controller allowances added to it), then a ``bridges``
wave, so inherited names resolve before the first local pod starts, then the normal waves of
the local services. The ReferenceGrant (Gateway API) joins the ``routes`` wave.

Objects for the providers' namespaces are returned in
:attr:`~.model.RenderedEnvironment.provider_objects`; apply them with the overlay's own
objects (they carry the overlay's labels) and prune them per provider namespace.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from microstax.kube.labels import with_managed_metadata
from microstax.kube.objects import ObjectRef

from . import bridges, foundation
from .model import ProviderRef, RenderContext, RenderedEnvironment, RenderError, Wave
from .names import is_dns_label, label_value, require_service_name
from .render import live_services, published_ports, render_environment


def _check(spec: Mapping[str, Any], ctx: RenderContext, local: set[str], inherited: Mapping[str, ProviderRef]) -> None:
    services = set(live_services(spec))
    unknown = sorted((local | set(inherited)) - services)
    if unknown:
        raise RenderError(f"unknown services: {', '.join(unknown)}")
    both = sorted(local & set(inherited))
    if both:
        raise RenderError(f"services cannot be both local and inherited: {', '.join(both)}")
    # The planner classifies every effective service; one missing here is a caller bug that
    # would otherwise leave a dangling host name in the overlay.
    neither = sorted(services - local - set(inherited))
    if neither:
        raise RenderError(f"services neither local nor inherited: {', '.join(neither)}")
    for name, ref in sorted(inherited.items()):
        if not is_dns_label(ref.namespace):
            raise RenderError(f"{name}: provider namespace {ref.namespace!r} is not a DNS label")
        if ref.namespace == ctx.namespace:
            raise RenderError(f"{name}: an inherited service cannot be provided by the overlay's own namespace")
        if not ref.environment_id or label_value(ref.environment_id) != ref.environment_id:
            raise RenderError(f"{name}: provider environment id {ref.environment_id!r} cannot be a label value")


def _stamp(objects: Iterable[dict[str, Any]], ctx: RenderContext) -> list[dict[str, Any]]:
    return [with_managed_metadata(obj, environment_id=ctx.environment_id, team_slug=ctx.team_slug) for obj in objects]


def render_overlay(
    effective_spec: Mapping[str, Any],
    ctx: RenderContext,
    *,
    local: Iterable[str],
    inherited: Mapping[str, ProviderRef],
    baseline_namespace: str | None = None,
) -> RenderedEnvironment:
    """Render an overlay namespace: ``local`` services in full, bridges for ``inherited`` ones.

    ``effective_spec`` is the overlay's effective normalized blueprint (its services over its
    parent's); ``inherited`` maps each other service to its nearest provider. Every live
    service must be in exactly one of the two.

    ``baseline_namespace`` is the namespace of the chain's baseline when it header-routes into
    this overlay (its router or its Ingress/HTTPRoute may send keyed requests to this overlay's
    local services). Then each local service with a port also admits the baseline's router for
    it and the ingress controller on its first port, whatever the overlay's own ``expose``
    says, and under the ``gateway-api`` provider a ReferenceGrant lets the baseline's
    HTTPRoutes name these Services.

    ``provider_objects`` of the result holds, per provider namespace, the NetworkPolicies
    admitting this overlay there (see :mod:`.bridges`).
    """
    local_names = set(local)
    _check(effective_spec, ctx, local_names, inherited)
    if baseline_namespace is not None and (not is_dns_label(baseline_namespace) or baseline_namespace == ctx.namespace):
        raise RenderError(f"baseline namespace {baseline_namespace!r} is not another namespace's name")
    spec = dict(effective_spec)
    services = live_services(spec)
    base = render_environment(spec, ctx, services=sorted(local_names))

    policies: list[dict[str, Any]] = []
    bridged: list[dict[str, Any]] = []
    provider_objects: dict[str, list[dict[str, Any]]] = {}
    warnings: list[str] = []
    for name in sorted(inherited):
        ref = inherited[name]
        ports = published_ports(ctx, spec, services[name])
        if not ports:
            # Nothing listens, so there is nothing to resolve or to admit.
            warnings.append(f"{name}: inherited but declares no port, so it is not bridged")
            continue
        require_service_name(name)
        bridged.append(bridges.bridge(ctx, spec, name, ports, ref))
        policies.append(bridges.bridge_egress_policy(ctx, spec, name, ports, ref))
        provider_objects.setdefault(ref.namespace, []).extend(
            bridges.provider_ingress_policies(ctx, spec, name, ports, ref)
        )

    grant: dict[str, Any] | None = None
    if baseline_namespace is not None:
        already = {obj["metadata"]["name"] for obj in base.objects if obj["kind"] == "NetworkPolicy"}
        targets = []
        for name in sorted(local_names):
            ports = published_ports(ctx, spec, services[name])
            if not ports:
                continue
            targets.append(name)
            policies.append(bridges.router_ingress_policy(ctx, spec, name, ports, baseline_namespace))
            entry = foundation.ingress_policy(ctx, spec, name, ports[0])
            if entry["metadata"]["name"] not in already:
                policies.append(entry)
        if ctx.routing_provider == "gateway-api":
            grant = bridges.reference_grant(ctx, baseline_namespace, targets)

    waves: list[Wave] = []
    for wave in base.waves:
        if wave.name == "foundation":
            waves.append(Wave(wave.name, [*wave.objects, *_stamp(policies, ctx)], wave.wait))
            if bridged:
                waves.append(Wave("bridges", _stamp(bridged, ctx), True))
        elif wave.name == "routes" and grant is not None:
            waves.append(Wave(wave.name, [*_stamp([grant], ctx), *wave.objects], wave.wait))
            grant = None
        else:
            waves.append(wave)
    if grant is not None:
        waves.append(Wave("routes", _stamp([grant], ctx), False))

    objects = [obj for wave in waves for obj in wave.objects]
    duplicates = sorted(str(ref) for ref, count in Counter(ObjectRef.of(obj) for obj in objects).items() if count > 1)
    if duplicates:
        raise RenderError(f"two objects would share a name: {', '.join(duplicates)}")
    owners = {name: list(refs) for name, refs in base.services.items()}
    for obj in bridged:
        owners[obj["metadata"]["name"]] = [ObjectRef("v1", "Service", ctx.namespace, obj["metadata"]["name"])]
    return RenderedEnvironment(
        objects=objects,
        waves=waves,
        endpoints=base.endpoints,
        services=dict(sorted(owners.items())),
        warnings=[*base.warnings, *warnings],
        provider_objects={namespace: _stamp(objs, ctx) for namespace, objs in sorted(provider_objects.items())},
    )
