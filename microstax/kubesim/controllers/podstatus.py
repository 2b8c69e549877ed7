"""Pod status as the kubelet reports it: phase, container statuses and the five pod conditions."""

from typing import Any

from .. import resources as R
from ..util import Obj, clone, now_rfc3339
from .base import Controller, Key, condition
from .containers import ContainerSim, PodSim, crashes, image_digest, qualified_image


class PodStatusMixin(Controller):
    """Status reporting for ``Kubelet``."""

    @staticmethod
    def _not_ready_message(pod: Obj, ready: list[str]) -> str:
        names = [c["name"] for c in pod["spec"].get("containers") or [] if c["name"] not in ready]
        return f"containers with unready status: [{' '.join(names)}]"

    def _container_status(self, pod: Obj, cs: ContainerSim, now: float) -> dict[str, Any]:
        full = qualified_image(cs.image)
        out: dict[str, Any] = {
            "name": cs.name,
            "image": full,
            "imageID": "",
            "ready": False,
            "restartCount": cs.restarts,
            "started": False,
        }
        if cs.state in ("creating", "config", "pull"):
            waiting: dict[str, Any] = {"reason": cs.reason}
            if cs.message and cs.state != "creating":
                waiting["message"] = cs.message
            out["state"] = {"waiting": waiting}
        elif cs.state == "backoff":
            out["state"] = {"waiting": {"reason": "CrashLoopBackOff", "message": cs.message}}
        elif cs.state == "running":
            out["state"] = {"running": {"startedAt": now_rfc3339(cs.started)}}
            out["ready"] = now >= cs.ready_at and not crashes(cs.image)
            out["started"] = True
        else:
            out["state"] = {"terminated": cs.last_terminated}
        if cs.container_id:
            out["containerID"] = cs.container_id
            out["imageID"] = f"{full.rsplit(':', 1)[0]}@{image_digest(full)}"
        out["lastState"] = {"terminated": cs.last_terminated} if cs.last_terminated and cs.state != "done" else {}
        return out

    def _write_status(
        self, key: Key, pod: Obj, sim: PodSim, now: float, run_to_completion: bool, base: Obj | None = None
    ) -> None:
        statuses = [
            self._container_status(pod, sim.containers[c["name"]], now)
            for c in pod["spec"].get("containers") or []
            if c["name"] in sim.containers
        ]
        states = [c.state for c in sim.containers.values()]
        if all(s == "done" for s in states):
            phase = "Succeeded" if all(c.exit_code == 0 for c in sim.containers.values()) else "Failed"
        elif any(s in ("running", "backoff") for s in states) or (
            any(s == "done" for s in states) and run_to_completion
        ):
            phase = "Running"
        elif any(c.restarts for c in sim.containers.values()):
            phase = "Running"
        else:
            phase = "Pending"
        ready = [s["name"] for s in statuses if s["ready"]]
        all_ready = len(ready) == len(statuses) and phase == "Running"
        old = pod.get("status") or {}
        status = clone(old)
        status["phase"] = phase
        status["containerStatuses"] = statuses
        started = any(s in ("running", "backoff", "done") for s in states) or phase != "Pending"
        conds = {c["type"]: c for c in old.get("conditions") or []}

        def cond(ctype: str, ok: bool, reason: str = "", message: str = "") -> dict[str, Any]:
            prev = conds.get(ctype)
            value = "True" if ok else "False"
            if prev and prev.get("status") == value and prev.get("reason", "") == reason:
                return prev
            return condition(ctype, value, reason, message, probe=True)

        reason = "" if all_ready else ("PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady")
        msg = "" if all_ready or reason == "PodCompleted" else self._not_ready_message(pod, ready)
        status["conditions"] = [
            cond("PodReadyToStartContainers", started and phase not in ("Succeeded", "Failed")),
            cond("Initialized", True, "PodCompleted" if phase in ("Succeeded", "Failed") else ""),
            cond("Ready", all_ready, reason, msg),
            cond("ContainersReady", all_ready, reason, msg),
            cond("PodScheduled", True),
        ]
        if phase in ("Succeeded", "Failed"):
            status["conditions"][0] = cond("PodReadyToStartContainers", False)
        self.update_status(R.POD, base or pod, status)
