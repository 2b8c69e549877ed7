"""Checks of the remaining kinds (Service, PVC, quota, network, config) and ``validate_object``, the dispatcher."""

from __future__ import annotations

from ..quantity import parse_quantity
from ..util import Obj
from .common import (
    CONFIG_KEY,
    DNS1123_SUBDOMAIN,
    DNS1123_SUBDOMAIN_MSG,
    Cause,
    check_dns_label,
    check_labels,
    check_metadata,
    check_quantity,
    duplicate,
    invalid,
    required,
    unsupported,
)
from .workloads import check_deployment, check_job, check_pod, check_replicaset


def _service(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    out: list[Cause] = []
    stype = spec.get("type", "ClusterIP")
    if stype not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        out.append(unsupported("spec.type", stype, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]))
    ports = spec.get("ports") or []
    if stype != "ExternalName" and not ports and spec.get("clusterIP") != "None":
        out.append(required("spec.ports"))
    names: set[str] = set()
    for i, p in enumerate(ports):
        p = p or {}
        port = p.get("port")
        if isinstance(port, int) and not 1 <= port <= 65535:
            out.append(invalid(f"spec.ports[{i}].port", port, "must be between 1 and 65535, inclusive"))
        name = p.get("name")
        if len(ports) > 1 and not name:
            out.append(required(f"spec.ports[{i}].name"))
        if name:
            out += check_dns_label(f"spec.ports[{i}].name", name)
            if name in names:
                out.append(duplicate(f"spec.ports[{i}].name", name))
            names.add(name)
        if p.get("protocol", "TCP") not in ("TCP", "UDP", "SCTP"):
            out.append(unsupported(f"spec.ports[{i}].protocol", p.get("protocol"), ["SCTP", "TCP", "UDP"]))
    out += check_labels("spec.selector", spec.get("selector"))
    return out


def _pvc(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    out: list[Cause] = []
    modes = spec.get("accessModes") or []
    if not modes:
        out.append(required("spec.accessModes", "at least 1 access mode is required"))
    supported = ["ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"]
    for i, m in enumerate(modes):
        if m not in supported:
            out.append(unsupported(f"spec.accessModes[{i}]", m, supported))
    storage = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if storage is None:
        out.append(required("spec.resources[storage]"))
    else:
        out += check_quantity("spec.resources[storage]", storage)
        if not out:
            if parse_quantity(storage) <= 0:
                out.append(invalid("spec.resources[storage]", storage, "must be greater than zero"))
    return out


def _quota(obj: Obj) -> list[Cause]:
    out: list[Cause] = []
    for r, v in ((obj.get("spec") or {}).get("hard") or {}).items():
        out += check_quantity(f"spec.hard[{r}]", v)
    return out


def _limitrange(obj: Obj) -> list[Cause]:
    out: list[Cause] = []
    for i, item in enumerate((obj.get("spec") or {}).get("limits") or []):
        for part in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            for r, v in ((item or {}).get(part) or {}).items():
                out += check_quantity(f"spec.limits[{i}].{part}[{r}]", v)
    return out


def _networkpolicy(obj: Obj) -> list[Cause]:
    out: list[Cause] = []
    spec = obj.get("spec") or {}
    for i, t in enumerate(spec.get("policyTypes") or []):
        if t not in ("Ingress", "Egress"):
            out.append(unsupported(f"spec.policyTypes[{i}]", t, ["Ingress", "Egress"]))
    for direction in ("ingress", "egress"):
        for i, rule in enumerate(spec.get(direction) or []):
            for j, p in enumerate((rule or {}).get("ports") or []):
                proto = (p or {}).get("protocol", "TCP")
                if proto not in ("TCP", "UDP", "SCTP"):
                    out.append(unsupported(f"spec.{direction}[{i}].ports[{j}].protocol", proto, ["SCTP", "TCP", "UDP"]))
    return out


def _ingress(obj: Obj) -> list[Cause]:
    out: list[Cause] = []
    for i, rule in enumerate((obj.get("spec") or {}).get("rules") or []):
        host = (rule or {}).get("host")
        if host:
            bare = host[2:] if host.startswith("*.") else host
            if not DNS1123_SUBDOMAIN.match(bare):
                out.append(invalid(f"spec.rules[{i}].host", host, DNS1123_SUBDOMAIN_MSG))
        for j, path in enumerate(((rule or {}).get("http") or {}).get("paths") or []):
            base = f"spec.rules[{i}].http.paths[{j}]"
            pt = (path or {}).get("pathType")
            if pt is None:
                out.append(required(f"{base}.pathType", "pathType must be specified"))
            elif pt not in ("Exact", "Prefix", "ImplementationSpecific"):
                out.append(unsupported(f"{base}.pathType", pt, ["Exact", "ImplementationSpecific", "Prefix"]))
            svc = ((path or {}).get("backend") or {}).get("service")
            if svc is not None:
                port = svc.get("port") or {}
                if not port.get("name") and not port.get("number"):
                    out.append(required(f"{base}.backend.service.port", "port name or number is required"))
    return out


def _configmap(obj: Obj) -> list[Cause]:
    out: list[Cause] = []
    for part in ("data", "binaryData"):
        for k in (obj.get(part) or {}).keys():
            if not CONFIG_KEY.match(k) or len(k) > 253:
                out.append(
                    invalid(
                        f"{part}[{k}]",
                        k,
                        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. "
                        "'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
                    )
                )
    return out


def _httproute(obj: Obj) -> list[Cause]:
    out: list[Cause] = []
    for i, host in enumerate((obj.get("spec") or {}).get("hostnames") or []):
        bare = host[2:] if isinstance(host, str) and host.startswith("*.") else host
        if not isinstance(bare, str) or not DNS1123_SUBDOMAIN.match(bare):
            out.append(invalid(f"spec.hostnames[{i}]", host, DNS1123_SUBDOMAIN_MSG))
    return out


_CHECKS = {
    "Deployment": check_deployment,
    "ReplicaSet": check_replicaset,
    "Job": check_job,
    "Pod": check_pod,
    "Service": _service,
    "PersistentVolumeClaim": _pvc,
    "ResourceQuota": _quota,
    "LimitRange": _limitrange,
    "NetworkPolicy": _networkpolicy,
    "Ingress": _ingress,
    "ConfigMap": _configmap,
    "Secret": _configmap,
    "HTTPRoute": _httproute,
}


def validate_object(kind: str, obj: Obj) -> list[Cause]:
    """All semantic causes for an object (empty when valid)."""
    out = check_metadata(kind, obj)
    fn = _CHECKS.get(kind)
    if fn is not None:
        out += fn(obj)
    return out
