"""Server-side apply that skips unchanged objects, and prune by label.

Skipping: every object we write carries ``microstax.io/spec-hash``, the hash of what we asked for.
Before writing we LIST each (kind, namespace) once by our environment label and compare hashes; an
equal hash means the server already holds exactly this desired state from us, so a no-op
reconcile of a whole environment costs one LIST per kind and zero writes. (Drift made by someone
else — ``kubectl scale`` — is not undone by a skip; a changed blueprint or a forced re-apply is.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import labels as L
from .client import ClusterLike, KubeClient, ResourceInfo, get_client
from .errors import NotFound, PreconditionFailed, UnknownKind, retry_with
from .objects import Obj, ObjectRef, is_deleting
from .watch import list_objects

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"

# Install order inside one apply call (the same idea as Helm's): a namespace before its content,
# quotas and limit ranges before anything that creates pods (so admission sees them), config and
# claims before the workloads that mount them, routing last. Unknown kinds go after all of these.
KIND_ORDER: tuple[str, ...] = (
    "Namespace",
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "PersistentVolumeClaim",
    "Service",
    "Deployment",
    "StatefulSet",
    "Job",
    "Ingress",
    "HTTPRoute",
    "ReferenceGrant",
)
_RANK = {kind: rank for rank, kind in enumerate(KIND_ORDER)}

# Namespaced kinds prune looks at, as (apiVersion, kind). Kinds the cluster does not serve (the
# Gateway API's HTTPRoute without its CRDs) are skipped.
PRUNABLE_KINDS: tuple[tuple[str, str], ...] = (
    ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant"),
    ("networking.k8s.io/v1", "Ingress"),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"),
    ("batch/v1", "Job"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "Deployment"),
    ("v1", "Service"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("v1", "LimitRange"),
    ("v1", "ResourceQuota"),
)


@dataclass
class ApplyReport:
    """What an apply did: which objects it created, updated or skipped, and their live state."""

    created: list[ObjectRef] = field(default_factory=list)
    updated: list[ObjectRef] = field(default_factory=list)
    unchanged: list[ObjectRef] = field(default_factory=list)
    objects: list[Obj] = field(default_factory=list)

    @property
    def writes(self) -> int:
        """Number of PATCH requests sent."""
        return len(self.created) + len(self.updated)

    @property
    def skipped(self) -> int:
        """Number of writes avoided because the live spec-hash matched."""
        return len(self.unchanged)

    def extend(self, other: ApplyReport) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.objects += other.objects


@dataclass
class PruneReport:
    """Objects prune deleted (or found already deleting) because they left the desired set."""

    deleted: list[ObjectRef] = field(default_factory=list)


def _prepare(objects: Iterable[Mapping[str, Any]], environment_id: object | None, team_slug: str | None) -> list[Obj]:
    prepared = []
    for obj in objects:
        out = L.with_managed_metadata(obj, environment_id=environment_id, team_slug=team_slug)
        if not out["metadata"]["labels"].get(L.ENVIRONMENT):
            # Prune and the namespace guard select by this label; an object without it would be
            # written but never cleaned up.
            raise ValueError(f"{ObjectRef.of(out)} has no {L.ENVIRONMENT} label and no environment_id was given")
        prepared.append(out)
    # Stable sort: the caller's order survives within a kind.
    return sorted(prepared, key=lambda o: _RANK.get(o.get("kind", ""), len(KIND_ORDER)))


def _group_key(client: KubeClient, obj: Obj) -> tuple[ResourceInfo, str, str]:
    resource = client.resource_of(obj)
    namespace = (obj.get("metadata") or {}).get("namespace") or ""
    if resource.namespaced and not namespace:
        raise ValueError(f"{ObjectRef.of(obj)} is namespaced but has no metadata.namespace")
    if not resource.namespaced and namespace:
        obj["metadata"].pop("namespace")
        namespace = ""
    return resource, namespace, obj["metadata"]["labels"][L.ENVIRONMENT]


def _live_objects(client: KubeClient, prepared: list[Obj]) -> dict[tuple[str, str, str, str], Obj]:
    """Our live objects matching the batch, by (apiVersion, kind, namespace, name).

    One LIST per (kind, namespace, environment). Namespaces are listed first: a namespace of the
    batch that does not exist yet cannot hold any of our objects, so its content is not listed.
    """
    groups: dict[tuple[ResourceInfo, str, str], None] = {}
    for obj in prepared:
        groups.setdefault(_group_key(client, obj), None)
    live: dict[tuple[str, str, str, str], Obj] = {}
    missing_namespaces: set[str] = set()
    batch_namespaces = {o["metadata"]["name"] for o in prepared if o.get("kind") == "Namespace"}
    for resource, namespace, env in sorted(groups, key=lambda g: g[0].kind != "Namespace"):
        if namespace in missing_namespaces:
            continue
        result = list_objects(client, resource, namespace or None, label_selector=L.environment_selector(env))
        for item in result.items:
            md = item["metadata"]
            live[(resource.api_version, resource.kind, md.get("namespace") or "", md["name"])] = item
        if resource.kind == "Namespace":
            found = {item["metadata"]["name"] for item in result.items}
            missing_namespaces |= batch_namespaces - found
    return live


def read_live(
    cluster: ClusterLike,
    objects: Iterable[Mapping[str, Any]],
    *,
    environment_id: object | None = None,
    team_slug: str | None = None,
) -> dict[ObjectRef, Obj]:
    """Our live objects matching ``objects`` (by reference), read as ``apply`` reads them: one LIST per
    (kind, namespace) selected by the environment label. Objects not found are absent from the
    result; kinds the cluster does not serve raise ``UnknownKind``. Writes nothing (drift checks)."""
    client = get_client(cluster)
    prepared = _prepare(objects, environment_id, team_slug)
    live = _live_objects(client, prepared)
    return {
        ObjectRef(api_version, kind, namespace, name): obj for (api_version, kind, namespace, name), obj in live.items()
    }


def apply(
    cluster: ClusterLike,
    objects: Iterable[Mapping[str, Any]],
    *,
    environment_id: object | None = None,
    team_slug: str | None = None,
    field_manager: str = L.FIELD_MANAGER,
    force: bool = True,
    skip_unchanged: bool = True,
) -> ApplyReport:
    """Server-side apply ``objects``, writing only those whose spec-hash changed.

    Our labels (``environment_id``/``team_slug`` when given) and the spec-hash annotation are set
    on a copy of each object. With ``force=False`` a field owned by another manager raises
    ``FieldConflict``; with ``force=True`` (the default) we take ownership, as a reconciler must.
    ``skip_unchanged=False`` writes every object even when its hash matches: the way to undo a hand
    edit (``kubectl scale``) that left our annotation in place.
    Raises ``KubeError`` (after retries) on the first object that cannot be written.
    """
    client = get_client(cluster)
    prepared = _prepare(objects, environment_id, team_slug)
    live = _live_objects(client, prepared)
    report = ApplyReport()
    for obj in prepared:
        resource = client.resource_of(obj)
        ref = ObjectRef.of(obj)
        current = live.get((ref.api_version, ref.kind, ref.namespace, ref.name))
        if (
            skip_unchanged
            and current is not None
            and not is_deleting(current)
            and L.live_spec_hash(current) == L.live_spec_hash(obj)
        ):
            report.unchanged.append(ref)
            report.objects.append(current)
            continue
        status, result = _server_side_apply(client, resource, obj, field_manager=field_manager, force=force)
        (report.created if status == 201 else report.updated).append(ref)
        report.objects.append(result)
    return report


def _server_side_apply(
    client: KubeClient, resource: ResourceInfo, obj: Obj, *, field_manager: str, force: bool
) -> tuple[int, Obj]:
    md = obj["metadata"]
    path = resource.path(md.get("namespace"), md["name"])
    # force=false is the server default; sending it explicitly would be noise in audit logs.
    query = {"fieldManager": field_manager, "force": True if force else None}
    status, result = retry_with(
        client.retry,
        lambda: client.exchange("PATCH", path, query=query, body=obj, content_type=APPLY_CONTENT_TYPE),
    )
    result.setdefault("apiVersion", resource.api_version)
    result.setdefault("kind", resource.kind)
    return status, result


def apply_waves(
    cluster: ClusterLike,
    waves: Sequence[Sequence[Mapping[str, Any]]],
    *,
    wait: bool = True,
    wave_timeout: float = 300.0,
    fail_fast: bool = True,
    environment_id: object | None = None,
    team_slug: str | None = None,
    field_manager: str = L.FIELD_MANAGER,
    force: bool = True,
) -> WavesReport:
    """Apply waves in order; with ``wait``, each wave must be ready before the next is applied.

    Stops at the first wave that fails or is not ready within ``wave_timeout`` seconds; the
    report's ``ready`` is then false and ``readiness[-1]`` says which objects and why.
    """
    from .wait import wait_ready  # wait imports apply's neighbours; keep the import graph acyclic

    out = WavesReport()
    for wave in waves:
        report = apply(
            cluster,
            wave,
            environment_id=environment_id,
            team_slug=team_slug,
            field_manager=field_manager,
            force=force,
        )
        out.applied.append(report)
        if not wait:
            continue
        readiness = wait_ready(cluster, report.objects, wave_timeout, fail_fast=fail_fast)
        out.readiness.append(readiness)
        if not readiness.ready:
            break
    return out


@dataclass
class WavesReport:
    """Per-wave apply reports and (when waited for) readiness reports, in order."""

    applied: list[ApplyReport] = field(default_factory=list)
    readiness: list[Any] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(r.ready for r in self.readiness)

    @property
    def writes(self) -> int:
        return sum(r.writes for r in self.applied)

    @property
    def skipped(self) -> int:
        return sum(r.skipped for r in self.applied)


def prune(
    cluster: ClusterLike,
    namespace: str,
    desired: Iterable[Mapping[str, Any] | ObjectRef],
    *,
    environment_id: object,
    kinds: Iterable[tuple[str, str]] = PRUNABLE_KINDS,
) -> PruneReport:
    """Delete this environment's objects in ``namespace`` that are not in ``desired``.

    Only objects labelled ``app.kubernetes.io/managed-by=microstax`` *and*
    ``microstax.io/environment=<environment_id>`` are candidates (the selector does it, and each
    candidate is re-checked, so a server that ignored the selector still could not make us delete a
    foreign object). Deletes are background-propagated (a Job's pods go with it) and carry a UID
    precondition, so an object re-created under the same name meanwhile is left alone.
    """
    client = get_client(cluster)
    keep: set[tuple[str, str, str]] = set()
    kinds = list(kinds)
    for item in desired:
        ref = item if isinstance(item, ObjectRef) else ObjectRef.of(item)
        keep.add((ref.api_version, ref.kind, ref.name))
        if (ref.api_version, ref.kind) not in kinds and ref.namespace:
            kinds.append((ref.api_version, ref.kind))
    env = str(environment_id)
    report = PruneReport()
    for api_version, kind in kinds:
        try:
            resource = client.resource(api_version, kind)
        except UnknownKind:
            continue
        if not resource.namespaced:
            continue
        found = list_objects(client, resource, namespace, label_selector=L.environment_selector(env))
        for obj in found.items:
            md = obj["metadata"]
            if (api_version, kind, md["name"]) in keep:
                continue
            if not L.is_managed(obj) or (md.get("labels") or {}).get(L.ENVIRONMENT) != env:
                continue
            ref = ObjectRef(api_version, kind, namespace, md["name"])
            if not is_deleting(obj):
                _delete(client, resource, namespace, md["name"], md.get("uid"))
            report.deleted.append(ref)
    return report


def delete_objects(cluster: ClusterLike, objects: Iterable[Mapping[str, Any] | ObjectRef]) -> list[ObjectRef]:
    """Delete exactly these namespaced objects (background propagation; already gone is fine).

    For objects with a lifetime of their own inside an environment's namespace — a snapshot
    transfer's Job, Secret and ConfigMap — which ``prune`` (everything not desired) cannot single out.
    """
    client = get_client(cluster)
    deleted = []
    for item in objects:
        ref = item if isinstance(item, ObjectRef) else ObjectRef.of(item)
        resource = client.resource(ref.api_version, ref.kind)
        _delete(client, resource, ref.namespace, ref.name, None)
        deleted.append(ref)
    return deleted


def _delete(client: KubeClient, resource: ResourceInfo, namespace: str, name: str, uid: str | None) -> None:
    body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
    if uid:
        body["preconditions"] = {"uid": uid}
    try:
        retry_with(client.retry, lambda: client.request("DELETE", resource.path(namespace, name), body=body))
    except NotFound:
        pass  # already gone: the goal of a delete
    except PreconditionFailed:
        pass  # the name now belongs to a different object, which is not ours to prune
