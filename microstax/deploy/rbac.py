"""The least RBAC the control plane needs in a cluster it manages, rule by rule, each with its reason.

Derived from what ``microstax/kube`` does (apply = server-side apply, prune, delete, watch-until-ready,
diagnosis, logs, namespace lifecycle) and the kinds ``environments/render`` and
``snapshots/jobs`` render. ``tests/deploy/test_rbac.py`` checks this table against those modules, so
a kind added to the renderer without a rule here fails a test rather than a provisioning in
production. No wildcards anywhere.

RBAC cannot select by label, so the namespace rule covers every namespace; the adapter itself only
lists with the ``app.kubernetes.io/managed-by=microstax`` selector and refuses to delete a namespace
without that label (``kube.delete_namespace``). Discovery (``/api``, ``/apis``) and ``/version`` are
granted to every authenticated user by the default ``system:discovery`` and
``system:public-info-viewer`` roles, so they need no rule.
"""

from __future__ import annotations

from dataclasses import dataclass

# Server-side apply is a PATCH; when the object does not exist yet the API server also checks
# ``create``. get/list/watch serve the live read before apply, watch-until-ready and drift checks;
# delete serves prune and the removal of a snapshot transfer's objects.
APPLIED = ("get", "list", "watch", "create", "patch", "delete")


@dataclass(frozen=True)
class Rule:
    """One PolicyRule and why MicroStax needs it."""

    api_group: str
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    why: str

    def as_policy_rule(self) -> dict[str, list[str]]:
        return {"apiGroups": [self.api_group], "resources": list(self.resources), "verbs": list(self.verbs)}


RULES: tuple[Rule, ...] = (
    Rule(
        "",
        ("namespaces",),
        ("get", "list", "watch", "create", "patch", "delete"),
        "one namespace per environment: ensure_namespace applies it (patch, create when new), "
        "list_managed_namespaces lists with the managed-by selector (GC, fleet view), "
        "wait_namespace_gone watches it, delete_namespace deletes it after checking the managed-by label",
    ),
    Rule(
        "",
        ("configmaps", "secrets", "services", "persistentvolumeclaims", "resourcequotas", "limitranges"),
        APPLIED,
        "rendered into environment namespaces (service config and files, generated secrets and snapshot "
        "transfer tokens, services and bridges, volumes, the namespace quota and its defaults): "
        "applied, read back, awaited, pruned",
    ),
    Rule(
        "apps",
        ("deployments",),
        APPLIED,
        "every blueprint service and the header router run as Deployments: applied, awaited, "
        "scaled to zero and back (stop/resume), checked for drift, pruned",
    ),
    Rule(
        "batch",
        ("jobs",),
        APPLIED,
        "blueprint tasks and snapshot capture/restore run as Jobs: applied, awaited, deleted when done",
    ),
    Rule(
        "networking.k8s.io",
        ("ingresses", "networkpolicies"),
        APPLIED,
        "Ingress routes for environment endpoints (traefik/nginx providers); NetworkPolicies isolate "
        "namespaces and let overlays and snapshot agents reach what they need",
    ),
    Rule(
        "gateway.networking.k8s.io",
        ("httproutes", "referencegrants"),
        APPLIED,
        "the gateway-api routing provider: HTTPRoutes for endpoints and header routing, a ReferenceGrant "
        "letting a baseline's route point at an overlay's services",
    ),
    Rule(
        "",
        ("pods",),
        ("get", "list", "watch"),
        "pods are never written: they are read to explain a workload that is not ready and to find the "
        "pods whose logs are tailed or followed",
    ),
    Rule("", ("pods/log",), ("get",), "log tails and follows (dashboard, GraphQL subscription, CLI)"),
    Rule(
        "",
        ("events",),
        ("list",),
        "Warning events explain why a workload is not ready (image pulls, quota, scheduling)",
    ),
    Rule(
        "apps",
        ("replicasets",),
        ("list",),
        "a quota refusal shows only on the ReplicaSet (ReplicaFailure), read to explain a stuck Deployment",
    ),
    Rule(
        "apps",
        ("statefulsets",),
        ("list",),
        "prune lists every kind it could have applied; MicroStax never creates StatefulSets, so no write verb",
    ),
    Rule(
        "",
        ("serviceaccounts",),
        ("list",),
        "prune lists every kind it could have applied; MicroStax never creates ServiceAccounts, so no write verb",
    ),
    Rule(
        "storage.k8s.io",
        ("storageclasses",),
        ("get", "list"),
        "a volume claim on a WaitForFirstConsumer class stays Pending until a pod uses it; the binding "
        "mode is read so that is not reported as not ready (cluster-scoped, read-only)",
    ),
)


def policy_rules() -> list[dict[str, list[str]]]:
    """The ClusterRole's ``rules``, in the order of ``RULES``."""
    return [rule.as_policy_rule() for rule in RULES]


def granted(api_group: str, resource: str) -> set[str]:
    """Every verb the role grants on ``resource`` of ``api_group``."""
    return {v for r in RULES if r.api_group == api_group and resource in r.resources for v in r.verbs}
