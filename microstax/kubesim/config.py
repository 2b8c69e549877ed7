"""Tunables of a KubeSim instance: advertised version and simulated-controller timing."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Delays:
    """Simulated durations, in *cluster seconds*; wall time is ``value × time_factor``.

    Pod/PVC/namespace steps default to 0 so tests never wait; back-offs, deadlines and log
    cadence keep their upstream magnitude and are shrunk with ``time_factor`` instead.
    """

    pod_start: float = 0.0  # scheduled → containers running (image pull + start)
    pod_ready: float = 0.0  # running → Ready condition
    pod_termination: float = 0.0  # graceful delete → object gone
    job_run: float = 0.0  # Job container running → exit
    pvc_bind: float = 0.0  # Pending → Bound (Immediate binding mode)
    namespace_grace: float = 0.0  # upstream namespaceDeletionGracePeriod is 5 s
    load_balancer: float = 0.0  # Ingress / LoadBalancer Service / HTTPRoute status
    crash_backoff: float = 10.0  # first CrashLoopBackOff back-off; doubles up to 300 s
    image_pull_backoff: float = 10.0  # ErrImagePull → ImagePullBackOff retry period
    job_backoff: float = 10.0  # Job pod-failure back-off; doubles up to 360 s
    log_interval: float = 5.0  # a running container prints one line this often
    bookmark_interval: float = 60.0  # watch BOOKMARK cadence with allowWatchBookmarks=true
    time_factor: float = 1.0

    def wall(self, seconds: float) -> float:
        return max(0.0, seconds * self.time_factor)

    @classmethod
    def for_tests(cls, time_factor: float = 0.01) -> Delays:
        """Zero controller delays; back-offs and deadlines 100× faster than a real cluster."""
        return cls(time_factor=time_factor)

    @classmethod
    def realistic(cls) -> Delays:
        """Small, visible delays for the standalone server (a dashboard shows Pending, then Ready)."""
        return cls(
            pod_start=1.5,
            pod_ready=1.0,
            pod_termination=1.0,
            job_run=3.0,
            pvc_bind=0.5,
            namespace_grace=2.0,
            load_balancer=1.0,
            time_factor=1.0,
        )


@dataclass
class SimConfig:
    """What the simulated cluster advertises and how its admission behaves."""

    version: str = "1.33.4"
    delays: Delays = field(default_factory=Delays.for_tests)
    field_validation: str = "Strict"
    token: str = "kubesim-token"
    require_token: bool = False
    default_storage_class: str = "standard"
    node_name: str = "kubesim-node"
    node_ip: str = "10.0.0.10"
    history: int = 20000

    @property
    def major(self) -> str:
        return self.version.split(".")[0]

    @property
    def minor(self) -> str:
        return self.version.split(".")[1]

    @property
    def git_version(self) -> str:
        return f"v{self.version}+kubesim"
