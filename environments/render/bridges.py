"""Bridges: an overlay's inherited services, reachable under their own names in its namespace.

A bridge is an ``ExternalName`` Service named like the inherited service whose DNS name is a
CNAME to the provider's Service (``<service>.<provider-ns>.svc.cluster.local``), so
``http://catalog:8080`` keeps working in the overlay without any application change. Traffic
then goes to the provider's ClusterIP and from there to its pods, so network policy sees
overlay pod → provider pod on the provider's *container* port, and both ends must allow it:

* overlay side (:func:`bridge_egress_policy`): this namespace's pods may reach the provider
  namespace's pods of that service (and of its router, see below) on those ports;
* provider side (:func:`provider_ingress_policies`): objects for the *provider's* namespace
  admitting this overlay's namespace. They carry the overlay's labels, so the overlay's prune
  in that namespace and its deletion remove them; the provider's own objects are never edited.

While an overlay changes a baseline service, the baseline's Service of that name selects the
mesh-free router's pods (:mod:`.router`), so when the provider is a baseline the policies also
admit the router pods (they listen on the same container ports). An overlay provider never
runs routers, so no router rule is rendered towards one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from microstax.kube.labels import SERVICE

from .model import ProviderRef, RenderContext
from .names import COMPONENT, SERVER, dns_name, identity_labels, metadata, service_labels
from .router import ROUTER, router_peer_labels, service_fqdn

GATEWAY_GROUP = "gateway.networking.k8s.io"
NAMESPACE_NAME = "kubernetes.io/metadata.name"


def _namespace(namespace: str) -> dict[str, Any]:
    # Set by the API server on every namespace (1.21+), so it cannot be forged by a label edit.
    return {"matchLabels": {NAMESPACE_NAME: namespace}}


def _server_peer(service: str) -> dict[str, str]:
    return {COMPONENT: SERVER, SERVICE: service}


def _ports(ports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"port": port["containerPort"], "protocol": port["protocol"]} for port in ports]


def _policy(name: str, namespace: str, labels: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def bridge(
    ctx: RenderContext, spec: dict[str, Any], name: str, ports: list[dict[str, Any]], provider: ProviderRef
) -> dict[str, Any]:
    """The ExternalName Service standing in for an inherited service.

    The ports are informational for an ExternalName Service (DNS does not map ports), but they
    document the contract and let an Ingress or a canary name a port of the bridge.
    """
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, ctx, service_labels(ctx, spec, name)),
        "spec": {
            "type": "ExternalName",
            "externalName": service_fqdn(name, provider.namespace),
            "ports": [
                {"name": port["name"], "port": port["port"], "targetPort": port["port"], "protocol": port["protocol"]}
                for port in ports
            ],
        },
    }


def _peers(name: str, provider: ProviderRef) -> list[dict[str, Any]]:
    peers = [{"namespaceSelector": _namespace(provider.namespace), "podSelector": {"matchLabels": _server_peer(name)}}]
    if provider.routing_key is None:
        peers.append(
            {
                "namespaceSelector": _namespace(provider.namespace),
                "podSelector": {"matchLabels": dict(sorted(router_peer_labels(name).items()))},
            }
        )
    return peers


def bridge_egress_policy(
    ctx: RenderContext, spec: dict[str, Any], name: str, ports: list[dict[str, Any]], provider: ProviderRef
) -> dict[str, Any]:
    """Lets every pod of the overlay reach the bridged service's pods in its provider namespace."""
    return _policy(
        dns_name("allow-bridge", name),
        ctx.namespace,
        service_labels(ctx, spec, name),
        {
            "podSelector": {},
            "egress": [{"to": _peers(name, provider), "ports": _ports(ports)}],
            "policyTypes": ["Egress"],
        },
    )


def provider_ingress_policies(
    ctx: RenderContext, spec: dict[str, Any], name: str, ports: list[dict[str, Any]], provider: ProviderRef
) -> list[dict[str, Any]]:
    """Objects for the provider's namespace admitting this overlay to the bridged service.

    One policy per selected pod set (the service's pods; the baseline router's pods), since a
    NetworkPolicy selects its pods with one label selector and the two share no label.
    """
    labels = service_labels(ctx, spec, name)
    admit = [{"from": [{"namespaceSelector": _namespace(ctx.namespace)}], "ports": _ports(ports)}]
    selectors = [(dns_name("allow", ctx.namespace, "to", name), _server_peer(name))]
    if provider.routing_key is None:
        selectors.append((dns_name("allow", ctx.namespace, "to", name, ROUTER), router_peer_labels(name)))
    return [
        _policy(
            policy_name,
            provider.namespace,
            labels,
            {
                "podSelector": {"matchLabels": dict(sorted(selector.items()))},
                "ingress": admit,
                "policyTypes": ["Ingress"],
            },
        )
        for policy_name, selector in selectors
    ]


def router_ingress_policy(
    ctx: RenderContext, spec: dict[str, Any], name: str, ports: list[dict[str, Any]], baseline_namespace: str
) -> dict[str, Any]:
    """Admits the baseline's router for ``name`` to this overlay's pods of the same service."""
    return _policy(
        dns_name("allow-router", name),
        ctx.namespace,
        service_labels(ctx, spec, name),
        {
            "podSelector": {"matchLabels": _server_peer(name)},
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": _namespace(baseline_namespace),
                            "podSelector": {"matchLabels": dict(sorted(router_peer_labels(name).items()))},
                        }
                    ],
                    "ports": _ports(ports),
                }
            ],
            "policyTypes": ["Ingress"],
        },
    )


def reference_grant(ctx: RenderContext, baseline_namespace: str, services: Iterable[str]) -> dict[str, Any] | None:
    """Lets the baseline's HTTPRoutes name this overlay's Services as backends (Gateway API).

    Cross-namespace ``backendRefs`` are refused by a conforming Gateway without a grant in the
    *target* namespace. The grant names the Services (up to the API's 16 entries) and
    otherwise covers every Service of the namespace. ``None`` when there is nothing to grant.
    """
    names = sorted(set(services))
    if not names:
        return None
    to = (
        [{"group": "", "kind": "Service", "name": name} for name in names]
        if len(names) <= 16
        else [{"group": "", "kind": "Service"}]
    )
    return {
        "apiVersion": f"{GATEWAY_GROUP}/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": metadata(dns_name("allow-routes-from", baseline_namespace), ctx, identity_labels(ctx)),
        "spec": {
            "from": [{"group": GATEWAY_GROUP, "kind": "HTTPRoute", "namespace": baseline_namespace}],
            "to": to,
        },
    }
