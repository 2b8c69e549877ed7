"""Per-kind create/update hooks that need cluster state: the apiserver's mutating and validating
admission plugins (NamespaceLifecycle, LimitRanger, ServiceAccount, DefaultStorageClass,
ResourceQuota), clusterIP/nodePort allocation, Job selectors and field immutability.
"""

from __future__ import annotations

import ipaddress
import json
from typing import TYPE_CHECKING, Any

from . import resources as R
from .errors import ApiError, forbidden, invalid, namespace_not_found
from .quota import apply_limit_ranges, counts_towards, namespace_usage, quota_items, quota_violation
from .resources import ResourceType
from .util import Obj

if TYPE_CHECKING:
    from .store import Store

_SERVICE_CIDR = ipaddress.ip_network("10.43.0.0/16")
_NODE_PORTS = range(30000, 32768)


def check_namespace(store: Store, rt: ResourceType, namespace: str, name: str) -> None:
    """NamespaceLifecycle: 404 for a missing namespace, 403 while it is terminating."""
    if not rt.namespaced:
        return
    ns = store.get(R.NAMESPACE, "", namespace)
    if ns is None:
        raise namespace_not_found(namespace)
    if ns["metadata"].get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
        raise forbidden(
            rt,
            name,
            f"unable to create new content in namespace {namespace} because it is being terminated",
            causes=[
                {
                    "reason": "NamespaceTerminating",
                    "message": f"namespace {namespace} is being terminated",
                    "field": "metadata.namespace",
                }
            ],
        )


def _allocate_ip(store: Store, requested: str | None, name: str) -> str:
    used = {
        (s.get("spec") or {}).get("clusterIP")
        for s in store.list(R.SERVICE)
        if (s.get("spec") or {}).get("clusterIP") not in (None, "", "None")
    }
    if requested:
        try:
            addr = ipaddress.ip_address(requested)
        except ValueError as exc:
            raise invalid("Service", "", name, [_ip_cause(requested, "must be a valid IP address")]) from exc
        if addr not in _SERVICE_CIDR:
            raise invalid(
                "Service",
                "",
                name,
                [
                    _ip_cause(
                        requested,
                        f"failed to allocate IP {requested}: the provided "
                        f"IP ({requested}) is not in the valid range. The range of valid "
                        f"IPs is {_SERVICE_CIDR}",
                    )
                ],
            )
        if requested in used:
            raise invalid("Service", "", name, [_ip_cause(requested, "provided IP is already allocated")])
        return requested
    # .1 is the kubernetes service and .10 is kube-dns, as on k3s.
    for n, host in enumerate(_SERVICE_CIDR.hosts()):
        if n < 10:
            continue
        if str(host) not in used:
            return str(host)
    raise ApiError(500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: range is full")


def _ip_cause(value: str, detail: str) -> dict[str, str]:
    return {"reason": "FieldValueInvalid", "message": f'Invalid value: "{value}": {detail}', "field": "spec.clusterIPs"}


def _allocate_node_ports(store: Store, spec: dict[str, Any]) -> None:
    used = {p.get("nodePort") for s in store.list(R.SERVICE) for p in (s.get("spec") or {}).get("ports") or []}
    free = (p for p in _NODE_PORTS if p not in used)
    for port in spec.get("ports") or []:
        if not port.get("nodePort"):
            port["nodePort"] = next(free)


def on_create(store: Store, rt: ResourceType, obj: Obj, *, uid: str) -> None:
    """Mutating admission and allocation for a new object (before validation)."""
    kind = rt.kind
    if kind == "Service":
        spec = obj.setdefault("spec", {})
        if spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
            ip = _allocate_ip(store, spec.get("clusterIP") or None, obj["metadata"].get("name", ""))
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
        elif spec.get("clusterIP") == "None":
            spec["clusterIPs"] = ["None"]
        if spec.get("type") != "ExternalName":
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            _allocate_node_ports(store, spec)
    elif kind == "Job":
        spec = obj.setdefault("spec", {})
        if not spec.get("manualSelector"):
            name = obj["metadata"].get("name", "")
            labels = {
                "batch.kubernetes.io/controller-uid": uid,
                "batch.kubernetes.io/job-name": name,
                "controller-uid": uid,
                "job-name": name,
            }
            spec["selector"] = {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
            tmpl = spec.setdefault("template", {})
            tmpl.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    elif kind == "PersistentVolumeClaim":
        spec = obj.setdefault("spec", {})
        if "storageClassName" not in spec:
            default = next(
                (
                    sc["metadata"]["name"]
                    for sc in store.list(R.STORAGECLASS)
                    if (sc["metadata"].get("annotations") or {}).get("storageclass.kubernetes.io/is-default-class")
                    == "true"
                ),
                None,
            )
            if default:
                spec["storageClassName"] = default
        obj.setdefault("metadata", {}).setdefault("finalizers", [])
        if "kubernetes.io/pvc-protection" not in obj["metadata"]["finalizers"]:
            obj["metadata"]["finalizers"].append("kubernetes.io/pvc-protection")
    elif kind == "Pod":
        ns = obj["metadata"].get("namespace", "")
        sa = (obj.get("spec") or {}).get("serviceAccountName", "default")
        if store.get(R.SERVICEACCOUNT, ns, sa) is None:
            raise forbidden(
                rt,
                obj["metadata"].get("name", ""),
                f'error looking up service account {ns}/{sa}: serviceaccount "{sa}" not found',
            )
        message = apply_limit_ranges(obj, store.list(R.LIMITRANGE, ns))
        if message:
            raise forbidden(rt, obj["metadata"].get("name", ""), message)


def check_quota(store: Store, rt: ResourceType, obj: Obj) -> None:
    """ResourceQuota validating admission for creates."""
    if not rt.namespaced:
        return
    ns = obj["metadata"].get("namespace", "")
    quotas = store.list(R.QUOTA, ns)
    if not quotas:
        return
    hard_keys = {k for q in quotas for k in ((q.get("spec") or {}).get("hard") or {})}
    if not counts_towards(rt, hard_keys):  # an Event or a Deployment uses none of the quota
        return
    items = quota_items(store, ns, hard_keys)
    names = [c.get("name", "") for c in (obj.get("spec") or {}).get("containers") or []] if rt.kind == "Pod" else []
    for q in quotas:
        hard = (q.get("spec") or {}).get("hard") or {}
        used = namespace_usage(items, hard)
        message = quota_violation(q, rt, obj, used, names)
        if message:
            raise forbidden(rt, obj["metadata"].get("name", ""), message)


def _immutable(kind: str, group: str, name: str, field: str, value: Any, extra: str = "") -> ApiError:
    rendered = json.dumps(value) if not isinstance(value, dict) else str(value)
    return invalid(
        kind,
        group,
        name,
        [
            {
                "reason": "FieldValueInvalid",
                "message": f"Invalid value: {rendered}: field is immutable{extra}",
                "field": field,
            }
        ],
    )


def on_update(rt: ResourceType, old: Obj, new: Obj) -> None:
    """Preserve allocated values and enforce immutable fields on update."""
    kind, name = rt.kind, old["metadata"]["name"]
    ospec, nspec = old.get("spec") or {}, new.get("spec") or {}
    if kind == "Service":
        for key in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if key in ospec and not nspec.get(key):
                nspec[key] = ospec[key]
        if nspec.get("clusterIP") != ospec.get("clusterIP") and ospec.get("clusterIP"):
            raise _immutable(kind, "", name, "spec.clusterIPs[0]", nspec.get("clusterIP"))
        old_ports = {p.get("port"): p.get("nodePort") for p in ospec.get("ports") or []}
        for p in nspec.get("ports") or []:
            if (
                not p.get("nodePort")
                and old_ports.get(p.get("port"))
                and nspec.get("type") in ("NodePort", "LoadBalancer")
            ):
                p["nodePort"] = old_ports[p.get("port")]
    elif kind in ("Deployment", "ReplicaSet"):
        if nspec.get("selector") != ospec.get("selector"):
            raise _immutable(kind, rt.group, name, "spec.selector", nspec.get("selector"))
    elif kind == "Job":
        if nspec.get("selector") != ospec.get("selector"):
            raise _immutable(kind, rt.group, name, "spec.selector", nspec.get("selector"))
        if nspec.get("template") != ospec.get("template"):
            raise _immutable(kind, rt.group, name, "spec.template", nspec.get("template"))
    elif kind == "PersistentVolumeClaim":

        def mutable_view(spec: dict[str, Any]) -> dict[str, Any]:
            view = json.loads(json.dumps(spec))
            view.pop("volumeName", None)
            (view.get("resources") or {}).pop("requests", None)
            return view

        if nspec is not ospec and mutable_view(nspec) != mutable_view(ospec):
            raise invalid(
                kind,
                "",
                name,
                [
                    {
                        "reason": "FieldValueForbidden",
                        "field": "spec",
                        "message": "Forbidden: spec is immutable after creation except resources.requests and "
                        "volumeAttributesClassName for bound claims",
                    }
                ],
            )
    elif kind in ("ConfigMap", "Secret") and old.get("immutable"):
        for part in ("data", "binaryData", "stringData"):
            if new.get(part) != old.get(part):
                raise invalid(
                    kind,
                    "",
                    name,
                    [
                        {
                            "reason": "FieldValueForbidden",
                            "field": part,
                            "message": "Forbidden: field is immutable when `immutable` is set",
                        }
                    ],
                )
    elif kind == "Pod":

        def pod_view(spec: dict[str, Any]) -> dict[str, Any]:
            view = json.loads(json.dumps(spec))
            for c in view.get("containers") or []:
                c.pop("image", None)
            for key in ("activeDeadlineSeconds", "tolerations", "nodeName"):
                view.pop(key, None)
            return view

        if nspec is not ospec and pod_view(nspec) != pod_view(ospec):
            raise invalid(
                kind,
                "",
                name,
                [
                    {
                        "reason": "FieldValueForbidden",
                        "field": "spec",
                        "message": "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
                        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
                        "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set "
                        "to 1 if it was previously negative)",
                    }
                ],
            )
