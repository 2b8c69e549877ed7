"""Pod logs of a blueprint service: tail (merged across pods by time) and follow (live, multi-pod).

A service usually has several pods (replicas, a rollout's old and new pods, restarts), so every
line is tagged with its pod. ``follow`` watches the service's pods and starts or stops a log
stream per pod as pods come and go, the way ``kubectl logs -f -l`` does not.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from . import labels as L
from .client import ClusterLike, KubeClient, get_client
from .errors import CLIENT_EXCEPTIONS, BadRequest, KubeError, NotFound
from .objects import Obj
from .watch import ListWatch, WatchMessage, iter_lines, list_objects

DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"


class LogLine(NamedTuple):
    """One log line and the pod that printed it."""

    pod: str
    line: str


def service_pods(
    cluster: ClusterLike, namespace: str, service: str, *, environment_id: object | None = None
) -> list[Obj]:
    """The pods of ``service`` (by ``app.kubernetes.io/name``), oldest first."""
    client = get_client(cluster)
    selector = L.service_selector(service, environment_id)
    pods = list_objects(client, client.resource("v1", "Pod"), namespace, label_selector=selector).items
    return sorted(pods, key=lambda p: (p["metadata"].get("creationTimestamp") or "", p["metadata"]["name"]))


def _container(pod: Mapping[str, Any], requested: str | None) -> str | None:
    """The container to read: the requested one, the pod's declared default, or its first."""
    if requested:
        return requested
    md = pod.get("metadata") or {}
    default = (md.get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    if default:
        return default
    containers = (pod.get("spec") or {}).get("containers") or []
    return containers[0].get("name") if containers else None


def _ts_key(stamp: str) -> str:
    """A sortable key for an RFC 3339 nano timestamp (Go trims trailing zeros of the fraction)."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    return f"{head}.{frac.ljust(9, '0')}"


def _log_query(
    container: str | None, *, tail_lines: int | None, since_seconds: int | None, follow: bool, timestamps: bool
) -> dict[str, Any]:
    return {
        "container": container,
        "tailLines": tail_lines,
        "sinceSeconds": since_seconds,
        "follow": True if follow else None,
        "timestamps": True if timestamps else None,
    }


def tail(
    cluster: ClusterLike,
    namespace: str,
    service: str,
    *,
    environment_id: object | None = None,
    tail_lines: int = 100,
    since_seconds: int | None = None,
    container: str | None = None,
) -> list[LogLine]:
    """The last ``tail_lines`` lines of the service, merged across its pods in time order.

    Pods whose container has not started yet have no logs and are skipped.
    """
    client = get_client(cluster)
    resource = client.resource("v1", "Pod")
    stamped: list[tuple[str, int, LogLine]] = []
    for pod in service_pods(client, namespace, service, environment_id=environment_id):
        name = pod["metadata"]["name"]
        query = _log_query(
            _container(pod, container),
            tail_lines=tail_lines,
            since_seconds=since_seconds,
            follow=False,
            timestamps=True,
        )
        try:
            text = client.call("GET", resource.path(namespace, name, "log"), query=query)
        except (BadRequest, NotFound):
            continue  # not started yet, or gone since the list
        for seq, raw in enumerate(str(text).splitlines()):
            stamp, _, line = raw.partition(" ")
            stamped.append((_ts_key(stamp), seq, LogLine(name, line)))
    stamped.sort(key=lambda item: (item[0], item[2].pod, item[1]))
    return [item[2] for item in stamped[-tail_lines:]] if tail_lines else [item[2] for item in stamped]


class _PodStream(threading.Thread):
    """Follows one container instance's log into the shared queue."""

    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        pod: str,
        key: tuple[str, str, int],
        query: dict[str, Any],
        sink: queue.Queue[Any],
    ) -> None:
        super().__init__(name=f"logs-{pod}", daemon=True)
        self.client, self.namespace, self.pod, self.key, self.query, self.sink = (
            client,
            namespace,
            pod,
            key,
            query,
            sink,
        )
        self._stopping = threading.Event()
        self._response: Any = None

    def stop(self) -> None:
        self._stopping.set()
        response = self._response
        if response is not None:
            try:
                response.shutdown()
            except (ValueError, RuntimeError, OSError):
                pass

    def run(self) -> None:
        path = self.client.resource("v1", "Pod").path(self.namespace, self.pod, "log")
        try:
            self._response = self.client.stream(path, query=self.query)
            if self._stopping.is_set():
                return
            for line in iter_lines(self._response, keep_empty=True):
                if self._stopping.is_set():
                    return
                self.sink.put(LogLine(self.pod, line))
        except (KubeError, *CLIENT_EXCEPTIONS):
            pass  # waiting to start, deleted, or cut: the pod watch decides what happens next
        finally:
            if self._response is not None:
                self._response.close()
                self._response.release_conn()


def _instance_key(pod: Obj, container: str | None) -> tuple[str, str, int] | None:
    """(pod uid, container, restartCount) of a container that has started, else ``None``."""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") != container:
            continue
        state = cs.get("state") or {}
        if "running" in state or "terminated" in state:
            return (pod["metadata"]["uid"], container, int(cs.get("restartCount") or 0))
    return None


def follow(
    cluster: ClusterLike,
    namespace: str,
    service: str,
    *,
    environment_id: object | None = None,
    tail_lines: int | None = 10,
    since_seconds: int | None = None,
    container: str | None = None,
    stop: threading.Event | None = None,
    timeout: float | None = None,
) -> Iterator[LogLine]:
    """Yield the service's log lines as they are printed, from all its pods, each tagged by pod.

    Starts with the last ``tail_lines`` of each running pod, then streams; pods that start later
    (scale-up, rollout, restart) are picked up from their first line. Ends when ``stop`` is set,
    ``timeout`` seconds pass, or the caller closes the iterator — which stops every stream.
    """
    client = get_client(cluster)
    pod_resource = client.resource("v1", "Pod")
    selector = L.service_selector(service, environment_id)
    sink: queue.Queue[Any] = queue.Queue()
    listed = list_objects(client, pod_resource, namespace, label_selector=selector)
    ends_at = time.monotonic() + timeout if timeout is not None else None
    watcher = ListWatch(
        client,
        pod_resource,
        namespace,
        sink=sink,
        key="pods",
        resource_version=listed.resource_version,
        label_selector=selector,
        deadline=ends_at,
    )
    streams: dict[tuple[str, str, int], _PodStream] = {}

    def consider(pod: Obj, *, initial: bool) -> None:
        key = _instance_key(pod, _container(pod, container))
        if key is None or key in streams:
            return
        # Pods running when we start get the tail; anything that starts later (a new pod, a
        # restarted container) is new output and is read from its first line.
        query = _log_query(
            key[1],
            tail_lines=tail_lines if initial else None,
            since_seconds=since_seconds if initial else None,
            follow=True,
            timestamps=False,
        )
        stream = _PodStream(client, namespace, pod["metadata"]["name"], key, query, sink)
        streams[key] = stream
        stream.start()

    for pod in listed.items:
        consider(pod, initial=True)
    watcher.start()
    try:
        while not (stop is not None and stop.is_set()):
            wait = 0.1 if stop is not None else None
            if ends_at is not None:
                remaining = ends_at - time.monotonic()
                if remaining <= 0:
                    return
                wait = min(wait, remaining) if wait is not None else remaining
            try:
                item = sink.get(timeout=wait)
            except queue.Empty:
                continue
            if isinstance(item, LogLine):
                yield item
            elif isinstance(item, WatchMessage):
                if item.kind == "error" and item.error is not None:
                    raise item.error
                if item.type != "DELETED":
                    for pod in item.items if item.kind == "sync" else [item.obj]:
                        consider(pod, initial=False)
    finally:
        watcher.stop()
        for stream in streams.values():
            stream.stop()
