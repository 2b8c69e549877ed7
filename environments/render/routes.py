"""External routes for exposed services: an Ingress (Traefik, NGINX) or a Gateway API HTTPRoute.

Every exposed service gets the host ``<service>-<env-slug>.<domain>`` routed, path ``/`` and
below, to its first port. Without an ingress domain there is no host to route, so nothing is
rendered (the services still run and are reachable inside the cluster).
"""

from __future__ import annotations

from typing import Any

from .model import ROUTING_PROVIDERS, RenderContext, RenderError
from .names import host, identity_labels, metadata, service_labels

GATEWAY_GROUP = "gateway.networking.k8s.io"

# A stopped environment's routes: every exposed host goes to MicroStax's wake page through one
# ExternalName Service per namespace. Where the provider can rewrite (NGINX annotations, the Gateway
# API's URLRewrite filter) the request arrives as ``/wake/<env id>/<service>/``; Traefik's Ingress
# provider cannot rewrite without its Middleware CRD, so MicroStax recognises the environment's host
# there (``environments.wake``).
WAKE_SERVICE = "msx-wake"
NGINX_REWRITE_TARGET = "nginx.ingress.kubernetes.io/rewrite-target"
NGINX_UPSTREAM_VHOST = "nginx.ingress.kubernetes.io/upstream-vhost"
NGINX_BACKEND_PROTOCOL = "nginx.ingress.kubernetes.io/backend-protocol"


def check_provider(ctx: RenderContext) -> None:
    """Refuse an unknown provider, or the Gateway API without a Gateway to attach routes to."""
    if ctx.routing_provider not in ROUTING_PROVIDERS:
        raise RenderError(
            f"unknown routing provider {ctx.routing_provider!r}; expected one of {', '.join(ROUTING_PROVIDERS)}"
        )
    if ctx.routing_provider == "gateway-api" and ctx.ingress_domain and ctx.gateway is None:
        raise RenderError("the gateway-api routing provider needs the (namespace, name) of a Gateway")


def endpoint(service: dict[str, Any], ctx: RenderContext) -> str:
    return f"http://{host(service['name'], ctx)}"


def wake_path(ctx: RenderContext, service: str) -> str:
    assert ctx.wake is not None
    return f"{ctx.wake.path.rstrip('/')}/{service}/"


def wake_service(ctx: RenderContext) -> dict[str, Any]:
    """The ExternalName Service standing for MicroStax in a stopped environment's namespace."""
    assert ctx.wake is not None
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(WAKE_SERVICE, ctx, identity_labels(ctx)),
        "spec": {
            "type": "ExternalName",
            "externalName": ctx.wake.host,
            "ports": [{"name": ctx.wake.scheme, "port": ctx.wake.port, "targetPort": ctx.wake.port}],
        },
    }


def route(ctx: RenderContext, spec: dict[str, Any], service: dict[str, Any], port: int) -> dict[str, Any]:
    """The Ingress or HTTPRoute sending the service's host to Service port ``port`` — or, while the
    environment is stopped (``ctx.wake``), to the wake page."""
    name = service["name"]
    meta = metadata(name, ctx, service_labels(ctx, spec, name))
    hostname = host(name, ctx)
    backend, filters = name, []
    if ctx.wake is not None:
        backend, port = WAKE_SERVICE, ctx.wake.port
        filters = [
            {
                "type": "URLRewrite",
                "urlRewrite": {
                    "hostname": ctx.wake.host,
                    "path": {"type": "ReplaceFullPath", "replaceFullPath": wake_path(ctx, name)},
                },
            }
        ]
        if ctx.routing_provider == "nginx":
            meta["annotations"] = {
                NGINX_REWRITE_TARGET: wake_path(ctx, name),
                NGINX_UPSTREAM_VHOST: ctx.wake.host,
                **({NGINX_BACKEND_PROTOCOL: "HTTPS"} if ctx.wake.scheme == "https" else {}),
            }
    if ctx.routing_provider == "gateway-api":
        assert ctx.gateway is not None
        gateway_namespace, gateway_name = ctx.gateway
        return {
            "apiVersion": f"{GATEWAY_GROUP}/v1",
            "kind": "HTTPRoute",
            "metadata": meta,
            "spec": {
                "parentRefs": [
                    {"group": GATEWAY_GROUP, "kind": "Gateway", "namespace": gateway_namespace, "name": gateway_name}
                ],
                "hostnames": [hostname],
                "rules": [
                    {
                        "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                        **({"filters": filters} if filters else {}),
                        "backendRefs": [{"group": "", "kind": "Service", "name": backend, "port": port}],
                    }
                ],
            },
        }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta,
        "spec": {
            "ingressClassName": ctx.routing_provider,
            "rules": [
                {
                    "host": hostname,
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": backend, "port": {"number": port}}},
                            }
                        ]
                    },
                }
            ],
        },
    }
