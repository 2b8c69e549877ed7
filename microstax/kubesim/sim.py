"""``KubeSim``: the public handle that wires store, API, controllers and HTTP server together."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from . import resources as R
from .api import Api
from .config import Delays, SimConfig
from .controllers import build
from .faults import FaultInjector
from .recorder import Recorder
from .runtime import Runtime
from .server import Server
from .store import Store, WatchEvent
from .util import Obj, clone

_SAVE_DEBOUNCE = 0.5

Executor = Callable[[str, dict[str, Any], dict[str, str]], tuple[int, list[str]]]


class KubeSim:
    """An in-process Kubernetes API server with simulated controllers.

    >>> with KubeSim() as sim:          # started on 127.0.0.1 and a free port
    ...     sim.kubeconfig("/tmp/kubeconfig")
    """

    def __init__(
        self,
        *,
        version: str = "1.33.4",
        delays: Delays | None = None,
        field_validation: str = "Strict",
        token: str = "kubesim-token",
        require_token: bool = False,
        state_file: str | Path | None = None,
        config: SimConfig | None = None,
    ) -> None:
        self.config = config or SimConfig(
            version=version,
            delays=delays or Delays.for_tests(),
            field_validation=field_validation,
            token=token,
            require_token=require_token,
        )
        self.store = Store(self.config.history)
        self.api = Api(self.store, self.config)
        self.faults = FaultInjector()
        self.recorder = Recorder()
        self.runtime = Runtime()
        self.errors: list[BaseException] = []
        # (predicate(image), run(namespace, container, env) -> (exit code, log lines)), first match wins.
        self.executors: list[tuple[Callable[[str], bool], Executor]] = []
        self.event_index: dict[tuple[str, str, str, str], str] = {}
        self.controllers = build(self)
        self.faults.on_unstick = lambda name: self.controllers.requeue("namespace", ("", name))
        self.store.subscribe(self.controllers.on_event)
        self.state_file = Path(state_file) if state_file else None
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._save_timer: threading.Timer | None = None
        self._save_lock = threading.Lock()
        if self.state_file is not None and self.state_file.exists():
            self.store.load(self.state_file)
        else:
            self._seed()
        if self.state_file is not None:
            self.store.subscribe(self._schedule_save)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> KubeSim:
        """Start the controllers and the HTTP server (port 0 picks a free port); returns ``self``."""
        if self._server is not None:
            raise RuntimeError("KubeSim is already running")
        self._closing = False
        self.store.closed = False
        self.controllers.start()
        self._server = Server((host, port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="kubesim-http", daemon=True
        )
        self._thread.start()
        # Re-reconcile everything once so a loaded state (or the seed) converges.
        for rt in R.RESOURCE_TYPES:
            for obj in self.store.list(rt):
                self.controllers.on_event(WatchEvent(self.store.rv, "MODIFIED", rt, obj, obj))
        return self

    def stop(self) -> None:
        """Stop serving, end open watches and log streams, and save state if configured."""
        if self._server is None:
            return
        self._closing = True
        self.store.close()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self.controllers.stop()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        self.save()

    def __enter__(self) -> KubeSim:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget all objects, faults, recorded requests and container runs; re-seed the cluster."""
        self.controllers.clear()
        self.store.clear()
        self.faults.clear()
        self.recorder.clear()
        self.runtime.clear()
        self.errors.clear()
        self.event_index.clear()
        self._seed()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("KubeSim is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def is_closing(self) -> bool:
        return self._closing

    def log_interval(self) -> float:
        return self.config.delays.wall(self.config.delays.log_interval)

    def bookmark_interval(self) -> float:
        return max(self.config.delays.wall(self.config.delays.bookmark_interval), 0.01)

    # -- executors ------------------------------------------------------------------------------

    def register_executor(self, predicate: Callable[[str], bool], run: Executor) -> Callable[[], None]:
        """Let run-to-completion containers whose image satisfies ``predicate`` do real work.

        ``run(namespace, container, env)`` gets the container's spec and its resolved environment,
        runs in a worker thread, and returns ``(exit_code, log_lines)``. Returns an unregister function.
        """
        entry = (predicate, run)
        self.executors.append(entry)
        return lambda: self.executors.remove(entry) if entry in self.executors else None

    # -- client configuration -----------------------------------------------------------------

    def kubeconfig(
        self,
        path: str | Path | None = None,
        *,
        context: str = "kubesim",
        namespace: str | None = None,
        token: str | None = None,
    ) -> str:
        """A kubeconfig for this server (plain http, bearer token); written to ``path`` if given."""
        ctx: dict[str, Any] = {"cluster": context, "user": f"{context}-user"}
        if namespace:
            ctx["namespace"] = namespace
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": f"{context}-user", "user": {"token": token or self.config.token}}],
            "contexts": [{"name": context, "context": ctx}],
            "current-context": context,
            "preferences": {},
        }
        text = yaml.safe_dump(doc, sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    # -- conveniences for tests ----------------------------------------------------------------

    def get(self, resource: str, namespace: str, name: str) -> Obj | None:
        """A copy of an object by plural (``"deployments"``), namespace ('' for cluster scope) and name."""
        rt = next((r for r in R.RESOURCE_TYPES if r.plural == resource), None)
        if rt is None:
            raise KeyError(resource)
        obj = self.store.get(rt, namespace, name)
        return clone(obj) if obj is not None else None

    def list(self, resource: str, namespace: str | None = None) -> list[Obj]:
        rt = next((r for r in R.RESOURCE_TYPES if r.plural == resource), None)
        if rt is None:
            raise KeyError(resource)
        return [clone(o) for o in self.store.list(rt, namespace)]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until the controllers have no work due now (timers for later are ignored)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.controllers.idle():
                time.sleep(0.002)
                if self.controllers.idle():
                    return True
            time.sleep(0.002)
        return False

    def compact(self) -> int:
        """Drop the watch history (like etcd compaction): older resourceVersions now get 410."""
        return self.store.compact()

    # -- persistence ---------------------------------------------------------------------------

    def _schedule_save(self, event: WatchEvent) -> None:
        with self._save_lock:
            if self._save_timer is None:
                self._save_timer = threading.Timer(_SAVE_DEBOUNCE, self.save)
                self._save_timer.daemon = True
                self._save_timer.start()

    def save(self) -> None:
        """Write the state file now (no-op without one)."""
        with self._save_lock:
            if self._save_timer is not None:
                self._save_timer.cancel()
                self._save_timer = None
        if self.state_file is not None:
            self.store.save(self.state_file)

    # -- seed ----------------------------------------------------------------------------------

    def _seed(self) -> None:
        """What a fresh k3s cluster has: system namespaces, one node, storage classes, the API service."""
        ctl = self.api.ctl_create
        for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
            ctl(R.NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, "kube-apiserver")
        c = self.config
        node = ctl(
            R.NODE,
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": c.node_name,
                    "labels": {
                        "kubernetes.io/hostname": c.node_name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "node-role.kubernetes.io/control-plane": "true",
                        "node.kubernetes.io/instance-type": "k3s",
                    },
                },
                "spec": {"podCIDR": "10.42.0.0/24", "podCIDRs": ["10.42.0.0/24"]},
            },
            "k3s",
        )
        self.api.ctl_update(
            R.NODE,
            dict(
                node,
                status={
                    "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                    "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                    "conditions": [
                        {
                            "type": "Ready",
                            "status": "True",
                            "reason": "KubeletReady",
                            "message": "kubelet is posting ready status",
                            "lastHeartbeatTime": node["metadata"]["creationTimestamp"],
                            "lastTransitionTime": node["metadata"]["creationTimestamp"],
                        }
                    ],
                    "addresses": [
                        {"type": "InternalIP", "address": c.node_ip},
                        {"type": "Hostname", "address": c.node_name},
                    ],
                    "nodeInfo": {
                        "kubeletVersion": c.git_version,
                        "kubeProxyVersion": c.git_version,
                        "containerRuntimeVersion": "containerd://2.0.5-k3s1",
                        "operatingSystem": "linux",
                        "architecture": "amd64",
                        "osImage": "kubesim",
                        "kernelVersion": "6.1.0",
                        "machineID": "",
                        "systemUUID": "",
                        "bootID": "",
                    },
                },
            ),
            "k3s",
            "status",
        )
        for name, mode in (("standard", "Immediate"), ("local-path", "WaitForFirstConsumer")):
            annotations = (
                {"storageclass.kubernetes.io/is-default-class": "true"} if name == c.default_storage_class else {}
            )
            ctl(
                R.STORAGECLASS,
                {
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "StorageClass",
                    "metadata": {"name": name, "annotations": annotations},
                    "provisioner": "rancher.io/local-path",
                    "reclaimPolicy": "Delete",
                    "volumeBindingMode": mode,
                },
                "k3s",
            )
        ctl(
            R.SERVICE,
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {
                    "name": "kubernetes",
                    "namespace": "default",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "clusterIP": "10.43.0.1",
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}],
                },
            },
            "kube-apiserver",
        )
