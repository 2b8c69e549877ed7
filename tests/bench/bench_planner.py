"""Benchmark: plan an overlay over a baseline chain of 250, 500 and 1,000 services.

Run with ``.venv/bin/python tests/bench/bench_planner.py``. For each size it builds, through the
real validator and normalizer, a layered baseline (every service with ports, env, resources and
up to three dependencies; one in ten does not propagate the routing header), a team overlay
that changes one service in fifty, and a feature overlay on top of it (depth 3: feature → team
→ baseline) that changes ten services, adds two and removes one. It prints the best wall-clock
and CPU time of :func:`environments.planner.plan_overlay` over several runs, the plan's shape,
and the 1000/250 time ratios (4.0 means linear growth). The target is 100 ms of wall-clock time
for 1,000 services; exits 1 when it is missed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from blueprints.validation import validate_blueprint  # noqa: E402
from environments.planner import Layer, Plan, plan_overlay  # noqa: E402

SIZES = (250, 500, 1000)
RUNS = 30
TARGET_SECONDS = 0.1


def baseline_yaml(count: int) -> str:
    """A layered stack like the blueprint benchmark's, with some services dropping the header."""
    lines = [f"name: base-{count}", "routing: {mode: baseline, propagateHeader: true}", "services:"]
    for i in range(count):
        deps = sorted({f"svc-{j}" for j in (i - 1, i // 2, i // 3) if 0 <= j < i})
        lines += [
            f"  - name: svc-{i}",
            f"    image: ghcr.io/example/svc-{i % 50}:1.{i % 7}.{i % 11}",
            "    ports: [{containerPort: 8080, name: http}]",
            f"    env: {{UPSTREAM_URL: 'http://svc-{max(i - 1, 0)}:8080', LOG_LEVEL: info}}",
            "    resources: {cpu: 100m, memory: 128Mi}",
            f"    dependsOn: [{', '.join(deps)}]",
            f"    replicas: {1 + i % 3}",
        ]
        if i % 10 == 5:
            lines.append("    propagateHeader: false")
    return "\n".join(lines) + "\n"


def overlay_yaml(name: str, changed: list[int], added: list[str], removed: list[int]) -> str:
    """A sparse overlay: new images for ``changed``, two new services, and removals."""
    lines = [f"name: {name}", f"routing: {{mode: overlay, overlayId: {name}, propagateHeader: true}}", "services:"]
    lines += [f"  - {{name: svc-{i}, image: 'ghcr.io/example/svc-{i}:{name}'}}" for i in changed]
    lines += [f"  - {{name: {new}, image: 'ghcr.io/example/{new}:1', dependsOn: [svc-0]}}" for new in added]
    lines += [f"  - {{name: svc-{i}, removed: true}}" for i in removed]
    return "\n".join(lines) + "\n"


def normalized(text: str, *, overlay: bool) -> dict:
    result = validate_blueprint(text, base_given=overlay)
    if not result.valid:
        raise SystemExit(f"generated blueprint is invalid: {result.problems[:3]}")
    return result.normalized


def scenario(count: int) -> tuple[list[Layer], Layer]:
    """Baseline and team overlay (the chain), and the feature overlay to plan on top of them."""
    base = Layer("env_base", "base", "baseline", normalized(baseline_yaml(count), overlay=False))
    team_changes = list(range(7, count, 50))
    team = Layer(
        "env_team", "team", "overlay", normalized(overlay_yaml("team", team_changes, [], []), overlay=True),
        routing_key="team",
    )  # fmt: skip
    # +4: the next service (index 5 mod 10) drops the header, so promotion cascades.
    feature_changes = [count // 10 * k + 4 for k in range(10)]
    feature_spec = overlay_yaml("feature", feature_changes, ["search", "reviews"], [count - 1])
    feature = Layer("env_feat", "feature", "overlay", normalized(feature_spec, overlay=True), routing_key="feature")
    return [base, team], feature


def measure(chain: list[Layer], feature: Layer) -> tuple[float, float, Plan]:
    """Best wall-clock and best CPU seconds over :data:`RUNS` runs (CPU time ignores other load)."""
    best_wall = best_cpu = float("inf")
    plan = None
    for _ in range(RUNS):
        wall, cpu = time.perf_counter(), time.process_time()
        plan = plan_overlay(chain, feature, sibling_routing_keys=["other", "more"])
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        best_wall, best_cpu = min(best_wall, wall), min(best_cpu, cpu)
    assert plan is not None
    return best_wall, best_cpu, plan


def main() -> int:
    walls: dict[int, float] = {}
    cpus: dict[int, float] = {}
    print("plan_overlay, depth 3 (feature → team → baseline)")
    header = ("services", 9), ("wall ms", 8), ("cpu ms", 8), ("µs/service", 11), ("local", 6), ("promoted", 9)
    print(" ".join(f"{title:>{width}}" for title, width in header), f"{'conflicts':>10}")
    for count in SIZES:
        chain, feature = scenario(count)
        walls[count], cpus[count], plan = measure(chain, feature)
        promoted = sum(1 for service in plan.services if service.status == "promoted")
        per_service = walls[count] / count * 1e6
        print(
            f"{count:>9} {walls[count] * 1e3:>8.1f} {cpus[count] * 1e3:>8.1f} {per_service:>11.1f} "
            f"{len(plan.local):>6} {promoted:>9} {len(plan.conflicts):>10}"
        )
    print(f"ratio 1000/250: wall {walls[1000] / walls[250]:.2f}, cpu {cpus[1000] / cpus[250]:.2f} (4.00 = linear)")
    verdict = "OK" if walls[1000] <= TARGET_SECONDS else "SLOW"
    print(
        f"1000 services: {walls[1000] * 1e3:.1f} ms wall against a target of {TARGET_SECONDS * 1e3:.0f} ms: {verdict}"
    )
    return 0 if walls[1000] <= TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
