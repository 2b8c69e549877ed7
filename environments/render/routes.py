"""External routes for exposed services: an Ingress (Traefik, NGINX) or a Gateway API HTTPRoute.

Every exposed service gets the host ``<service>-<env-slug>.<domain>`` routed, path ``/`` and
below, to its first port. Without an ingress domain there is no host to route, so nothing is
rendered (the services still run and are reachable inside the cluster).
"""

from __future__ import annotations

from typing import Any

from .model import ROUTING_PROVIDERS, RenderContext, RenderError
from .names import host, metadata, service_labels

GATEWAY_GROUP = "gateway.networking.k8s.io"


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


def route(ctx: RenderContext, spec: dict[str, Any], service: dict[str, Any], port: int) -> dict[str, Any]:
    """The Ingress or HTTPRoute sending the service's host to Service port ``port``."""
    name = service["name"]
    meta = metadata(name, ctx, service_labels(ctx, spec, name))
    hostname = host(name, ctx)
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
                        "backendRefs": [{"group": "", "kind": "Service", "name": name, "port": port}],
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
                                "backend": {"service": {"name": name, "port": {"number": port}}},
                            }
                        ]
                    },
                }
            ],
        },
    }
