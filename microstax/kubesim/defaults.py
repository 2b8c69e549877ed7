"""Server-side defaulting, as the apiserver's ``SetDefaults_*`` functions fill objects in.

Pure functions over dicts. State-dependent defaults (clusterIP allocation, the default
StorageClass, LimitRange defaults) live in ``admission.py``.
"""

from __future__ import annotations

import base64
from typing import Any

from .util import Obj


def _image_pull_policy(image: str) -> str:
    tail = image.rsplit("/", 1)[-1]
    if "@" in tail:
        return "IfNotPresent"
    if ":" not in tail or tail.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    if isinstance(probe.get("httpGet"), dict):
        probe["httpGet"].setdefault("scheme", "HTTP")
        probe["httpGet"].setdefault("path", "/")


def _default_container(c: Any) -> None:
    if not isinstance(c, dict):
        return
    if isinstance(c.get("image"), str) and c["image"]:
        c.setdefault("imagePullPolicy", _image_pull_policy(c["image"]))
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for key in ("readinessProbe", "livenessProbe", "startupProbe"):
        _default_probe(c.get(key))
    for env in c.get("env") or []:
        ref = (env or {}).get("valueFrom", {}) if isinstance(env, dict) else {}
        if isinstance(ref, dict) and isinstance(ref.get("fieldRef"), dict):
            ref["fieldRef"].setdefault("apiVersion", "v1")


def default_pod_spec(spec: Any, *, restart_policy: str | None = "Always") -> None:
    if not isinstance(spec, dict):
        return
    if restart_policy:
        spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for key in ("containers", "initContainers"):
        for c in spec.get(key) or []:
            _default_container(c)
    for vol in spec.get("volumes") or []:
        if not isinstance(vol, dict):
            continue
        for src in ("secret", "configMap"):
            if isinstance(vol.get(src), dict):
                vol[src].setdefault("defaultMode", 420)
        if "emptyDir" in vol and vol["emptyDir"] is None:
            vol["emptyDir"] = {}


def _default_template(obj: Obj, restart_policy: str | None = "Always") -> None:
    tmpl = (obj.get("spec") or {}).get("template")
    if isinstance(tmpl, dict):
        tmpl.setdefault("metadata", {})
        default_pod_spec(tmpl.get("spec"), restart_policy=restart_policy)


def _pod(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    default_pod_spec(spec)
    if isinstance(spec, dict):
        spec.setdefault("serviceAccountName", "default")
        spec.setdefault("serviceAccount", spec["serviceAccountName"])
        spec.setdefault("enableServiceLinks", True)
        spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        spec.setdefault("priority", 0)
        # The DefaultTolerationSeconds admission plugin adds these two tolerations.
        if not spec.get("tolerations"):
            spec["tolerations"] = [
                {
                    "key": f"node.kubernetes.io/{t}",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                }
                for t in ("not-ready", "unreachable")
            ]
    obj.setdefault("status", {"phase": "Pending", "qosClass": _qos_class(spec)})


def _qos_class(spec: Any) -> str:
    containers = spec.get("containers") or [] if isinstance(spec, dict) else []
    if not containers:
        return "BestEffort"
    guaranteed = True
    any_set = False
    for c in containers:
        res = (c or {}).get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        if req or lim:
            any_set = True
        for r in ("cpu", "memory"):
            if r not in lim or (r in req and str(req[r]) != str(lim[r])):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _deployment(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("replicas", 1)
    strategy = spec.setdefault("strategy", {})
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        ru = strategy.setdefault("rollingUpdate", {})
        ru.setdefault("maxUnavailable", "25%")
        ru.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _default_template(obj)


def _replicaset(obj: Obj) -> None:
    obj.setdefault("spec", {}).setdefault("replicas", 1)
    _default_template(obj)


def _job(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    spec.setdefault("manualSelector", None)
    if spec.get("manualSelector") is None:
        del spec["manualSelector"]
    _default_template(obj, restart_policy=None)


def _service(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if spec["type"] == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if "targetPort" not in port and "port" in port:
                port["targetPort"] = port["port"]
    obj.setdefault("status", {"loadBalancer": {}})


def _secret(obj: Obj) -> None:
    obj.setdefault("type", "Opaque")
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.get("data") or {}
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
        obj["data"] = data


def _namespace(obj: Obj) -> None:
    name = (obj.get("metadata") or {}).get("name")
    if name:
        obj["metadata"].setdefault("labels", {})
        obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name
    obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
    obj.setdefault("status", {}).setdefault("phase", "Active")


def _pvc(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def _pv(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    spec.setdefault("persistentVolumeReclaimPolicy", "Retain")
    spec.setdefault("volumeMode", "Filesystem")
    obj.setdefault("status", {}).setdefault("phase", "Pending")


def _networkpolicy(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    if not spec.get("policyTypes"):
        types = ["Ingress"]
        if spec.get("egress"):
            types.append("Egress")
        spec["policyTypes"] = types
    for rule in (spec.get("ingress") or []) + (spec.get("egress") or []):
        for port in (rule or {}).get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def _limitrange(obj: Obj) -> None:
    for item in (obj.get("spec") or {}).get("limits") or []:
        if not isinstance(item, dict) or item.get("type") != "Container":
            continue
        # SetDefaults_LimitRangeItem: default limit <- max, default request <- default limit, <- min.
        default = dict(item.get("default") or {})
        request = dict(item.get("defaultRequest") or {})
        for r, v in (item.get("max") or {}).items():
            default.setdefault(r, v)
        for r, v in default.items():
            request.setdefault(r, v)
        for r, v in (item.get("min") or {}).items():
            request.setdefault(r, v)
        if default:
            item["default"] = default
        if request:
            item["defaultRequest"] = request


def _storageclass(obj: Obj) -> None:
    obj.setdefault("reclaimPolicy", "Delete")
    obj.setdefault("volumeBindingMode", "Immediate")


def _httproute(obj: Obj) -> None:
    spec = obj.setdefault("spec", {})
    for ref in spec.get("parentRefs") or []:
        if isinstance(ref, dict):
            ref.setdefault("group", "gateway.networking.k8s.io")
            ref.setdefault("kind", "Gateway")
    rules = spec.setdefault("rules", [{}])
    for rule in rules:
        if not isinstance(rule, dict):
            continue
        if not rule.get("matches"):
            rule["matches"] = [{"path": {"type": "PathPrefix", "value": "/"}}]
        for m in rule["matches"]:
            if isinstance(m, dict) and isinstance(m.get("path"), dict):
                m["path"].setdefault("type", "PathPrefix")
                m["path"].setdefault("value", "/")
            for h in (m or {}).get("headers") or []:
                if isinstance(h, dict):
                    h.setdefault("type", "Exact")
        for ref in rule.get("backendRefs") or []:
            if isinstance(ref, dict):
                ref.setdefault("group", "")
                ref.setdefault("kind", "Service")
                ref.setdefault("weight", 1)


_DEFAULTERS = {
    "Pod": _pod,
    "Deployment": _deployment,
    "ReplicaSet": _replicaset,
    "Job": _job,
    "Service": _service,
    "Secret": _secret,
    "Namespace": _namespace,
    "PersistentVolumeClaim": _pvc,
    "PersistentVolume": _pv,
    "NetworkPolicy": _networkpolicy,
    "LimitRange": _limitrange,
    "StorageClass": _storageclass,
    "HTTPRoute": _httproute,
}


def apply_defaults(kind: str, obj: Obj) -> None:
    """Fill server defaults in place (idempotent, so it also runs on every update)."""
    fn = _DEFAULTERS.get(kind)
    if fn is not None:
        fn(obj)
