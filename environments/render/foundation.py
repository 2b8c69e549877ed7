"""The namespace and what guards it: network policies, resource quota and limit range."""

from __future__ import annotations

from typing import Any

from microstax.kube.labels import SERVICE

from .model import RenderContext
from .names import COMPONENT, SERVER, dns_name, identity_labels, metadata, service_labels

QUOTA_NAME = "microstax-quota"
LIMITS_NAME = "microstax-limits"
# Pod Security Admission: "baseline" refuses privileged pods, host namespaces and hostPath while
# still running the stock database images (which start as root and drop privileges themselves).
POD_SECURITY = {"pod-security.kubernetes.io/enforce": "baseline"}
# CoreDNS in kube-system carries this label on k3s, kubeadm, GKE (kube-dns), EKS and AKS.
DNS_POD_LABELS = {"k8s-app": "kube-dns"}


def namespace(ctx: RenderContext) -> dict[str, Any]:
    """The environment's namespace, labelled as MicroStax's (the namespace GC only deletes those)."""
    labels = {**identity_labels(ctx), **POD_SECURITY}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": metadata(ctx.namespace, ctx, dict(sorted(labels.items())), namespaced=False),
    }


def _policy(name: str, ctx: RenderContext, labels: dict[str, str], spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(name, ctx, labels),
        "spec": spec,
    }


def shared_network_policies(ctx: RenderContext) -> list[dict[str, Any]]:
    """Default deny both ways, then allow traffic inside the namespace and DNS lookups.

    Policies are additive: the deny-all selects every pod with no rules, and the others add the
    only paths a development stack needs. The ingress controller's path is per exposed service
    (:func:`ingress_policy`).
    """
    labels = identity_labels(ctx)
    every_pod: dict[str, Any] = {}
    return [
        _policy(
            "default-deny",
            ctx,
            labels,
            {"podSelector": every_pod, "policyTypes": ["Ingress", "Egress"]},
        ),
        _policy(
            "allow-same-namespace",
            ctx,
            labels,
            {
                "podSelector": every_pod,
                "ingress": [{"from": [{"podSelector": every_pod}]}],
                "egress": [{"to": [{"podSelector": every_pod}]}],
                "policyTypes": ["Ingress", "Egress"],
            },
        ),
        _policy(
            "allow-dns",
            ctx,
            labels,
            {
                "podSelector": every_pod,
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": dict(DNS_POD_LABELS)},
                            }
                        ],
                        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                    }
                ],
                "policyTypes": ["Egress"],
            },
        ),
    ]


def ingress_policy(ctx: RenderContext, spec: dict[str, Any], name: str, routed: dict[str, Any]) -> dict[str, Any]:
    """Let the ingress controller's namespace reach the routed port of one exposed service.

    The port is the *container* port: policies see traffic after the Service has translated
    ``port`` to ``targetPort``.
    """
    controller_namespace = dict(sorted(ctx.ingress_namespace_labels.items()))
    return _policy(
        dns_name("allow-ingress", name),
        ctx,
        service_labels(ctx, spec, name),
        {
            "podSelector": {"matchLabels": {SERVICE: name, COMPONENT: SERVER}},
            "ingress": [
                {
                    "from": [{"namespaceSelector": {"matchLabels": controller_namespace}}],
                    "ports": [{"port": routed["containerPort"], "protocol": routed["protocol"]}],
                }
            ],
            "policyTypes": ["Ingress"],
        },
    )


def quota_objects(ctx: RenderContext) -> list[dict[str, Any]]:
    """ResourceQuota (when the policy limits anything) and the LimitRange of container defaults."""
    policy = ctx.quota
    if policy is None:
        return []
    labels = identity_labels(ctx)
    out: list[dict[str, Any]] = []
    hard = policy.hard()
    if hard:
        out.append(
            {
                "apiVersion": "v1",
                "kind": "ResourceQuota",
                "metadata": metadata(QUOTA_NAME, ctx, labels),
                "spec": {"hard": hard},
            }
        )
    out.append(
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": metadata(LIMITS_NAME, ctx, labels),
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "default": {"cpu": policy.default_limit_cpu, "memory": policy.default_limit_memory},
                        "defaultRequest": {
                            "cpu": policy.default_request_cpu,
                            "memory": policy.default_request_memory,
                        },
                    }
                ]
            },
        }
    )
    return out
