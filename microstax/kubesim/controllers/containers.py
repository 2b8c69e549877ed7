"""The container model behind the simulated kubelet: failure conventions by image name and the
per-container / per-pod state machines (``ContainerSim``, ``PodSim``)."""

import hashlib
from dataclasses import dataclass, field
from typing import Any

CRASH_RUNTIME = 1.0  # cluster seconds a crashlooping container survives
MAX_CRASH_BACKOFF = 300.0


def pull_fails(image: str) -> bool:
    return "does-not-exist" in image


def crashes(image: str) -> bool:
    return "crashloop" in image


def job_fails(image: str) -> bool:
    return "fail" in image.rsplit("/", 1)[-1]


def qualified_image(image: str) -> str:
    """``nginx:1.27`` → ``docker.io/library/nginx:1.27``, as containerd reports image names."""
    name = image.split("@")[0]
    first = name.split("/")[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    if ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name


def image_digest(image: str) -> str:
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()


@dataclass
class ContainerSim:
    name: str
    image: str
    state: str = "creating"  # creating | config | pull | running | backoff | done
    reason: str = "ContainerCreating"
    message: str = ""
    next_at: float = 0.0
    started: float = 0.0
    ready_at: float = 0.0
    restarts: int = 0
    backoff: float = 0.0
    exit_code: int | None = None
    finished: float = 0.0
    last_terminated: dict[str, Any] | None = None
    container_id: str = ""
    # A registered executor running this container's work in a worker thread (see KubeSim.register_executor).
    executing: bool = False
    executed: tuple[int, list[str]] | None = None


@dataclass
class PodSim:
    uid: str
    scheduled: float
    containers: dict[str, ContainerSim] = field(default_factory=dict)
    terminating_since: float | None = None
