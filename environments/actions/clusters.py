"""Environment-app operations. Clusters for now: registering one from a kubeconfig and checking its
health. Registering, changing or removing clusters is for platform admins only."""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.actions import record
from environments.choices import ClusterHealth, ClusterKind, RoutingProvider
from environments.kubeconfig import parse_kubeconfig
from environments.models import Cluster
from microstax.lib.errors import Conflict, InvalidInput, PermissionDenied

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DOMAIN = re.compile(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _require_platform_admin(actor) -> None:
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise PermissionDenied("authentication required")
    if not actor.is_superuser:
        raise PermissionDenied("only platform admins register or change clusters")


def cluster_snapshot(cluster: Cluster) -> dict:
    """What the audit trail says about a cluster: never its credentials."""
    return {
        "id": cluster.public_id,
        "name": cluster.name,
        "kind": cluster.kind,
        "api_url": cluster.api_url,
        "ingress_domain": cluster.ingress_domain,
        "routing_provider": cluster.routing_provider,
        "storage_class": cluster.storage_class,
        "is_default": cluster.is_default,
    }


def register_cluster(
    *,
    actor,
    name: str,
    kubeconfig: str,
    context: str | None = None,
    kind: str = ClusterKind.K3S,
    ingress_domain: str = "",
    routing_provider: str | None = None,
    storage_class: str = "",
    is_default: bool = False,
    check: bool = True,
) -> Cluster:
    """Register a cluster from kubeconfig content. Its health and version are read right away
    (``check``); an unreachable cluster is still registered and shown as unreachable."""
    _require_platform_admin(actor)
    name = (name or "").strip()
    if not _NAME.match(name):
        raise InvalidInput("name must be 1-63 lowercase letters, digits or hyphens", field="name")
    if kind not in ClusterKind.values:
        raise InvalidInput(f"kind must be one of {', '.join(ClusterKind.values)}", field="kind")
    routing_provider = routing_provider or (
        RoutingProvider.TRAEFIK if kind in (ClusterKind.K3S, ClusterKind.SANDBOX) else RoutingProvider.NGINX
    )
    if routing_provider not in RoutingProvider.values:
        raise InvalidInput(
            f"routing provider must be one of {', '.join(RoutingProvider.values)}", field="routingProvider"
        )
    ingress_domain = (ingress_domain or "").strip().lower()
    if ingress_domain and not _DOMAIN.match(ingress_domain):
        raise InvalidInput("ingress domain must be a DNS name such as dev.example.com", field="ingressDomain")
    chosen = parse_kubeconfig(kubeconfig, context)
    cluster = Cluster(
        name=name,
        kind=kind,
        api_url=chosen.server,
        ingress_domain=ingress_domain,
        routing_provider=routing_provider,
        storage_class=(storage_class or "").strip(),
        is_default=is_default,
    )
    cluster.set_credentials(kubeconfig=kubeconfig, context=chosen.name)
    try:
        with transaction.atomic():
            if is_default:
                Cluster.objects.filter(is_default=True).update(is_default=False)
            cluster.save()
            record(
                action="cluster.register",
                actor=actor,
                target_type="cluster",
                target_id=cluster.public_id,
                after=cluster_snapshot(cluster),
            )
    except IntegrityError:
        raise Conflict(f"a cluster named '{name}' is already registered", field="name") from None
    if check:
        check_cluster(cluster)
    return cluster


def check_cluster(cluster: Cluster) -> Cluster:
    """Read /version through the adapter and record health. Not audited: it changes no configuration."""
    from microstax import kube

    probe = kube.health(cluster_config(cluster))
    if probe.ok:
        cluster.health, cluster.health_detail, cluster.server_version = ClusterHealth.HEALTHY, "", probe.version
    else:
        cluster.health, cluster.health_detail = ClusterHealth.UNREACHABLE, probe.error[:300]
    cluster.checked_at = timezone.now()
    Cluster.objects.filter(pk=cluster.pk).update(
        health=cluster.health,
        health_detail=cluster.health_detail,
        server_version=cluster.server_version,
        checked_at=cluster.checked_at,
    )
    return cluster


def cluster_config(cluster: Cluster):
    """The adapter's view of a cluster: decrypted credentials, in memory only."""
    from microstax import kube

    credentials = cluster.credentials()
    return kube.ClusterConfig(
        name=cluster.public_id,
        kubeconfig=credentials["kubeconfig"],
        context=credentials["context"] or None,
        in_cluster=cluster.in_cluster,
    )


def set_cluster_credentials(*, actor, cluster: Cluster, kubeconfig: str, context: str | None = None) -> Cluster:
    """Replace a cluster's kubeconfig (rotated credentials, moved API server) and re-check it."""
    _require_platform_admin(actor)
    chosen = parse_kubeconfig(kubeconfig, context)
    with transaction.atomic():
        before = cluster_snapshot(cluster)
        cluster.api_url = chosen.server
        cluster.set_credentials(kubeconfig=kubeconfig, context=chosen.name)
        cluster.save(update_fields=["api_url", "credentials_encrypted"])
        record(
            action="cluster.credentials.update",
            actor=actor,
            target_type="cluster",
            target_id=cluster.public_id,
            before=before,
            after=cluster_snapshot(cluster),
        )
    return check_cluster(cluster)
