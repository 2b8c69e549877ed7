"""The scheduler half of the simulated node: PVC checks, node assignment, the first pod status.

A missing claim leaves the pod ``Unschedulable``; an unbound ``WaitForFirstConsumer`` claim gets
the ``volume.kubernetes.io/selected-node`` annotation so the binder provisions it, and the pod
waits; otherwise the pod is bound to the node and the kubelet takes over (``Kubelet._sync``).
"""

import time
from collections.abc import Iterator

from .. import resources as R
from ..util import Obj, clone, now_rfc3339
from .base import Controller, Key, condition
from .containers import ContainerSim, PodSim


class SchedulingMixin(Controller):
    """Scheduling for ``Kubelet`` (which owns ``_pods``, ``_ips`` and ``_sync``)."""

    _pods: dict[Key, PodSim]
    _ips: Iterator[int]

    def _sync(self, key: Key, pod: Obj, base: Obj | None = None) -> None:
        raise NotImplementedError

    def _claims(self, pod: Obj) -> list[str]:
        return [
            v["persistentVolumeClaim"]["claimName"]
            for v in (pod.get("spec") or {}).get("volumes") or []
            if isinstance(v.get("persistentVolumeClaim"), dict)
        ]

    def _unschedulable(self, pod: Obj, message: str) -> None:
        status = clone(pod.get("status") or {})
        status["phase"] = "Pending"
        status["conditions"] = [condition("PodScheduled", "False", "Unschedulable", message, probe=True)]
        old = (pod.get("status") or {}).get("conditions") or []
        if old and old[0].get("message") == message:
            return
        self.update_status(R.POD, pod, status)
        self.event(R.POD, pod, "Warning", "FailedScheduling", message, "default-scheduler")

    def _schedule(self, key: Key, pod: Obj) -> None:
        ns = key[0]
        node = self.sim.config.node_name
        for claim in self._claims(pod):
            pvc = self.store.get(R.PVC, ns, claim)
            if pvc is None:
                self._unschedulable(
                    pod,
                    f'0/1 nodes are available: persistentvolumeclaim "{claim}" not found. preemption: 0/1 nodes '
                    "are available: 1 Preemption is not helpful for scheduling.",
                )
                return
            if pvc["metadata"].get("deletionTimestamp"):
                self._unschedulable(pod, f'0/1 nodes are available: persistentvolumeclaim "{claim}" is being deleted.')
                return
            if (pvc.get("status") or {}).get("phase") != "Bound":
                sc = self.store.get(R.STORAGECLASS, "", (pvc.get("spec") or {}).get("storageClassName") or "")
                if sc is not None and sc.get("volumeBindingMode") == "WaitForFirstConsumer":
                    annotations = pvc["metadata"].get("annotations") or {}
                    if annotations.get("volume.kubernetes.io/selected-node") != node:
                        new = clone(pvc)
                        new["metadata"].setdefault("annotations", {})["volume.kubernetes.io/selected-node"] = node
                        self.api.ctl_update(R.PVC, new, "kube-scheduler")
                    return
                self._unschedulable(
                    pod,
                    "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 "
                    "nodes are available: 1 Preemption is not helpful for scheduling.",
                )
                return
        spec_update = clone(pod)
        spec_update["spec"]["nodeName"] = node
        pod = self.api.ctl_update(R.POD, spec_update, "kube-scheduler") or pod
        now = time.time()
        sim = PodSim(pod["metadata"]["uid"], now)
        start_at = now + self.delays.wall(self.delays.pod_start)
        for c in pod["spec"].get("containers") or []:
            sim.containers[c["name"]] = ContainerSim(c["name"], c.get("image", ""), next_at=start_at)
        self._pods[key] = sim
        ip = f"10.42.0.{next(self._ips) % 250 + 2}"
        status = clone(pod.get("status") or {})
        status.update(
            phase="Pending",
            hostIP=self.sim.config.node_ip,
            hostIPs=[{"ip": self.sim.config.node_ip}],
            podIP=ip,
            podIPs=[{"ip": ip}],
            startTime=now_rfc3339(now),
        )
        status["conditions"] = [
            condition("PodReadyToStartContainers", "False", probe=True),
            condition("Initialized", "True", probe=True),
            condition("Ready", "False", "ContainersNotReady", self._not_ready_message(pod, []), probe=True),
            condition("ContainersReady", "False", "ContainersNotReady", self._not_ready_message(pod, []), probe=True),
            condition("PodScheduled", "True", probe=True),
        ]
        status["containerStatuses"] = [
            self._container_status(pod, sim.containers[c["name"]], now) for c in pod["spec"].get("containers") or []
        ]
        self.event(
            R.POD,
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {key[0]}/{key[1]} to {self.sim.config.node_name}",
            "default-scheduler",
        )
        if self.delays.pod_start <= 0:
            # Containers start right away: report the scheduled state and the started one in one write.
            self._sync(key, dict(pod, status=status), base=pod)
            return
        self.update_status(R.POD, pod, status)
        self.enqueue(key, self.delays.wall(self.delays.pod_start))
