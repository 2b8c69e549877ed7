"""Namespace lifecycle: ensure (apply), guarded delete, and waiting out ``Terminating``.

Deleting a namespace deletes everything in it, so the guard is strict: only a namespace labelled
``app.kubernetes.io/managed-by=microstax`` is ever deleted, and the DELETE carries the UID we
checked as a precondition, so a namespace re-created by someone else under the same name between
our check and our delete is refused by the server. ``Terminating`` is a normal state that lasts
from seconds to forever (a stuck finalizer); callers poll nothing — they wait on a watch.
"""

from __future__ import annotations

import queue
from collections.abc import Mapping
from dataclasses import dataclass, field

from . import labels as L
from .apply import apply
from .client import ClusterLike, get_client
from .deadline import Deadline, DeadlineLike
from .errors import NamespaceTerminating, NotFound, NotManaged, PreconditionFailed, retry_with
from .objects import Obj, conditions, is_deleting
from .watch import ListWatch, WatchMessage, list_objects

NAMESPACE_RESOURCE = ("v1", "Namespace")


@dataclass(frozen=True)
class NamespaceState:
    """Where a namespace is in its life: ``absent``, ``active`` or ``terminating``.

    While terminating, ``blocking`` lists the namespace controller's conditions that explain the
    wait (``NamespaceContentRemaining``, ``NamespaceFinalizersRemaining``, …) with their messages.
    """

    name: str
    phase: str
    blocking: tuple[str, ...] = field(default=())

    @property
    def gone(self) -> bool:
        return self.phase == "absent"


def _state(name: str, obj: Obj | None) -> NamespaceState:
    if obj is None:
        return NamespaceState(name, "absent")
    if is_deleting(obj) or (obj.get("status") or {}).get("phase") == "Terminating":
        blocking = tuple(
            f"{ctype}: {c.get('message') or c.get('reason') or ''}".rstrip(": ")
            for ctype, c in conditions(obj).items()
            if c.get("status") == "True"
        )
        return NamespaceState(name, "terminating", blocking)
    return NamespaceState(name, "active")


def get_namespace(cluster: ClusterLike, name: str) -> Obj | None:
    """The live namespace, or ``None`` when it does not exist."""
    client = get_client(cluster)
    resource = client.resource(*NAMESPACE_RESOURCE)
    try:
        return client.call("GET", resource.path(name=name))
    except NotFound:
        return None


def list_managed_namespaces(cluster: ClusterLike) -> list[Obj]:
    """Every namespace labelled as MicroStax's (the selector runs on the server)."""

    client = get_client(cluster)
    selector = L.selector({L.MANAGED_BY: L.MANAGED_BY_VALUE})
    return list_objects(client, client.resource(*NAMESPACE_RESOURCE), label_selector=selector).items


def ensure_namespace(cluster: ClusterLike, name: str, labels: Mapping[str, str]) -> Obj:
    """Create or update namespace ``name`` with ``labels`` (plus managed-by); returns it live.

    ``labels`` must carry ``microstax.io/environment`` (see ``managed_labels``). Raises
    ``NamespaceTerminating`` when the namespace is being deleted: nothing can be created in it
    until it is gone, so the caller should ``wait_namespace_gone`` and try again.
    """
    manifest = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels)}}
    live = apply(cluster, [manifest]).objects[0]
    if _state(name, live).phase == "terminating":
        raise NamespaceTerminating(f"namespace {name} is being terminated", status=403, reason="Forbidden")
    return live


def delete_namespace(cluster: ClusterLike, name: str) -> NamespaceState:
    """Delete namespace ``name`` if it is ours; returns its state afterwards (usually terminating).

    Idempotent: an absent namespace is ``absent``, a terminating one is left to finish. Raises
    ``NotManaged`` (and deletes nothing) when the namespace lacks our managed-by label.
    """
    client = get_client(cluster)
    resource = client.resource(*NAMESPACE_RESOURCE)
    live = get_namespace(client, name)
    if live is None:
        return NamespaceState(name, "absent")
    if not L.is_managed(live):
        raise NotManaged(
            f"namespace {name} is not labelled {L.MANAGED_BY}={L.MANAGED_BY_VALUE}; refusing to delete it",
            reason="NotManaged",
        )
    if is_deleting(live):
        return _state(name, live)
    body = {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": "Background",
        "preconditions": {"uid": live["metadata"]["uid"]},
    }
    try:
        result = retry_with(client.retry, lambda: client.request("DELETE", resource.path(name=name), body=body))
    except NotFound:
        return NamespaceState(name, "absent")
    except PreconditionFailed as exc:
        raise NotManaged(
            f"namespace {name} was replaced while we were deleting it; refusing to delete the new one",
            reason="NotManaged",
        ) from exc
    # The server answers with the namespace (now Terminating) or, when it vanished at once, a Status.
    if isinstance(result, dict) and result.get("kind") == "Namespace":
        return _state(name, result)
    return NamespaceState(name, "absent")


def wait_namespace_gone(cluster: ClusterLike, name: str, deadline: DeadlineLike) -> NamespaceState:
    """Wait (on a watch) until namespace ``name`` no longer exists, or ``deadline`` passes.

    Returns the final state: ``gone`` when deleted, otherwise still ``terminating`` with the
    conditions blocking it — not an error, as a namespace may legitimately take minutes.
    """
    dl = Deadline.of(deadline)
    client = get_client(cluster)
    resource = client.resource(*NAMESPACE_RESOURCE)
    selector = f"metadata.name={name}"
    listed = list_objects(client, resource, field_selector=selector)
    current = next((o for o in listed.items if o["metadata"]["name"] == name), None)
    if current is None or dl.expired:
        return _state(name, current)
    sink: queue.Queue[WatchMessage] = queue.Queue()
    watcher = ListWatch(
        client,
        resource,
        None,
        sink=sink,
        key=name,
        resource_version=listed.resource_version,
        field_selector=selector,
        deadline=dl.at,
    )
    watcher.start()
    try:
        while current is not None:
            try:
                message = sink.get(timeout=dl.remaining())
            except queue.Empty:
                break
            if message.kind == "error" and message.error is not None:
                raise message.error
            if message.kind == "sync":
                current = next((o for o in message.items if o["metadata"]["name"] == name), None)
            elif message.type == "DELETED":
                current = None
            else:
                current = message.obj
    finally:
        watcher.stop()
    return _state(name, current)
