"""Benchmark of microstax/kube against kubesim (zero controller delays): a 10-object namespace.

One cycle = apply (create) + wait until ready + delete the namespace and wait until it is gone.
Prints median/p95 over N cycles, then the request counts of a re-apply of unchanged objects
(which must make zero writes). Run: ``.venv/bin/python tests/bench/bench_kube.py [cycles]``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from microstax import kube  # noqa: E402
from microstax.kube import labels as L  # noqa: E402
from microstax.kubesim import KubeSim  # noqa: E402

TARGET_MS = 100.0


def manifests(namespace: str, env_id: str) -> list[dict]:
    """Ten objects: namespace, quota, network policy, configmap, secret, pvc, 2 deployments, service, job."""
    labels = kube.managed_labels(env_id, "bench")

    def meta(name: str, service: str | None = None) -> dict:
        extra = {L.SERVICE: service} if service else {}
        return {"name": name, "namespace": namespace, "labels": {**labels, **extra}}

    def deployment(name: str) -> dict:
        selector = {L.SERVICE: name, L.ENVIRONMENT: env_id}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta(name, name),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": {**labels, L.SERVICE: name}},
                    "spec": {"containers": [{"name": name, "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]},
                },
            },
        }

    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}},
        {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta("quota"), "spec": {"hard": {"pods": "20"}}},
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("default-deny"),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("settings"), "data": {"LOG_LEVEL": "info"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": meta("credentials"), "stringData": {"PASSWORD": "x"}},
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta("data"),
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        },
        deployment("web"),
        deployment("api"),
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta("web", "web"),
            "spec": {"selector": {L.SERVICE: "web"}, "ports": [{"port": 80}]},
        },
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta("seed", "seed"),
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "seed", "image": "busybox:1.36"}]}
                },
            },
        },
    ]


def cycle(config: kube.ClusterConfig, n: int) -> tuple[float, float, float, float]:
    """One create → ready → delete → gone cycle; returns the phase durations in ms and the total."""
    namespace, env_id = f"bench-{n}", f"b{n}"
    t0 = time.perf_counter()
    report = kube.apply(config, manifests(namespace, env_id))
    t1 = time.perf_counter()
    readiness = kube.wait_ready(config, report.objects, 30.0)
    t2 = time.perf_counter()
    if not readiness.ready:
        raise SystemExit(f"cycle {n} not ready: {[(str(o.ref), o.reason, o.message) for o in readiness.objects]}")
    kube.delete_namespace(config, namespace)
    if not kube.wait_namespace_gone(config, namespace, 30.0).gone:
        raise SystemExit(f"cycle {n}: namespace not gone")
    t3 = time.perf_counter()
    return (t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000, (t3 - t0) * 1000


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def main() -> None:
    cycles = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    with KubeSim() as sim:
        config = kube.ClusterConfig(name="bench", kubeconfig=sim.kubeconfig())
        kube.server_version(config)
        cycle(config, -1)  # warm-up: discovery, connection pool, kubesim's schema caches
        results = [cycle(config, n) for n in range(cycles)]
        print(f"kube cycle: apply + wait ready + delete namespace (10 objects), {cycles} cycles, kubesim zero delays")
        for label, index in (("apply", 0), ("wait ready", 1), ("delete + gone", 2), ("total", 3)):
            values = [r[index] for r in results]
            print(f"  {label:14s} median {statistics.median(values):7.1f} ms   p95 {p95(values):7.1f} ms")
        median_total = statistics.median(r[3] for r in results)
        verdict = "OK" if median_total <= TARGET_MS else "OVER"
        print(f"  target ≤ {TARGET_MS:.0f} ms median: {verdict}")

        desired = manifests("bench-reapply", "reapply")
        kube.apply(config, desired)
        sim.recorder.clear()
        again = kube.apply(config, desired)
        counts = Counter(f"{r.method} {r.verb}" for r in sim.recorder.requests)
        writes = [r for r in sim.recorder.requests if r.method in ("PATCH", "POST", "PUT", "DELETE")]
        print(f"re-apply of {len(desired)} unchanged objects: {again.writes} writes, {again.skipped} skipped")
        print(f"  requests: {dict(sorted(counts.items()))}; write requests seen by kubesim: {len(writes)}")
        if writes or again.writes:
            raise SystemExit("re-apply of unchanged objects wrote to the cluster")
    kube.close_all()


if __name__ == "__main__":
    main()
