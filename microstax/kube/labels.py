"""Label and annotation keys MicroStax puts on every object, and the helpers that set and read them.

One place for the keys: the renderer, the adapter (apply, prune, logs) and the namespace guard
all select by the same strings, so a typo cannot make prune miss objects or delete foreign ones.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

# app.kubernetes.io/managed-by is the well-known label; its value marks an object as ours.
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "microstax"
ENVIRONMENT = "microstax.io/environment"
TEAM = "microstax.io/team"
# The blueprint service an object (Deployment, its pods, Service) belongs to; logs select pods by it.
SERVICE = "app.kubernetes.io/name"
# The annotation carrying the hash of the desired object, compared before writing.
SPEC_HASH = "microstax.io/spec-hash"
# The SSA field manager name MicroStax writes with.
FIELD_MANAGER = "microstax"

# Metadata the server owns or that changes without the desired state changing; never hashed.
_METADATA_NOISE = frozenset(
    {
        "resourceVersion",
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "managedFields",
        "selfLink",
        "generateName",
    }
)
_ANNOTATION_NOISE = frozenset({SPEC_HASH, "kubectl.kubernetes.io/last-applied-configuration"})


def managed_labels(environment_id: object, team_slug: str | None = None) -> dict[str, str]:
    """The identity labels of an environment's objects (namespace, workloads, pods)."""
    labels = {MANAGED_BY: MANAGED_BY_VALUE, ENVIRONMENT: str(environment_id)}
    if team_slug:
        labels[TEAM] = team_slug
    return labels


def selector(labels: Mapping[str, object]) -> str:
    """An equality label selector string (``a=b,c=d``) in a stable order."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def environment_selector(environment_id: object) -> str:
    """Selects every object MicroStax made for one environment, and nothing else."""
    return selector({MANAGED_BY: MANAGED_BY_VALUE, ENVIRONMENT: str(environment_id)})


def service_selector(service: str, environment_id: object | None = None) -> str:
    """Selects the pods of one blueprint service, optionally of one environment only."""
    labels: dict[str, object] = {SERVICE: service}
    if environment_id is not None:
        labels[ENVIRONMENT] = environment_id
    return selector(labels)


def is_managed(obj: Mapping[str, Any]) -> bool:
    """True when ``obj`` carries ``app.kubernetes.io/managed-by=microstax``."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY) == MANAGED_BY_VALUE


def spec_hash(obj: Mapping[str, Any]) -> str:
    """sha256 of the canonical desired object: everything but ``status`` and server/metadata noise.

    Canonical means sorted keys and compact separators, so dict order from the renderer does not
    change the hash; the spec-hash annotation itself is excluded so hashing is idempotent.
    """
    body = {key: value for key, value in obj.items() if key != "status"}
    metadata = {key: value for key, value in (obj.get("metadata") or {}).items() if key not in _METADATA_NOISE}
    annotations = {
        key: value for key, value in (metadata.get("annotations") or {}).items() if key not in _ANNOTATION_NOISE
    }
    if annotations:
        metadata["annotations"] = annotations
    else:
        metadata.pop("annotations", None)
    body["metadata"] = metadata
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def with_managed_metadata(
    obj: Mapping[str, Any],
    *,
    environment_id: object | None = None,
    team_slug: str | None = None,
) -> dict[str, Any]:
    """A deep copy of ``obj`` with our labels and the spec-hash annotation set.

    Labels passed here win over the object's own (they are identity, not decoration). The hash
    is taken after the labels are in place, so relabelling an object counts as a change.
    """
    out = copy.deepcopy(dict(obj))
    out.pop("status", None)
    metadata = out.setdefault("metadata", {})
    for key in _METADATA_NOISE:
        metadata.pop(key, None)
    labels = metadata.setdefault("labels", {})
    labels[MANAGED_BY] = MANAGED_BY_VALUE
    if environment_id is not None:
        labels[ENVIRONMENT] = str(environment_id)
    if team_slug:
        labels[TEAM] = team_slug
    annotations = metadata.setdefault("annotations", {})
    annotations.pop(SPEC_HASH, None)
    annotations[SPEC_HASH] = spec_hash(out)
    return out


def live_spec_hash(obj: Mapping[str, Any]) -> str | None:
    """The spec-hash annotation a live object carries, if any."""
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(SPEC_HASH)
