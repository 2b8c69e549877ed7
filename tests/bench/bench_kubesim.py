"""Benchmark: create + watch-until-ready + delete of a 10-object namespace against kubesim.

Plain script (not a pytest test): ``.venv/bin/python tests/bench/bench_kubesim.py [--cycles N]``.
Uses the unmodified official client with zero controller delays and prints median / p95 per
cycle, then what the server saw when unchanged objects are re-applied with server-side apply.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kubernetes import client, watch  # noqa: E402

from microstax.kubesim import KubeSim  # noqa: E402

APPLY = "application/apply-patch+yaml"


def manifests(ns: str) -> list[dict[str, Any]]:
    def deploy(name: str) -> dict[str, Any]:
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": [
                            {
                                "name": name,
                                "image": f"acme/{name}:1.0",
                                "ports": [{"containerPort": 8080}],
                                "envFrom": [{"configMapRef": {"name": "config"}}],
                            }
                        ]
                    },
                },
            },
        }

    def svc(name: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
        }

    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "config", "namespace": ns},
            "data": {"LOG_LEVEL": "info"},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "db", "namespace": ns},
            "stringData": {"password": "s3cret"},
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "namespace": ns},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
        deploy("api"),
        deploy("web"),
        svc("api"),
        svc("web"),
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": "seed", "namespace": ns},
            "spec": {
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "seed", "image": "acme/seed:1.0"}]}
                }
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": "default-deny", "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        },
    ]


class Client:
    def __init__(self, url: str) -> None:
        cfg = client.Configuration()
        cfg.host = url
        self.api = client.ApiClient(cfg)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.batch = client.BatchV1Api(self.api)
        self.net = client.NetworkingV1Api(self.api)

    def apply(self, m: dict[str, Any]) -> None:
        ns, name, kind = m["metadata"]["namespace"], m["metadata"]["name"], m["kind"]
        kw = {"field_manager": "microstax", "force": True, "_content_type": APPLY}
        fn = {
            "ConfigMap": self.core.patch_namespaced_config_map,
            "Secret": self.core.patch_namespaced_secret,
            "PersistentVolumeClaim": self.core.patch_namespaced_persistent_volume_claim,
            "Service": self.core.patch_namespaced_service,
            "Deployment": self.apps.patch_namespaced_deployment,
            "Job": self.batch.patch_namespaced_job,
            "NetworkPolicy": self.net.patch_namespaced_network_policy,
        }[kind]
        fn(name, ns, m, **kw)


def ready(kind: str, obj: dict[str, Any]) -> bool:
    st = obj.get("status") or {}
    if kind == "Deployment":
        want = obj["spec"].get("replicas", 1)
        return st.get("observedGeneration", 0) >= obj["metadata"]["generation"] and st.get("availableReplicas") == want
    if kind == "Job":
        return any(c["type"] == "Complete" and c["status"] == "True" for c in st.get("conditions") or [])
    return st.get("phase") == "Bound"


def wait_ready(c: Client, ns: str, rv: str) -> None:
    """One watch per kind that needs it, from the RV before the creates (no missed events)."""
    targets = [
        (c.apps.list_namespaced_deployment, "Deployment", {"api", "web"}),
        (c.batch.list_namespaced_job, "Job", {"seed"}),
        (c.core.list_namespaced_persistent_volume_claim, "PersistentVolumeClaim", {"data"}),
    ]
    for fn, kind, names in targets:
        pending = set(names)
        w = watch.Watch()
        for ev in w.stream(fn, namespace=ns, resource_version=rv, timeout_seconds=30):
            obj = ev["raw_object"]
            if ready(kind, obj):
                pending.discard(obj["metadata"]["name"])
            if not pending:
                w.stop()
        if pending:
            raise RuntimeError(f"{kind} {pending} not ready")


def wait_gone(c: Client, ns: str, rv: str) -> None:
    w = watch.Watch()
    for ev in w.stream(
        c.core.list_namespace, field_selector=f"metadata.name={ns}", resource_version=rv, timeout_seconds=30
    ):
        if ev["type"] == "DELETED":
            w.stop()
            return
    raise RuntimeError(f"namespace {ns} not deleted")


def cycle(c: Client, ns: str) -> float:
    start = time.perf_counter()
    created = c.core.create_namespace(
        {"metadata": {"name": ns, "labels": {"app.kubernetes.io/managed-by": "microstax"}}}
    )
    for m in manifests(ns):
        c.apply(m)
    wait_ready(c, ns, created.metadata.resource_version)
    rv = c.core.delete_namespace(ns)["metadata"]["resourceVersion"]
    wait_gone(c, ns, rv)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    with KubeSim() as sim:
        c = Client(sim.url)
        for i in range(args.warmup):
            cycle(c, f"warm-{i}")
        sim.recorder.clear()
        times = sorted(cycle(c, f"bench-{i}") for i in range(args.cycles))
        per_cycle = len(sim.recorder) / args.cycles
        p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        print(f"create + watch-until-ready + delete of a 10-object namespace, {args.cycles} cycles:")
        print(
            f"  median {statistics.median(times):.1f} ms   p95 {p95:.1f} ms   min {times[0]:.1f} ms   "
            f"max {times[-1]:.1f} ms   ({per_cycle:.0f} requests per cycle)"
        )
        print(f"  target <= 100 ms per cycle: {'met' if statistics.median(times) <= 100 else 'NOT met'} (median)")

        ns = "reapply"
        c.core.create_namespace({"metadata": {"name": ns}})
        objs = manifests(ns)
        for m in objs:
            c.apply(m)
        sim.wait_idle()
        rvs = {m["metadata"]["name"] + m["kind"]: None for m in objs}
        before = sim.store.rv
        sim.recorder.clear()
        for m in objs:
            c.apply(m)
        applies = sim.recorder.filter(verb="patch")
        print("re-applying 9 unchanged objects with server-side apply (fieldManager=microstax, force=true):")
        print(
            f"  requests seen by the server: {len(sim.recorder)} "
            f"({sum(1 for r in applies if r.is_apply)} apply PATCHes, all answered "
            f"{sorted({r.status for r in applies})})"
        )
        print(
            f"  writes the server counted: {len(sim.recorder.writes())}; objects changed in storage: "
            f"{sim.store.rv - before} (resourceVersion {before} -> {sim.store.rv})"
        )
        del rvs
        if sim.errors:
            print(f"internal errors: {sim.errors!r}")
            sys.exit(1)


if __name__ == "__main__":
    main()
