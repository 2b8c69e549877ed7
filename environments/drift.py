"""Drift (DESIGN.md §7): live objects that no longer are what MicroStax rendered for an environment.

For a running environment the desired objects are rendered exactly as provisioning renders them
(``Provisioner.render``, not a copy of it) and compared with the live objects the adapter reads with
one LIST per kind (``kube.read_live``). An object has drifted when it

- was **deleted** by hand (or is being deleted) while the environment still wants it;
- carries a **spec-hash** other than the desired one (someone applied another version of it, or
  the environment changed and was not reconciled);
- was **edited by hand**: another field manager owns fields of its spec or data. Server-side apply
  records who set each field (``metadata.managedFields``): ``kubectl scale``, ``kubectl edit``,
  ``kubectl set image`` or a patch take ownership of the fields they change away from
  ``microstax``, while our spec-hash annotation stays as it was — so ownership, not the hash, shows
  the edit. Controllers writing status (or their own metadata) are not edits. For the fields people
  change most (a Deployment's replicas and images) the change names the values too.

``check`` is the fleet sweep's drift section: it checks a bounded number of environments per sweep
(those checked longest ago first), records what it found on ``Environment.drift`` (a list of
``{kind, name, change}``) and ``drift_checked_at``, writes one ``environment.drift.detected`` audit
event when drift appears or changes (and ``environment.drift.resolved`` when it is gone), and under a
team policy of ``reapply`` enqueues a reconcile that rewrites every object. Its query count depends
on the batch size and on how many environments changed, never on the size of the fleet.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import F

from environments.actions.clusters import cluster_config
from environments.actions.lifecycle import SYSTEM, audit_environment, reconcile_environment
from environments.choices import DriftPolicy, EnvironmentState, OperationState
from environments.models import Environment, Operation, TeamPolicy
from microstax import kube
from microstax.kube import labels as L
from microstax.kube.objects import ObjectRef, is_deleting

if TYPE_CHECKING:
    from environments.fleet import SweepReport

logger = logging.getLogger(__name__)

DRIFT_DETECTED = "environment.drift.detected"
DRIFT_RESOLVED = "environment.drift.resolved"
DEFAULT_CHECKS_PER_SWEEP = 50
DEFAULT_INTERVAL_MINUTES = 10

_OWN_MANAGERS = frozenset({L.FIELD_MANAGER})
# Top-level fields an edit of ours would be in; metadata and status belong to everyone.
_IGNORED_TOP = frozenset({"f:metadata", "f:status", "f:apiVersion", "f:kind"})
_MAX_PATHS = 4


def checks_per_sweep() -> int:
    return int(getattr(settings, "MICROSTAX_DRIFT_CHECKS_PER_SWEEP", DEFAULT_CHECKS_PER_SWEEP))


def check_interval() -> timedelta:
    return timedelta(minutes=getattr(settings, "MICROSTAX_DRIFT_INTERVAL_MINUTES", DEFAULT_INTERVAL_MINUTES))


# -- comparing (pure) -------------------------------------------------------------------------------


def _owned_in(desired: Any, tree: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The paths of a ``fieldsV1`` tree that also exist in ``desired``, readable:
    ``spec.template.spec.containers[name=api].image``.

    Only these count as edits: a controller filling in a field we never set (a claim's
    ``spec.volumeName``, a Service's ``clusterIP``) is not drift.
    """
    paths: list[str] = []
    for key, sub in sorted(tree.items()):
        if key == ".":
            continue
        child: Any = _MISSING
        if key.startswith("f:") and isinstance(desired, Mapping):
            path = f"{prefix}.{key[2:]}" if prefix else key[2:]
            child = desired.get(key[2:], _MISSING)
        elif key.startswith("k:") and isinstance(desired, list):
            try:
                wanted = json.loads(key[2:])
            except ValueError:
                continue
            path = prefix + "[" + ",".join(f"{k}={v}" for k, v in sorted(wanted.items())) + "]"
            child = next(
                (
                    item
                    for item in desired
                    if isinstance(item, Mapping) and all(str(item.get(k)) == str(v) for k, v in wanted.items())
                ),
                _MISSING,
            )
        elif key.startswith("v:") and isinstance(desired, list):
            path = f"{prefix}[{key[2:]}]"
            try:
                child = key[2:] if json.loads(key[2:]) in desired else _MISSING
            except ValueError:
                continue
        else:
            continue
        if child is _MISSING:
            continue
        nested = _owned_in(child, sub, path) if isinstance(sub, Mapping) and set(sub) - {"."} else []
        if nested:
            paths += nested
        elif not (isinstance(sub, Mapping) and set(sub) - {"."}) or not isinstance(child, (Mapping, list)):
            paths.append(path)
    return paths


_MISSING = object()


def hand_edits(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[tuple[str, list[str]]]:
    """(manager, field paths) for every manager other than us that owns fields we set in ``desired``
    (its spec, data…). Status subresource entries are never edits."""
    edits = []
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        manager = entry.get("manager") or "unknown"
        if manager in _OWN_MANAGERS or entry.get("subresource") == "status":
            continue
        fields = {k: v for k, v in (entry.get("fieldsV1") or {}).items() if k not in _IGNORED_TOP}
        paths = _owned_in(desired, fields)
        if paths:
            edits.append((manager, paths))
    return edits


def _value_changes(desired: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    """The values people change by hand most, when they differ: a workload's replicas and images."""
    if desired.get("kind") not in ("Deployment", "StatefulSet"):
        return []
    changes = []
    want, have = desired.get("spec") or {}, live.get("spec") or {}
    if "replicas" in want and want.get("replicas") != have.get("replicas"):
        changes.append(f"replicas {want.get('replicas')} → {have.get('replicas')}")
    live_images = {
        c.get("name"): c.get("image") for c in ((have.get("template") or {}).get("spec") or {}).get("containers") or []
    }
    for container in ((want.get("template") or {}).get("spec") or {}).get("containers") or []:
        image = live_images.get(container.get("name"))
        if image is not None and image != container.get("image"):
            changes.append(f"image of {container.get('name')} {container.get('image')} → {image}")
    return changes


def compare(desired: Iterable[Mapping[str, Any]], live: Mapping[ObjectRef, Mapping[str, Any]]) -> list[dict[str, str]]:
    """What differs between the desired objects and the live ones, as ``{kind, name, change}``.

    A missing namespace is reported alone: everything in it went with it.
    """
    desired = list(desired)
    namespace = next((o for o in desired if o.get("kind") == "Namespace"), None)
    if namespace is not None and ObjectRef.of(namespace) not in live:
        return [{"kind": "Namespace", "name": namespace["metadata"]["name"], "change": "deleted"}]
    drift = []
    for obj in desired:
        ref = ObjectRef.of(obj)
        current = live.get(ref)
        item = {"kind": ref.kind, "name": ref.name}
        if current is None:
            drift.append({**item, "change": "deleted"})
            continue
        if is_deleting(current):
            drift.append({**item, "change": "being deleted"})
            continue
        changes = []
        live_hash, want_hash = L.live_spec_hash(current), L.live_spec_hash(obj)
        if live_hash != want_hash:
            changes.append(f"spec-hash {(live_hash or 'none')[:12]} ≠ desired {(want_hash or 'none')[:12]}")
        for manager, paths in hand_edits(obj, current):
            shown = ", ".join(paths[:_MAX_PATHS]) + (
                f" (+{len(paths) - _MAX_PATHS} more)" if len(paths) > _MAX_PATHS else ""
            )
            changes.append(f"edited by {manager}: {shown}")
        changes += _value_changes(obj, current)
        if changes:
            drift.append({**item, "change": "; ".join(changes)})
    return sorted(drift, key=lambda d: (d["kind"], d["name"], d["change"]))


# -- checking ---------------------------------------------------------------------------------------


def desired_objects(env: Environment, cluster: kube.ClusterConfig, policy: TeamPolicy | None = None) -> list[dict]:
    """The objects provisioning would apply to ``env``'s namespace now (running, not stopped)."""
    from environments.provisioning import Provisioner

    return Provisioner.for_environment(env, cluster, policy).render(stopped=False).objects


def environment_drift(env: Environment, cluster: kube.ClusterConfig, policy: TeamPolicy | None = None) -> list[dict]:
    """The drift of one environment, read from its cluster now. Raises ``KubeError``/``RenderError``."""
    desired = [o for o in desired_objects(env, cluster, policy) if _in_namespace(o, env.namespace)]
    live = kube.read_live(cluster, desired, environment_id=env.public_id, team_slug=env.team.slug)
    return compare(desired, live)


def _in_namespace(obj: Mapping[str, Any], namespace: str) -> bool:
    return obj.get("kind") == "Namespace" or (obj.get("metadata") or {}).get("namespace") == namespace


def due(now, limit: int) -> list[Environment]:
    """Running environments whose drift was checked longest ago (never first), at most ``limit``.

    Environments with an operation queued or running are left out: their objects are changing on
    purpose, and a reconcile the last check asked for is not asked for again.
    """
    busy = Operation.objects.filter(state__in=(OperationState.QUEUED, OperationState.RUNNING))
    return list(
        Environment.objects.filter(state__in=(EnvironmentState.READY, EnvironmentState.DEGRADED))
        .exclude(drift_checked_at__gt=now - check_interval())
        .exclude(pk__in=busy.values("environment_id"))
        .select_related("team", "cluster", "parent")
        .order_by(F("drift_checked_at").asc(nulls_first=True), "pk")[:limit]
    )


def check(report: SweepReport) -> None:
    """The sweep's drift section (see the module docstring)."""
    from environments.fleet import Finding

    batch = due(report.now, checks_per_sweep())
    if not batch:
        return
    policies = {p.team_id: p for p in TeamPolicy.objects.filter(team_id__in={e.team_id for e in batch})}
    configs: dict[int, kube.ClusterConfig | Exception] = {}
    unchanged: list[int] = []
    for env in batch:
        if env.cluster_id not in configs:
            try:
                configs[env.cluster_id] = cluster_config(env.cluster)
            except Exception as exc:  # credentials that no longer decrypt: report, go on
                configs[env.cluster_id] = exc
        config = configs[env.cluster_id]
        policy = policies.get(env.team_id) or TeamPolicy(team=env.team)
        try:
            if isinstance(config, Exception):
                raise config
            found = environment_drift(env, config, policy)
        except kube.KubeError as exc:
            report.errors.append(Finding(env.public_id, env.name, f"drift check: {exc}"))
            continue
        except Exception as exc:  # one environment that cannot be rendered must not stop the sweep
            logger.exception("fleet sweep: drift check failed for %s", env.public_id)
            report.errors.append(Finding(env.public_id, env.name, f"drift check: {type(exc).__name__}: {exc}"))
            continue
        if found:
            summary = "; ".join(f"{d['kind']}/{d['name']} {d['change']}" for d in found)
            report.drifted.append(Finding(env.public_id, env.name, summary))
        reapply = bool(found) and policy.drift_policy == DriftPolicy.REAPPLY
        if report.dry_run:
            if reapply:
                report.reapplied.append(Finding(env.public_id, env.name, _reapply_reason(found)))
            continue
        if found == (env.drift or []) and not reapply:
            unchanged.append(env.pk)
            continue
        _record(report, env, found, reapply=reapply)
    if unchanged and not report.dry_run:
        # One UPDATE for every environment whose drift is what it was: the common case.
        Environment.objects.filter(pk__in=unchanged).update(drift_checked_at=report.now)


def _record(report: SweepReport, env: Environment, found: list[dict], *, reapply: bool) -> None:
    """Store a changed drift, audit it, and enqueue the repair when the team's policy says so."""
    from environments.fleet import Finding

    previous = env.drift or []
    with transaction.atomic():
        Environment.objects.filter(pk=env.pk).update(drift=found, drift_checked_at=report.now)
        env.drift, env.drift_checked_at = found, report.now
        if found and found != previous:
            audit_environment(
                env,
                DRIFT_DETECTED,
                actor=SYSTEM,
                before={"drift": previous},
                after={"drift": found, "policy": DriftPolicy.REAPPLY if reapply else DriftPolicy.RECORD},
            )
        elif not found and previous:
            audit_environment(env, DRIFT_RESOLVED, actor=SYSTEM, before={"drift": previous}, after={"drift": []})
    if reapply:
        try:
            reconcile_environment(actor=SYSTEM, env=env, reapply=True, reason="drift")
        except Exception as exc:  # a state change since we read it: the next sweep looks again
            report.errors.append(Finding(env.public_id, env.name, f"re-applying after drift: {exc}"))
        else:
            report.reapplied.append(Finding(env.public_id, env.name, _reapply_reason(found)))


def _reapply_reason(found: list[dict]) -> str:
    return f"team policy reapply: reconciling {len(found)} drifted object(s)"
