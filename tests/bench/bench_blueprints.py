"""Benchmark: validate and normalize generated blueprints of 500, 1,000 and 2,000 services.

Run with ``.venv/bin/python tests/bench/bench_blueprints.py``. Prints, per size, the document
size, the best wall-clock and CPU time of several runs of
:func:`blueprints.validation.validate_blueprint` (which parses, checks, lints, normalizes and
hashes), the cost per service, and the 2000/500 time ratios (4.0 means linear growth). The target
is under one second of wall-clock time for 2,000 services; exits 1 when it is missed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from blueprints.validation import validate_blueprint  # noqa: E402

SIZES = (500, 1000, 2000)
RUNS = 7
TARGET_SECONDS = 1.0


def generate_blueprint(count: int) -> str:
    """A realistic layered stack: every service has an image, ports, env, resources and deps."""
    lines = [f"name: bench-{count}", "description: generated benchmark stack", "routing: {mode: baseline}", "services:"]
    for i in range(count):
        deps = [f"svc-{j}" for j in (i - 1, i // 2, i // 3) if 0 <= j < i]
        lines += [
            f"  - name: svc-{i}",
            f"    image: ghcr.io/example/svc-{i % 50}:1.{i % 7}.{i % 11}",
            "    ports:",
            "      - containerPort: 8080",
            '      - "9090:9091"',
            "    env:",
            f"      UPSTREAM_URL: http://svc-{max(i - 1, 0)}:8080",
            "      LOG_LEVEL: info",
            f"      SHARD: '{i % 16}'",
            "    resources: {cpu: 100m, memory: 128Mi}",
            f"    dependsOn: [{', '.join(sorted(set(deps)))}]",
            f"    replicas: {1 + i % 3}",
        ]
        if i % 10 == 0:
            lines += ["    probes:", "      readiness: {httpGet: {path: /healthz, port: 8080}}"]
    return "\n".join(lines) + "\n"


def measure(text: str) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds over :data:`RUNS` runs (CPU time ignores other load)."""
    best_wall = best_cpu = float("inf")
    for _ in range(RUNS):
        wall, cpu = time.perf_counter(), time.process_time()
        result = validate_blueprint(text)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if not result.valid:
            raise SystemExit(f"generated blueprint is invalid: {result.problems[:3]}")
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    return best_wall, best_cpu


def main() -> int:
    walls: dict[int, float] = {}
    cpus: dict[int, float] = {}
    print(f"{'services':>9} {'size KiB':>9} {'wall s':>8} {'cpu s':>8} {'wall µs/service':>16}")
    for count in SIZES:
        text = generate_blueprint(count)
        walls[count], cpus[count] = measure(text)
        size_kib = len(text.encode()) / 1024
        per_service = walls[count] / count * 1e6
        print(f"{count:>9} {size_kib:>9.0f} {walls[count]:>8.3f} {cpus[count]:>8.3f} {per_service:>16.1f}")
    print(f"ratio 2000/500: wall {walls[2000] / walls[500]:.2f}, cpu {cpus[2000] / cpus[500]:.2f} (4.00 = linear)")
    verdict = "OK" if walls[2000] < TARGET_SECONDS else "SLOW"
    print(f"2000 services: {walls[2000]:.3f} s wall against a target of {TARGET_SECONDS:.1f} s: {verdict}")
    return 0 if walls[2000] < TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
