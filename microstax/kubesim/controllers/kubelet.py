"""Scheduler + kubelet for the single simulated node.

Scheduling (``scheduling.py``) checks the pod's PersistentVolumeClaims. The kubelet then runs each
container through the states a real node reports (``containers.py``; status in ``podstatus.py``),
choosing failures by image name:

* ``does-not-exist`` anywhere in the image → ``ErrImagePull``, then ``ImagePullBackOff`` (toggling
  with back-off, with ``Pulling``/``Failed``/``BackOff`` events); the pod stays ``Pending``.
* ``crashloop`` in the image → the container runs briefly, exits 1, and waits in
  ``CrashLoopBackOff`` with ``restartCount`` rising (back-off 10 s doubling to 300 s, scaled).
* ``fail`` in the image of a run-to-completion pod (restartPolicy Never/OnFailure) → exits 1,
  pod ``Failed``; other run-to-completion pods exit 0 after ``job_run`` → ``Succeeded``.
* a missing Secret/ConfigMap reference → ``CreateContainerConfigError`` until it appears.

A run-to-completion container whose image matches an executor registered with
``KubeSim.register_executor`` really does its work: when its simulated run is over, its
environment is resolved (values, ``secretKeyRef``, ``configMapKeyRef``) and the executor runs in
a worker thread — never on the controller thread — and the container exits with the executor's
code, its lines in the pod log.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import threading
import time
from typing import Any

from .. import resources as R
from ..runtime import ContainerRun
from ..store import WatchEvent
from ..util import Obj, now_rfc3339
from .base import Key
from .containers import (
    CRASH_RUNTIME,
    MAX_CRASH_BACKOFF,
    ContainerSim,
    PodSim,
    crashes,
    job_fails,
    pull_fails,
    qualified_image,
)
from .podstatus import PodStatusMixin
from .scheduling import SchedulingMixin


class Kubelet(SchedulingMixin, PodStatusMixin):
    name = "kubelet"
    component = "kubelet"

    def __init__(self, sim: Any) -> None:
        super().__init__(sim)
        self._pods: dict[Key, PodSim] = {}
        self._ips = itertools.count(2)

    # -- event mapping -------------------------------------------------------------------------

    def keys_for(self, event: WatchEvent) -> list[Key]:
        md = event.obj["metadata"]
        ns = md.get("namespace", "")
        if event.rt is R.POD:
            return [(ns, md["name"])]
        if event.rt in (R.PVC, R.SECRET, R.CONFIGMAP):
            return [
                (ns, p["metadata"]["name"])
                for p in self.store.list(R.POD, ns)
                if (p.get("status") or {}).get("phase") == "Pending"
            ]
        return []

    # -- reconcile -----------------------------------------------------------------------------

    def reconcile(self, key: Key) -> None:
        ns, name = key
        pod = self.store.get(R.POD, ns, name)
        state = self._pods.get(key)
        if pod is None or (state is not None and state.uid != pod["metadata"]["uid"]):
            if state is not None:
                self.sim.runtime.forget(state.uid)
                del self._pods[key]
            if pod is None:
                return
        if pod["metadata"].get("deletionTimestamp"):
            self._terminate(key, pod)
            return
        if not (pod.get("spec") or {}).get("nodeName"):
            self._schedule(key, pod)
            return
        self._sync(key, pod)

    # -- running -------------------------------------------------------------------------------

    def _config_error(self, pod: Obj, c: Obj) -> str | None:
        ns = pod["metadata"]["namespace"]
        refs: list[tuple[Any, str, str | None, bool]] = []
        for env in c.get("env") or []:
            vf = env.get("valueFrom") or {}
            for key, rt in (("secretKeyRef", R.SECRET), ("configMapKeyRef", R.CONFIGMAP)):
                if isinstance(vf.get(key), dict):
                    refs.append((rt, vf[key].get("name", ""), vf[key].get("key"), bool(vf[key].get("optional"))))
        for src in c.get("envFrom") or []:
            for key, rt in (("secretRef", R.SECRET), ("configMapRef", R.CONFIGMAP)):
                if isinstance(src.get(key), dict):
                    refs.append((rt, src[key].get("name", ""), None, bool(src[key].get("optional"))))
        for rt, name, data_key, optional in refs:
            obj = self.store.get(rt, ns, name)
            what = "secret" if rt is R.SECRET else "configmap"
            if obj is None:
                if not optional:
                    return f'{what} "{name}" not found'
                continue
            if data_key and data_key not in (obj.get("data") or {}) and not optional:
                kind = "Secret" if rt is R.SECRET else "ConfigMap"
                return f"couldn't find key {data_key} in {kind} {ns}/{name}"
        return None

    def _mount_error(self, pod: Obj) -> str | None:
        ns = pod["metadata"]["namespace"]
        for v in (pod.get("spec") or {}).get("volumes") or []:
            for key, rt, field_name in (("secret", R.SECRET, "secretName"), ("configMap", R.CONFIGMAP, "name")):
                src = v.get(key)
                if isinstance(src, dict) and not src.get("optional"):
                    ref = src.get(field_name, "")
                    if self.store.get(rt, ns, ref) is None:
                        what = "secret" if rt is R.SECRET else "configmap"
                        return f'MountVolume.SetUp failed for volume "{v.get("name")}" : {what} "{ref}" not found'
        return None

    def _sync(self, key: Key, pod: Obj, base: Obj | None = None) -> None:
        sim = self._pods.get(key)
        if sim is None:
            # Scheduled by someone else (or kubesim restarted from a state file): adopt it.
            sim = PodSim(pod["metadata"]["uid"], time.time())
            for c in pod["spec"].get("containers") or []:
                sim.containers[c["name"]] = ContainerSim(c["name"], c.get("image", ""))
            self._pods[key] = sim
        now = time.time()
        restart_policy = pod["spec"].get("restartPolicy", "Always")
        run_to_completion = restart_policy != "Always"
        mount_error = self._mount_error(pod)
        specs = {c["name"]: c for c in pod["spec"].get("containers") or []}
        for name, cs in sim.containers.items():
            spec = specs.get(name, {})
            if cs.image != spec.get("image", cs.image) and cs.state in ("pull", "backoff", "running", "creating"):
                # An image update restarts the container with the new image (pod spec image is mutable).
                cs.image = spec["image"]
                cs.state, cs.reason, cs.next_at = "creating", "ContainerCreating", now
            if cs.state in ("creating", "config") and now >= cs.next_at:
                if mount_error:
                    if cs.message != mount_error:
                        cs.message = mount_error
                        self.event(R.POD, pod, "Warning", "FailedMount", mount_error)
                    continue
                err = self._config_error(pod, spec)
                if err:
                    if cs.state != "config" or cs.message != err:
                        cs.state, cs.reason, cs.message = "config", "CreateContainerConfigError", err
                        self.event(R.POD, pod, "Warning", "Failed", f"Error: {err}")
                    continue
                if pull_fails(cs.image):
                    self.event(R.POD, pod, "Normal", "Pulling", f'Pulling image "{cs.image}"')
                    full = qualified_image(cs.image)
                    cs.state, cs.reason = "pull", "ErrImagePull"
                    cs.message = (
                        f'failed to pull and unpack image "{full}": failed to resolve reference "{full}": '
                        f"{full}: not found"
                    )
                    self.event(
                        R.POD,
                        pod,
                        "Warning",
                        "Failed",
                        f'Failed to pull image "{cs.image}": rpc error: code = NotFound desc = {cs.message}',
                    )
                    self.event(R.POD, pod, "Warning", "Failed", "Error: ErrImagePull")
                    cs.backoff = self.delays.image_pull_backoff
                    cs.next_at = now + self.delays.wall(cs.backoff)
                    continue
                self._start(pod, cs, now, run_to_completion)
            elif cs.state == "pull" and now >= cs.next_at:
                if cs.reason == "ErrImagePull":
                    cs.reason, cs.message = "ImagePullBackOff", f'Back-off pulling image "{cs.image}"'
                    self.event(R.POD, pod, "Normal", "BackOff", f'Back-off pulling image "{cs.image}"')
                    self.event(R.POD, pod, "Warning", "Failed", "Error: ImagePullBackOff")
                else:
                    cs.reason = "ErrImagePull"
                    self.event(R.POD, pod, "Normal", "Pulling", f'Pulling image "{cs.image}"')
                cs.backoff = min(cs.backoff * 2, MAX_CRASH_BACKOFF)
                cs.next_at = now + self.delays.wall(cs.backoff)
            elif cs.state == "running" and cs.next_at and now >= cs.next_at:
                executor = None if crashes(cs.image) or not run_to_completion else self._executor(cs.image)
                if executor is not None and cs.executed is None:
                    if not cs.executing:
                        self._execute(key, pod, cs, spec, executor)
                    continue
                self._exit(pod, cs, now, restart_policy)
            elif cs.state == "backoff" and now >= cs.next_at:
                self._start(pod, cs, now, run_to_completion)
        self._write_status(key, pod, sim, now, run_to_completion, base)
        pending = [c.next_at for c in sim.containers.values() if c.next_at > now and c.state != "done"]
        pending += [c.ready_at for c in sim.containers.values() if c.state == "running" and c.ready_at > now]
        if pending:
            self.enqueue(key, max(min(pending) - time.time(), 0.0001))

    def _start(self, pod: Obj, cs: ContainerSim, now: float, run_to_completion: bool) -> None:
        spec = next((c for c in pod["spec"]["containers"] if c["name"] == cs.name), {})
        if cs.restarts == 0 and cs.state != "backoff":
            self.event(R.POD, pod, "Normal", "Pulled", f'Container image "{cs.image}" already present on machine')
        self.event(R.POD, pod, "Normal", "Created", f"Created container: {cs.name}")
        self.event(R.POD, pod, "Normal", "Started", f"Started container {cs.name}")
        ports = [p.get("containerPort") for p in spec.get("ports") or [] if isinstance(p.get("containerPort"), int)]
        self.sim.runtime.start(pod["metadata"]["uid"], ContainerRun(cs.name, cs.image, ports, start=now))
        cs.state, cs.reason, cs.message = "running", "", ""
        cs.started = now
        cs.container_id = (
            "containerd://" + hashlib.sha256(f"{pod['metadata']['uid']}{cs.name}{now}".encode()).hexdigest()
        )
        cs.ready_at = now + self.delays.wall(self.delays.pod_ready)
        if crashes(cs.image):
            cs.next_at = now + self.delays.wall(CRASH_RUNTIME)
        elif run_to_completion:
            cs.next_at = now + self.delays.wall(self.delays.job_run)
        else:
            cs.next_at = 0.0

    # -- executors ------------------------------------------------------------------------------

    def _executor(self, image: str) -> Any:
        for predicate, run in list(getattr(self.sim, "executors", [])):
            if predicate(image):
                return run
        return None

    def _resolve_env(self, namespace: str, container: Obj) -> dict[str, str]:
        """The container's environment as its process would see it (refs read from the store)."""
        out: dict[str, str] = {}
        for src in container.get("envFrom") or []:
            for key, rt in (("secretRef", R.SECRET), ("configMapRef", R.CONFIGMAP)):
                if isinstance(src.get(key), dict):
                    obj = self.store.get(rt, namespace, src[key].get("name", "")) or {}
                    out.update(_decoded(obj, rt))
        for env in container.get("env") or []:
            if "value" in env:
                out[env["name"]] = str(env["value"])
                continue
            vf = env.get("valueFrom") or {}
            for key, rt in (("secretKeyRef", R.SECRET), ("configMapKeyRef", R.CONFIGMAP)):
                ref = vf.get(key)
                if isinstance(ref, dict):
                    obj = self.store.get(rt, namespace, ref.get("name", "")) or {}
                    value = _decoded(obj, rt).get(ref.get("key", ""))
                    if value is not None:
                        out[env["name"]] = value
        return out

    def _execute(self, key: Key, pod: Obj, cs: ContainerSim, spec: Obj, run: Any) -> None:
        """Start the executor in a worker thread; its end wakes this pod's reconcile."""
        namespace = pod["metadata"]["namespace"]
        env = self._resolve_env(namespace, spec)
        cs.executing, cs.next_at = True, 0.0

        def work() -> None:
            try:
                code, lines = run(namespace, spec, env)
                result = (int(code), [str(line) for line in lines])
            except Exception as exc:  # noqa: BLE001 - an executor bug is the container's failure
                result = (1, [f"kubesim: executor failed: {type(exc).__name__}: {exc}"])
            cs.executed, cs.executing, cs.next_at = result, False, time.time()
            self.enqueue(key)

        threading.Thread(target=work, name=f"kubesim-exec-{namespace}-{cs.name}", daemon=True).start()

    def _exit(self, pod: Obj, cs: ContainerSim, now: float, restart_policy: str) -> None:
        failing = crashes(cs.image) or (restart_policy != "Always" and job_fails(cs.image))
        code = 1 if failing else 0
        outcome = "crashed" if crashes(cs.image) else ("failed" if failing else "completed")
        output = None
        if cs.executed is not None:
            code, output = cs.executed
            outcome = "failed" if code else "completed"
        self.sim.runtime.stop(pod["metadata"]["uid"], cs.name, exit_code=code, outcome=outcome, output=output)
        terminated = {
            "exitCode": code,
            "reason": "Error" if code else "Completed",
            "startedAt": now_rfc3339(cs.started),
            "finishedAt": now_rfc3339(now),
            "containerID": cs.container_id,
        }
        restart = restart_policy == "Always" or (restart_policy == "OnFailure" and code != 0 and crashes(cs.image))
        if restart:
            cs.restarts += 1
            cs.last_terminated = terminated
            backoff = min(self.delays.crash_backoff * 2 ** (cs.restarts - 1), MAX_CRASH_BACKOFF)
            cs.state, cs.reason = "backoff", "CrashLoopBackOff"
            cs.message = (
                f"back-off {int(backoff)}s restarting failed container={cs.name} "
                f"pod={pod['metadata']['name']}_{pod['metadata']['namespace']}({pod['metadata']['uid']})"
            )
            cs.next_at = now + self.delays.wall(backoff)
            self.event(
                R.POD,
                pod,
                "Warning",
                "BackOff",
                f"Back-off restarting failed container {cs.name} in pod {pod['metadata']['name']}_"
                f"{pod['metadata']['namespace']}({pod['metadata']['uid']})",
            )
        else:
            cs.state, cs.exit_code, cs.finished, cs.next_at = "done", code, now, 0.0
            cs.last_terminated = terminated

    # -- termination ---------------------------------------------------------------------------

    def _terminate(self, key: Key, pod: Obj) -> None:
        sim = self._pods.get(key)
        now = time.time()
        if sim is None:
            sim = PodSim(pod["metadata"]["uid"], now)
            self._pods[key] = sim
        if sim.terminating_since is None:
            sim.terminating_since = now
            for c in sim.containers.values():
                if c.state == "running":
                    self.event(R.POD, pod, "Normal", "Killing", f"Stopping container {c.name}")
        due = sim.terminating_since + self.delays.wall(self.delays.pod_termination)
        if now < due:
            self.enqueue(key, due - now)
            return
        for c in sim.containers.values():
            self.sim.runtime.stop(sim.uid, c.name, exit_code=0, outcome="completed")
        if pod["metadata"].get("finalizers"):
            return
        self.api.remove_now(R.POD, pod)
        self.sim.runtime.forget(sim.uid)
        self._pods.pop(key, None)


def _decoded(obj: Obj, rt: Any) -> dict[str, str]:
    """A Secret's or ConfigMap's data as text (Secret data is base64 on the wire and in the store)."""
    data = dict(obj.get("data") or {})
    if rt is R.SECRET:
        data = {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in data.items()}
        data.update(obj.get("stringData") or {})
    return {k: str(v) for k, v in data.items()}
