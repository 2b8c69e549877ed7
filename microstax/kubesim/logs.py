"""Pod logs: ``GET /api/v1/namespaces/{ns}/pods/{name}/log`` with the kubelet's options and errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from . import resources as R
from .errors import ApiError, bad_request, not_found
from .runtime import ContainerRun, Runtime
from .store import Store
from .util import Obj, now_rfc3339_nano, parse_bool, parse_rfc3339


@dataclass
class LogOptions:
    container: str | None = None
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since_seconds: int | None = None
    since_time: float | None = None
    limit_bytes: int | None = None

    @classmethod
    def from_query(cls, q: dict[str, str]) -> LogOptions:
        def num(key: str) -> int | None:
            if key not in q:
                return None
            try:
                value = int(q[key])
            except ValueError as exc:
                raise bad_request(f"invalid {key}: {q[key]!r}") from exc
            if value < 0 or (key != "tailLines" and value == 0):
                raise ApiError(
                    422,
                    "Invalid",
                    f'PodLogOptions "" is invalid: {key}: Invalid value: {value}: must be greater than 0',
                    {"kind": "PodLogOptions"},
                )
            return value

        return cls(
            container=q.get("container") or None,
            follow=parse_bool(q.get("follow")),
            previous=parse_bool(q.get("previous")),
            timestamps=parse_bool(q.get("timestamps")),
            tail_lines=num("tailLines"),
            since_seconds=num("sinceSeconds"),
            since_time=parse_rfc3339(q["sinceTime"]) if q.get("sinceTime") else None,
            limit_bytes=num("limitBytes"),
        )


def _container_name(pod: Obj, requested: str | None) -> str:
    name = pod["metadata"]["name"]
    containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    inits = [c.get("name") for c in (pod.get("spec") or {}).get("initContainers") or []]
    if requested:
        if requested not in containers + inits:
            raise bad_request(f"container {requested} is not valid for pod {name}")
        return requested
    if len(containers) == 1:
        return containers[0]
    raise bad_request(f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]")


def _status(pod: Obj, container: str) -> Obj:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container:
            return cs
    return {}


def resolve_run(
    store: Store, runtime: Runtime, namespace: str, pod_name: str, opts: LogOptions
) -> tuple[Obj, ContainerRun]:
    """The pod and container instance a log request reads, or the kubelet's 400/404 errors."""
    pod = store.get(R.POD, namespace, pod_name)
    if pod is None:
        raise not_found(R.POD, pod_name)
    container = _container_name(pod, opts.container)
    uid = pod["metadata"]["uid"]
    if opts.previous:
        run = runtime.previous(uid, container)
        current = runtime.current(uid, container)
        if (
            run is None
            and current is not None
            and current.end is not None
            and _status(pod, container).get("state", {}).get("waiting")
        ):
            run = current
        if run is None:
            raise bad_request(f'previous terminated container "{container}" in pod "{pod_name}" not found')
        return pod, run
    run = runtime.current(uid, container)
    if run is None:
        waiting = (_status(pod, container).get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason") or "ContainerCreating"
        raise bad_request(f'container "{container}" in pod "{pod_name}" is waiting to start: {reason}')
    return pod, run


def _select(lines: list[tuple[float, str]], opts: LogOptions, now: float) -> list[tuple[float, str]]:
    if opts.since_seconds is not None:
        lines = [ln for ln in lines if ln[0] >= now - opts.since_seconds]
    if opts.since_time is not None:
        lines = [ln for ln in lines if ln[0] >= opts.since_time]
    if opts.tail_lines is not None:
        lines = lines[-opts.tail_lines :] if opts.tail_lines > 0 else []
    return lines


def _render(line: tuple[float, str], opts: LogOptions) -> str:
    return f"{now_rfc3339_nano(line[0])} {line[1]}\n" if opts.timestamps else f"{line[1]}\n"


def read(run: ContainerRun, opts: LogOptions, interval: float) -> str:
    now = time.time()
    text = "".join(_render(ln, opts) for ln in _select(run.lines(interval, now), opts, now))
    if opts.limit_bytes is not None:
        text = text.encode()[: opts.limit_bytes].decode(errors="ignore")
    return text


def follow(
    store: Store,
    runtime: Runtime,
    pod: Obj,
    run: ContainerRun,
    opts: LogOptions,
    interval: float,
    closing: Callable[[], bool],
) -> Iterator[str]:
    """Yield the selected lines, then new ones as they appear, until the container stops."""
    sent_bytes = 0
    now = time.time()
    lines = run.lines(interval, now)
    first = _select(lines, opts, now)
    sent_until = lines[-1][0] if lines else 0.0
    for ln in first:
        chunk = _render(ln, opts)
        sent_bytes += len(chunk)
        yield chunk
    md = pod["metadata"]
    while not closing():
        if opts.limit_bytes is not None and sent_bytes >= opts.limit_bytes:
            return
        now = time.time()
        lines = run.lines(interval, now)
        for ln in lines:
            if ln[0] > sent_until:
                chunk = _render(ln, opts)
                sent_bytes += len(chunk)
                sent_until = ln[0]
                yield chunk
        if run.end is not None and run.end <= now:
            return
        live = store.get(R.POD, md.get("namespace", ""), md["name"])
        if live is None or live["metadata"].get("uid") != md.get("uid"):
            return
        wait = interval - ((now - run.start) % interval) if interval > 0 else 0.5
        store.wait(store.rv, min(max(wait, 0.005), 0.5))
