"""Pod spec and container checks, and the workload kinds built on them (Deployment, ReplicaSet, Job, Pod)."""

from __future__ import annotations

import json
from typing import Any

from ..quantity import parse_quantity
from ..selectors import label_selector_matches
from ..util import Obj
from .common import (
    ENV_NAME,
    Cause,
    check_dns_label,
    check_labels,
    check_quantity,
    duplicate,
    invalid,
    quote,
    required,
    unsupported,
)


def check_resources(field: str, res: Any) -> list[Cause]:
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


def check_containers(field: str, containers: Any, *, require: bool = True) -> list[Cause]:
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
            elif not ENV_NAME.match(en):
                out.append(
                    invalid(
                        f"{base}.env[{j}].name",
                        en,
                        "a valid environment variable name must consist of alphabetic characters, digits, '_', "
                        "'-', or '.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or "
                        "'MyEnvName1', regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*')",
                    )
                )
        out += check_resources(f"{base}.resources", c.get("resources"))
    return out


def check_pod_spec(field: str, spec: Any, *, allowed_restart: tuple[str, ...] | None = None) -> list[Cause]:
    if not isinstance(spec, dict):
        return [required(field)]
    out = check_containers(f"{field}.containers", spec.get("containers"))
    out += check_containers(f"{field}.initContainers", spec.get("initContainers"), require=False)
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
                            "message": f"Not found: {quote((m or {}).get('name'))}",
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


def check_deployment(obj: Obj) -> list[Cause]:
    out = _check_selector_template(obj, allowed_restart=("Always",))
    spec = obj.get("spec") or {}
    pds = spec.get("progressDeadlineSeconds")
    mrs = spec.get("minReadySeconds") or 0
    if isinstance(pds, int) and pds <= mrs:
        out.append(invalid("spec.progressDeadlineSeconds", pds, "must be greater than minReadySeconds"))
    return out


def check_replicaset(obj: Obj) -> list[Cause]:
    return _check_selector_template(obj, allowed_restart=("Always",))


def check_job(obj: Obj) -> list[Cause]:
    spec = obj.get("spec") or {}
    out: list[Cause] = []
    tmpl = spec.get("template") or {}
    out += check_pod_spec("spec.template.spec", tmpl.get("spec"), allowed_restart=("OnFailure", "Never"))
    for key in ("parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "ttlSecondsAfterFinished"):
        v = spec.get(key)
        if isinstance(v, int) and v < 0:
            out.append(invalid(f"spec.{key}", v, "must be greater than or equal to 0"))
    return out


def check_pod(obj: Obj) -> list[Cause]:
    return check_pod_spec("spec", obj.get("spec"), allowed_restart=("Always", "OnFailure", "Never"))
