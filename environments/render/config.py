"""Per-service configuration objects: the Secret, the claims, and environment variables.

Secrets are written as base64 ``data``, not ``stringData``: the server stores ``data`` only, so
what we apply is what we read back, and re-applying an unchanged Secret is a no-op instead of a
field the server rewrites on every apply.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from .model import RenderContext
from .names import dns_name, metadata, service_labels

AUTO_GENERATED = "auto-generated"


def secret_key(service: str, secret: str) -> str:
    """The key of a secret value in :attr:`RenderContext.secret_values`."""
    return f"{service}/{secret}"


def secret_name(service: str) -> str:
    return dns_name(service, "secrets")


def claim_name(service: str, volume: str) -> str:
    return dns_name(service, volume)


def secret_values(service: dict[str, Any], ctx: RenderContext) -> dict[str, str]:
    """The service's secrets by name: the caller's value, else the literal written in the blueprint.

    An ``auto-generated`` secret without a caller value is left out; the orchestrator reports
    all such gaps together before rendering anything (see ``missing_secret_keys``).
    """
    out: dict[str, str] = {}
    for secret in service["secrets"]:
        key = secret_key(service["name"], secret["name"])
        if key in ctx.secret_values:
            out[secret["name"]] = ctx.secret_values[key]
        elif secret["value"] != AUTO_GENERATED:
            out[secret["name"]] = secret["value"]
    return out


def secret(ctx: RenderContext, spec: dict[str, Any], service: dict[str, Any]) -> dict[str, Any] | None:
    """One Opaque Secret holding all of a service's blueprint secrets, or None when it has none."""
    values = secret_values(service, ctx)
    if not values:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(secret_name(service["name"]), ctx, service_labels(ctx, spec, service["name"])),
        "type": "Opaque",
        "data": {name: base64.b64encode(value.encode()).decode("ascii") for name, value in sorted(values.items())},
    }


def env_source(service: dict[str, Any], key: str) -> dict[str, Any] | None:
    """How a container gets the value the service sees as ``$key``: a secret ref or a literal.

    A secret injected under the same variable wins over a plain ``env`` entry, as it does in
    the service's own container.
    """
    for entry in service["secrets"]:
        if entry["envKey"] == key:
            return {"valueFrom": {"secretKeyRef": {"name": secret_name(service["name"]), "key": entry["name"]}}}
    if key in service["env"]:
        return {"value": service["env"][key]}
    return None


def container_env(service: dict[str, Any], extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The container's environment: plain values and secret refs, sorted by name for stable output.

    ``extra`` adds renderer-chosen defaults that the blueprint's own values override.
    """
    names = set(service["env"]) | {entry["envKey"] for entry in service["secrets"]} | set(extra or {})
    out = []
    for name in sorted(names):
        source = env_source(service, name) or {"value": (extra or {})[name]}
        out.append({"name": name, **source})
    return out


def claims(ctx: RenderContext, spec: dict[str, Any], service: dict[str, Any]) -> list[dict[str, Any]]:
    """A ReadWriteOnce PersistentVolumeClaim per ``pvc`` volume of the service."""
    out = []
    for volume in service["volumes"]:
        if volume["type"] != "pvc":
            continue
        claim_spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": volume["size"]}},
        }
        if ctx.storage_class:
            claim_spec["storageClassName"] = ctx.storage_class
        out.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": metadata(
                    claim_name(service["name"], volume["name"]), ctx, service_labels(ctx, spec, service["name"])
                ),
                "spec": claim_spec,
            }
        )
    return out


def content_hash(*objects: dict[str, Any] | None) -> str:
    """A hash of the data of Secrets/ConfigMaps a pod reads, for a pod-template annotation.

    Pods do not restart when a Secret or ConfigMap they read at start-up changes; putting this
    hash on the template makes such a change roll the Deployment, exactly once.
    """
    payload = [
        {"kind": obj["kind"], "name": obj["metadata"]["name"], "data": obj.get("data")}
        for obj in objects
        if obj is not None
    ]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]
