"""Header routing in a baseline: entry routes per routing provider, and the mesh-free routers.

``render_routing`` renders, for a baseline and the overlays routed into it, every object the
baseline's namespace needs so that a request carrying ``x-msx-env: <key>`` (or W3C
``baggage: msx-env=<key>``) reaches the overlay's version of a service and anything else the
baseline's. Two layers:

1. **The router** (:mod:`.router`) in front of each baseline service an overlay changes. It
   handles the header *and* baggage, for calls between services and for entry traffic alike,
   because the baseline's Ingress/HTTPRoute targets the Service the router has taken over.
   It alone makes routing correct on every provider.
2. **Native entry routes** where the provider can express the match, saving the router hop for
   requests from outside (they also keep working while a router rolls):

   ================  ==========================================  ==========================
   provider          ``x-msx-env`` at the entry                   ``baggage`` at the entry
   ================  ==========================================  ==========================
   ``gateway-api``   HTTPRoute rule per overlay namespace with    router (a header *regex*
                     Exact header matches → the overlay's         match is implementation-
                     Service (cross-namespace backendRef; the     specific in Gateway API and
                     overlay renders the ReferenceGrant)          may get the route refused)
   ``nginx``         a canary Ingress (``canary-by-header`` +     router (the canary header
                     ``canary-by-header-value``) when exactly     is taken by x-msx-env)
                     one key routes the service; ingress-nginx
                     allows one canary per host and path, so
                     with more keys the router does it all
   ``traefik``       router: Traefik's Ingress provider has no    router
                     annotation for header matching (only its
                     IngressRoute CRD has, which we do not use)
   ================  ==========================================  ==========================

   The nginx canary targets an ``ExternalName`` Service ``<service>-canary`` in the baseline
   namespace (an Ingress backend must be in the Ingress's namespace; ingress-nginx resolves
   ExternalName backends), pointing at the overlay's Service.

The overlay side of these paths (admitting the router and the ingress controller, the
ReferenceGrant) is rendered by :func:`~.overlay.render_overlay` with ``baseline_namespace``.
Objects here carry the baseline's labels; with no overlay routed the result is empty and the
baseline's ordinary render restores the plain Ingress/HTTPRoute and Service selectors (apply
it, then prune).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from microstax.kube.labels import with_managed_metadata
from microstax.kube.objects import ObjectRef

from . import routes as plain_routes
from .model import ProviderRef, RenderContext, RenderedEnvironment, RenderError, Wave
from .names import dns_name, metadata, service_labels
from .render import _check_context, live_services
from .router import DEFAULT_HEADER, DEFAULT_MAX_HOPS, routed_ports, router_objects, service_fqdn

CANARY = "nginx.ingress.kubernetes.io/canary"
CANARY_BY_HEADER = "nginx.ingress.kubernetes.io/canary-by-header"
CANARY_BY_HEADER_VALUE = "nginx.ingress.kubernetes.io/canary-by-header-value"
# HTTPRoute allows 16 rules; one is the default, the rest one per overlay namespace.
MAX_HEADER_RULES = 15


def canary_name(service: str) -> str:
    return dns_name(service, "canary")


def _elsewhere(ctx: RenderContext, routes: Mapping[str, ProviderRef]) -> dict[str, ProviderRef]:
    return {key: ref for key, ref in sorted(routes.items()) if ref.namespace != ctx.namespace}


def _gateway_route(
    ctx: RenderContext,
    spec: dict[str, Any],
    service: dict[str, Any],
    port: int,
    routes: Mapping[str, ProviderRef],
    header_name: str,
) -> tuple[dict[str, Any], list[str]]:
    """The service's HTTPRoute (same name as the plain one, which it replaces) with header rules."""
    route = plain_routes.route(ctx, spec, service, port)
    by_namespace: dict[str, list[str]] = {}
    for key, ref in routes.items():
        by_namespace.setdefault(ref.namespace, []).append(key)
    namespaces = sorted(by_namespace)
    warnings = []
    if len(namespaces) > MAX_HEADER_RULES:
        dropped = namespaces[MAX_HEADER_RULES:]
        namespaces = namespaces[:MAX_HEADER_RULES]
        warnings.append(
            f"{service['name']}: an HTTPRoute holds {MAX_HEADER_RULES} header rules; overlays in "
            f"{', '.join(dropped)} are reached through the router instead"
        )
    rules = []
    for namespace in namespaces:
        keys = sorted(by_namespace[namespace])
        # Matches within a rule are ORed, so one rule per overlay namespace serves all its keys
        # (a child overlay inheriting the service maps its key here too). HTTPRoute allows 64.
        for start in range(0, len(keys), 64):
            rules.append(
                {
                    "matches": [
                        {
                            "path": {"type": "PathPrefix", "value": "/"},
                            "headers": [{"type": "Exact", "name": header_name, "value": key}],
                        }
                        for key in keys[start : start + 64]
                    ],
                    "backendRefs": [
                        {"group": "", "kind": "Service", "name": service["name"], "namespace": namespace, "port": port}
                    ],
                }
            )
    route["spec"]["rules"] = [*rules[:MAX_HEADER_RULES], *route["spec"]["rules"]]
    return route, warnings


def _nginx_canary(
    ctx: RenderContext,
    spec: dict[str, Any],
    service: dict[str, Any],
    ports: list[dict[str, Any]],
    key: str,
    provider: ProviderRef,
    header_name: str,
) -> list[dict[str, Any]]:
    name = service["name"]
    labels = service_labels(ctx, spec, name)
    target = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(canary_name(name), ctx, labels),
        "spec": {
            "type": "ExternalName",
            "externalName": service_fqdn(name, provider.namespace),
            "ports": [
                {"name": port["name"], "port": port["port"], "targetPort": port["port"], "protocol": port["protocol"]}
                for port in ports
            ],
        },
    }
    ingress = plain_routes.route(ctx, spec, service, ports[0]["port"])
    ingress["metadata"] = {
        **metadata(canary_name(name), ctx, labels),
        "annotations": {CANARY: "true", CANARY_BY_HEADER: header_name, CANARY_BY_HEADER_VALUE: key},
    }
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]
    backend["service"]["name"] = canary_name(name)
    return [target, ingress]


def entry_routes(
    spec: Mapping[str, Any],
    ctx: RenderContext,
    service: str,
    routes: Mapping[str, ProviderRef],
    *,
    header_name: str = DEFAULT_HEADER,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Native header routes at the entry for one exposed baseline service, and warnings.

    Empty for a service that is not exposed, without an ingress domain, without keys routed
    elsewhere, under Traefik, and under NGINX with more than one key (see the module table).
    """
    blueprint = dict(spec)
    definition = live_services(blueprint)[service]
    wanted = _elsewhere(ctx, routes)
    if not wanted or not definition["expose"] or not ctx.ingress_domain:
        return [], []
    ports = routed_ports(ctx, blueprint, service)
    if ctx.routing_provider == "gateway-api":
        route, warnings = _gateway_route(ctx, blueprint, definition, ports[0]["port"], wanted, header_name)
        return [route], warnings
    if ctx.routing_provider == "nginx":
        if len(wanted) > 1:
            return [], [
                f"{service}: ingress-nginx allows one canary per host, so {len(wanted)} overlay keys are "
                "routed by the router behind the baseline's Ingress"
            ]
        taken = set(live_services(blueprint))
        if canary_name(service) in taken:
            raise RenderError(f"{service}: the canary needs the name {canary_name(service)!r}, which a service uses")
        ((key, ref),) = wanted.items()
        return _nginx_canary(ctx, blueprint, definition, ports, key, ref, header_name), []
    return [], []


def render_routing(
    spec: Mapping[str, Any],
    ctx: RenderContext,
    routes: Mapping[str, Mapping[str, ProviderRef]],
    *,
    header_name: str = DEFAULT_HEADER,
    max_hops: int = DEFAULT_MAX_HOPS,
) -> RenderedEnvironment:
    """Everything a baseline's namespace needs to header-route into its overlays.

    ``spec``/``ctx`` are the baseline's; ``routes[service][key]`` is the nearest provider of
    ``service`` for routing key ``key``, for every baseline service some overlay changes (a
    key whose nearest provider is the baseline may be given; it is the default anyway).

    Waves: ``routers`` (policies, router ConfigMaps and Deployments, ``<service>-origin``
    Services; awaited, so every router is ready) then ``routing`` (the taken-over Services
    and the entry routes, not awaited). Apply after the baseline's own waves; the entry routes
    replace same-named plain ones of :func:`~.render_environment`, so a later plain render of
    the baseline alone would undo them — render both together while overlays exist.
    """
    _check_context(ctx)
    blueprint = dict(spec)
    services = live_services(blueprint)
    unknown = sorted(set(routes) - set(services))
    if unknown:
        raise RenderError(f"unknown services: {', '.join(unknown)}")
    prepare: list[dict[str, Any]] = []
    switch: list[dict[str, Any]] = []
    owners: dict[str, list[ObjectRef]] = {}
    warnings: list[str] = []
    for name in sorted(routes):
        parts = router_objects(blueprint, ctx, name, routes[name], header_name=header_name, max_hops=max_hops)
        entry, notes = entry_routes(blueprint, ctx, name, routes[name], header_name=header_name)
        prepare += parts.prepare
        switch += [*parts.switch, *entry]
        warnings += notes
        refs = [ObjectRef.of(obj) for obj in [*parts.objects, *entry]]
        if refs:
            owners[name] = refs

    def stamp(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        identity = {"environment_id": ctx.environment_id, "team_slug": ctx.team_slug}
        return [with_managed_metadata(obj, **identity) for obj in objects]

    waves = [
        wave for wave in (Wave("routers", stamp(prepare), True), Wave("routing", stamp(switch), False)) if wave.objects
    ]
    objects = [obj for wave in waves for obj in wave.objects]
    duplicates = sorted(str(ref) for ref, count in Counter(ObjectRef.of(obj) for obj in objects).items() if count > 1)
    if duplicates:
        raise RenderError(f"two objects would share a name: {', '.join(duplicates)}")
    endpoints = {
        name: [plain_routes.endpoint(services[name], ctx)]
        for name in owners
        if services[name]["expose"] and ctx.ingress_domain
    }
    return RenderedEnvironment(objects=objects, waves=waves, endpoints=endpoints, services=owners, warnings=warnings)
