"""A service's Deployment and Service."""

from __future__ import annotations

from typing import Any

from blueprints.quantities import parse_quantity

from .config import claim_name, container_env
from .model import QuotaPolicy, RenderContext
from .names import SERVER, metadata, pod_labels, server_selector, service_labels

PROGRESS_DEADLINE_SECONDS = 300
REVISION_HISTORY_LIMIT = 2
CONFIG_HASH = "microstax.io/config-hash"
# The stock postgres image refuses to initdb into a non-empty directory, and a fresh ext4 volume
# (GKE, EKS, AKS disks) holds lost+found; a subdirectory of the mount avoids that.
POSTGRES_DATA_MOUNT = "/var/lib/postgresql/data"


def resources(service: dict[str, Any], quota: QuotaPolicy | None) -> dict[str, Any]:
    """The container's requests and limits, made admissible next to a LimitRange.

    Kubernetes copies a limit into a missing request itself, but a LimitRange fills a missing
    *limit* with its default even when that is below the container's request, and the pod is
    then refused (request > limit). So under a quota a request without a limit gets the larger
    of the request and the default limit, explicitly.
    """
    requests = dict(service["resources"]["requests"])
    limits = dict(service["resources"]["limits"])
    for name, limit in limits.items():
        requests.setdefault(name, limit)
    if quota is not None:
        defaults = {"cpu": quota.default_limit_cpu, "memory": quota.default_limit_memory}
        for name, request in requests.items():
            if name not in limits:
                default = defaults[name]
                limits[name] = request if parse_quantity(request) > parse_quantity(default) else default
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = dict(sorted(limits.items()))
    if requests:
        out["requests"] = dict(sorted(requests.items()))
    return out


def container_ports(service: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": port["name"], "containerPort": port["containerPort"], "protocol": port["protocol"]}
        for port in service["ports"]
    ]


def _extra_env(service: dict[str, Any]) -> dict[str, str]:
    image = (service.get("image") or "").rsplit("/", 1)[-1]
    mounts = {volume["mountPath"] for volume in service["volumes"] if volume["type"] == "pvc"}
    if image.startswith("postgres") and POSTGRES_DATA_MOUNT in mounts:
        return {"PGDATA": f"{POSTGRES_DATA_MOUNT}/pgdata"}
    return {}


def container(service: dict[str, Any], quota: QuotaPolicy | None) -> dict[str, Any]:
    """The service's container as the blueprint describes it."""
    out: dict[str, Any] = {"name": service["name"], "image": service["image"]}
    if service["command"] is not None:
        out["command"] = list(service["command"])
    if service["args"] is not None:
        out["args"] = list(service["args"])
    if service["ports"]:
        out["ports"] = container_ports(service)
    env = container_env(service, _extra_env(service))
    if env:
        out["env"] = env
    res = resources(service, quota)
    if res:
        out["resources"] = res
    for kind in ("readiness", "liveness"):
        probe = service["probes"][kind]
        if probe is not None:
            out[f"{kind}Probe"] = dict(probe)
    if service["volumes"]:
        out["volumeMounts"] = [{"name": v["name"], "mountPath": v["mountPath"]} for v in service["volumes"]]
    return out


def pod_volumes(service: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for volume in service["volumes"]:
        if volume["type"] == "pvc":
            out.append(
                {
                    "name": volume["name"],
                    "persistentVolumeClaim": {"claimName": claim_name(service["name"], volume["name"])},
                }
            )
        else:
            empty: dict[str, Any] = {"sizeLimit": volume["size"]} if volume["size"] else {}
            out.append({"name": volume["name"], "emptyDir": empty})
    return out


def pod_spec(containers: list[dict[str, Any]], volumes: list[dict[str, Any]]) -> dict[str, Any]:
    """Pod settings shared by Deployments and Jobs.

    Service links are off because Kubernetes would otherwise inject ``<SERVICE>_PORT=tcp://…``
    variables for every Service in the namespace, which clobber variables such as ``DB_PORT`` or
    ``REDIS_PORT`` that applications read. Application pods never call the Kubernetes API, so
    no service-account token is mounted.
    """
    out: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": containers,
    }
    if volumes:
        out["volumes"] = volumes
    return out


def deployment(
    ctx: RenderContext,
    spec: dict[str, Any],
    service: dict[str, Any],
    containers: list[dict[str, Any]],
    volumes: list[dict[str, Any]],
    config_hash: str | None,
) -> dict[str, Any]:
    """The Deployment running ``containers`` for a service."""
    name = service["name"]
    template_meta: dict[str, Any] = {"labels": pod_labels(ctx, spec, name, SERVER)}
    if config_hash:
        template_meta["annotations"] = {CONFIG_HASH: config_hash}
    has_claim = any("persistentVolumeClaim" in volume for volume in volumes)
    if has_claim:
        # A ReadWriteOnce volume attaches to one node: a surge pod elsewhere would wait forever
        # for it while the old pod holds it, so stop the old pod first.
        strategy: dict[str, Any] = {"type": "Recreate"}
    else:
        # Kubernetes' defaults, written out so we own them: switching to Recreate later then
        # removes rollingUpdate instead of leaving it behind (which the API server refuses).
        strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, ctx, service_labels(ctx, spec, name)),
        "spec": {
            "replicas": service["replicas"],
            "revisionHistoryLimit": REVISION_HISTORY_LIMIT,
            "progressDeadlineSeconds": PROGRESS_DEADLINE_SECONDS,
            "selector": {"matchLabels": server_selector(ctx, name)},
            "strategy": strategy,
            "template": {"metadata": template_meta, "spec": pod_spec(containers, volumes)},
        },
    }


def service_object(
    ctx: RenderContext, spec: dict[str, Any], service: dict[str, Any], ports: list[dict[str, Any]]
) -> dict[str, Any]:
    """A ClusterIP Service named like the blueprint service: ``port`` → ``targetPort`` containerPort."""
    name = service["name"]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, ctx, service_labels(ctx, spec, name)),
        "spec": {
            "type": "ClusterIP",
            "selector": server_selector(ctx, name),
            "ports": [
                {
                    "name": port["name"],
                    "port": port["port"],
                    "targetPort": port["containerPort"],
                    "protocol": port["protocol"],
                }
                for port in ports
            ],
        },
    }
