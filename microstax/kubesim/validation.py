"""Semantic validation that the OpenAPI schemas cannot express (``pkg/apis/*/validation``).

Each check returns ``details.causes`` entries worded like apimachinery's ``field.Error``:
``{"reason": "FieldValueInvalid", "message": "Invalid value: \\"x\\": …", "field": "metadata.name"}``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .quantity import PARSE_ERROR, QuantityError, parse_quantity
from .selectors import label_selector_matches
from .util import Obj

Cause = dict[str, str]

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_QUALIFIED_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
    "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
    "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)

# Name rule per kind (ValidateObjectMeta's nameFn); everything else is a DNS-1123 subdomain.
_NAME_RULES = {"Namespace": "label", "Service": "dns1035"}


def _q(value: Any) -> str:
    """Go's ``%q``-ish rendering used in Invalid value messages."""
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value) if not isinstance(value, dict) else str(value)


def invalid(field: str, value: Any, detail: str) -> Cause:
    return {"reason": "FieldValueInvalid", "message": f"Invalid value: {_q(value)}: {detail}", "field": field}


def required(field: str, detail: str = "") -> Cause:
    msg = "Required value" + (f": {detail}" if detail else "")
    return {"reason": "FieldValueRequired", "message": msg, "field": field}


def unsupported(field: str, value: Any, supported: list[str]) -> Cause:
    options = ", ".join(json.dumps(s) for s in supported)
    return {
        "reason": "FieldValueNotSupported",
        "message": f"Unsupported value: {_q(value)}: supported values: {options}",
        "field": field,
    }


def duplicate(field: str, value: Any) -> Cause:
    return {"reason": "FieldValueDuplicate", "message": f"Duplicate value: {_q(value)}", "field": field}


def forbidden(field: str, detail: str) -> Cause:
    return {"reason": "FieldValueForbidden", "message": f"Forbidden: {detail}", "field": field}


def check_dns_label(field: str, value: str) -> list[Cause]:
    out = []
    if len(value) > 63:
        out.append(invalid(field, value, "must be no more than 63 characters"))
    if not _DNS1123_LABEL.match(value):
        out.append(invalid(field, value, DNS1123_LABEL_MSG))
    return out


def check_name(kind: str, name: str) -> list[Cause]:
    rule = _NAME_RULES.get(kind, "subdomain")
    if rule == "label":
        return check_dns_label("metadata.name", name)
    if rule == "dns1035":
        out = []
        if len(name) > 63:
            out.append(invalid("metadata.name", name, "must be no more than 63 characters"))
        if not _DNS1035_LABEL.match(name):
            out.append(invalid("metadata.name", name, DNS1035_LABEL_MSG))
        return out
    out = []
    if len(name) > 253:
        out.append(invalid("metadata.name", name, "must be no more than 253 characters"))
    if not _DNS1123_SUBDOMAIN.match(name):
        out.append(invalid("metadata.name", name, DNS1123_SUBDOMAIN_MSG))
    return out


def _check_qualified_key(field: str, key: str) -> list[Cause]:
    prefix, _, name = key.rpartition("/")
    out: list[Cause] = []
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        out.append(invalid(field, key, "prefix part " + DNS1123_SUBDOMAIN_MSG))
    if not name or len(name) > 63 or not _QUALIFIED_NAME.match(name):
        out.append(
            invalid(
                field,
                key,
                "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
            )
        )
    return out


def check_labels(field: str, labels: Any) -> list[Cause]:
    out: list[Cause] = []
    if not isinstance(labels, dict):
        return out
    for k, v in labels.items():
        out += _check_qualified_key(field, k)
        if not isinstance(v, str) or len(v) > 63 or not _LABEL_VALUE.match(v):
            out.append(
                invalid(
                    f"{field}",
                    v,
                    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
                    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
                    "'my_value',  or '12345', regex used for validation is "
                    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
                )
            )
    return out


def check_metadata(kind: str, obj: Obj) -> list[Cause]:
    md = obj.get("metadata") or {}
    out: list[Cause] = []
    name = md.get("name")
    if not name:
        out.append(required("metadata.name", "name or generateName is required"))
    else:
        out += check_name(kind, name)
    out += check_labels("metadata.labels", md.get("labels"))
    for k in (md.get("annotations") or {}).keys():
        out += _check_qualified_key("metadata.annotations", k)
    return out


def check_quantity(field: str, value: Any, *, non_negative: bool = True) -> list[Cause]:
    try:
        q = parse_quantity(value)
    except QuantityError:
        return [invalid(field, value, PARSE_ERROR)]
    if non_negative and q < 0:
        return [invalid(field, value, "must be greater than or equal to 0")]
    return []


def _check_resources(field: str, res: Any) -> list[Cause]:
    out: list[Cause] = []
    if not isinstance(res, dict):
        return out
    parsed: dict[str, dict[str, Any]] = {}
    for part in ("limits", "requests"):
        for r, v in (res.get(part) or {}).items():
            errs = check_quantity(f"{field}.{part}[{r}]", v)
            out += errs
            if not errs:
                parsed.setdefault(part, {})[r] = (v, parse_quantity(v))
    for r, (v, q) in parsed.get("requests", {}).items():
        lim = parsed.get("limits", {}).get(r)
        if lim is not None and q > lim[1]:
            out.append(invalid(f"{field}.requests", v, f"must be less than or equal to {r} limit of {lim[0]}"))
    return out


def _check_containers(field: str, containers: Any, *, require: bool = True) -> list[Cause]:
    out: list[Cause] = []
    if not containers:
        if require:
            out.append(required(field))
        return out
    seen: set[str] = set()
    for i, c in enumerate(containers):
        base = f"{field}[{i}]"
        if not isinstance(c, dict):
            continue
        name = c.get("name")
        if not name:
            out.append(required(f"{base}.name"))
        else:
            out += [dict(x, field=f"{base}.name") for x in check_dns_label(f"{base}.name", name)]
            if name in seen:
                out.append(duplicate(f"{base}.name", name))
            seen.add(name)
        if not c.get("image"):
            out.append(required(f"{base}.image"))
        for j, p in enumerate(c.get("ports") or []):
            cp = (p or {}).get("containerPort")
            if isinstance(cp, int) and not 1 <= cp <= 65535:
                out.append(invalid(f"{base}.ports[{j}].containerPort", cp, "must be between 1 and 65535, inclusive"))
            proto = (p or {}).get("protocol", "TCP")
            if proto not in ("TCP", "UDP", "SCTP"):
                out.append(unsupported(f"{base}.ports[{j}].protocol", proto, ["SCTP", "TCP", "UDP"]))
        for j, env in enumerate(c.get("env") or []):
            en = (env or {}).get("name")
            if not en:
                out.append(required(f"{base}.env[{j}].name"))
            elif not _ENV_NAME.match(en):
                out.append(
                    invalid(
                        f"{base}.env[{j}].name",
                        en,
                        "a valid environment variable name must consist of alphabetic characters, digits, '_', "
                        "'-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or "
                        "'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')",
                    )
                )
        out += _check_resources(f"{base}.resources", c.get("resources"))
    return out


def check_pod_spec(field: str, spec: Any, *, allowed_restart: tuple[str, ...] | None = None) -> list[Cause]:
    if not isinstance(spec, dict):
        return [required(field)]
    out = _check_containers(f"{field}.containers", spec.get("containers"))
    out += _check_containers(f"{field}.initContainers", spec.get("initContainers"), require=False)
    rp = spec.get("restartPolicy")
    if allowed_restart is not None:
        if rp is None:
            out.append(
                required(f"{field}.restartPolicy", "valid values: " + ", ".join(json.dumps(a) for a in allowed_restart))
            )
        elif rp not in allowed_restart:
            out.append(unsupported(f"{field}.restartPolicy", rp, list(allowed_restart)))
    vol_names: set[str] = set()
    for i, vol in enumerate(spec.get("volumes") or []):
        name = (vol or {}).get("name")
        if not name:
            out.append(required(f"{field}.volumes[{i}].name"))
            continue
        out += check_dns_label(f"{field}.volumes[{i}].name", name)
        if name in vol_names:
            out.append(duplicate(f"{field}.volumes[{i}].name", name))
        vol_names.add(name)
        size = ((vol or {}).get("emptyDir") or {}).get("sizeLimit")
        if size is not None:
            out += check_quantity(f"{field}.volumes[{i}].emptyDir.sizeLimit", size)
    for key in ("containers", "initContainers"):
        for i, c in enumerate(spec.get(key) or []):
            for j, m in enumerate((c or {}).get("volumeMounts") or []):
                if (m or {}).get("name") not in vol_names:
                    out.append(
                        {
                            "reason": "FieldValueNotFound",
                            "message": f"Not found: {_q((m or {}).get('name'))}",
                            "field": f"{field}.{key}[{i}].volumeMounts[{j}].name",
                        }
                    )
    return out


def _check_selector_template(obj: Obj, *, allowed_restart: tuple[str, ...]) -> list[Cause]:
    spec = obj.get("spec") or {}
    out: list[Cause] = []
    sel = spec.get("selector")
    tmpl = spec.get("template") or {}
    labels = (tmpl.get("metadata") or {}).get("labels") or {}
    if not sel or not (sel.get("matchLabels") or sel.get("matchExpressions")):
        out.append(
            invalid("spec.selector", sel or {}, "empty selector is invalid for deployment")
            if obj.get("kind") == "Deployment"
            else required("spec.selector")
        )
    elif not label_selector_matches(sel, labels):
        out.append(invalid("spec.template.metadata.labels", labels, "`selector` does not match template `labels`"))
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        out.append(invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
    out += check_labels("spec.template.metadata.labels", labels)
    out += check_pod_spec("spec.template.spec", tmpl.get("spec"), allowed_restart=allowed_restart)
    return out


def _deployment(obj: Obj) -> list[Cause]:
    out = _check_selector_template(obj, allowed_restart=("Always",))
    spec = obj.get("spec") or {}
    pds = spec.get("progressDeadlineSeconds")
    mrs = spec.get("minReadySeconds") or 0
    if isinstance(pds, int) and pds <= mrs:
        out.append(invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    return out


def _replicaset(obj: Obj) -> list[Cause]:
    return _check_selector_template(obj, allowed_restart=("Always",))


def _job(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    out: list[Cause] = []
    tmpl = spec.get("template") or {}
    out += check_pod_spec("spec.template.spec", tmpl.get("spec"), allowed_restart=("OnFailure", "Never"))
    for key in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        v = spec.get(key)
        if isinstance(v, int) and v < 0:
            out.append(invalid(f"spec.{key}", v, "must be greater than or equal to 0"))
    return out


def _pod(obj: Obj) -> list[Cause]:
    return check_pod_spec("spec", obj.get("spec"), allowed_restart=("Always", "OnFailure", "Never"))


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
            if not _DNS1123_SUBDOMAIN.match(bare):
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
            if not _CONFIG_KEY.match(k) or len(k) > 253:
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
        if not isinstance(bare, str) or not _DNS1123_SUBDOMAIN.match(bare):
            out.append(invalid(f"spec.hostnames[{i}]", host, DNS1123_SUBDOMAIN_MSG))
    return out


_CHECKS = {
    "Deployment": _deployment,
    "ReplicaSet": _replicaset,
    "Job": _job,
    "Pod": _pod,
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
