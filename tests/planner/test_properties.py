"""Properties over random small chains: the planner always answers, consistently and deterministically."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from environments.planner import Layer, Status, effective_spec, plan_overlay

from .helpers import port, removed, service, spec

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = ["api", "cache", "db", "pay", "web", "zed"]

resources = st.sampled_from(
    [
        {"requests": {}, "limits": {}},
        {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}},
        {"requests": {"cpu": "1"}, "limits": {}},
        {"requests": {}, "limits": {"memory": "1Gi"}},
    ]
)
ports = st.lists(
    st.builds(port, st.sampled_from([80, 8080, 9090]), name=st.sampled_from([None, "http", "grpc"])), max_size=2
)


@st.composite
def full_service(draw, name: str):
    return service(
        name,
        image=draw(st.sampled_from([f"{name}:1", f"{name}:2", None])),
        replicas=draw(st.integers(0, 3)),
        expose=draw(st.booleans()),
        ports=draw(ports),
        env=draw(st.dictionaries(st.sampled_from(["A", "B"]), st.sampled_from(["1", "2"]), max_size=2)),
        resources=draw(resources),
        # Names outside the stack and self-dependencies on purpose: conflicts, never crashes.
        dependsOn=draw(st.lists(st.sampled_from([*NAMES, "ghost"]), max_size=3)),
        propagateHeader=draw(st.booleans()),
    )


@st.composite
def overlay_entry(draw, name: str):
    kind = draw(st.sampled_from(["removed", "partial", "full"]))
    if kind == "removed":
        return removed(name)
    entry = draw(full_service(name))
    if kind == "partial":
        # What the normalizer gives for a service written with only a few fields.
        entry.update(ports=[], env=draw(st.sampled_from([{}, {"A": "3"}])), dependsOn=[])
        entry["resources"] = {"requests": {}, "limits": {}}
    return entry


@st.composite
def layer(draw, env_id: str, mode: str, *, full: bool):
    names = draw(st.lists(st.sampled_from(NAMES), unique=True, min_size=1 if full else 0, max_size=len(NAMES)))
    make = full_service if full else overlay_entry
    services = [draw(make(name)) for name in names]
    return Layer(
        env_id,
        env_id,
        mode,
        spec(env_id, services, mode=mode),
        state=draw(st.sampled_from(["ready", "ready", "ready", "provisioning"])),
        header_name=draw(st.sampled_from(["x-msx-env", "x-msx-env", "x-other"])),
        routing_key=draw(st.sampled_from(["", "k1", "k2", env_id])) if mode == "overlay" else "",
    )


@st.composite
def scenarios(draw):
    depth = draw(st.integers(0, 2))
    chain = [draw(layer("env_0", "baseline", full=True))]
    chain += [draw(layer(f"env_{i}", "overlay", full=False)) for i in range(1, depth + 1)]
    new = draw(layer("env_new", "overlay", full=False))
    siblings = draw(st.lists(st.sampled_from(["k1", "k2", "k3"]), max_size=2))
    return chain, new, siblings


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_plans_never_raise_and_give_every_effective_service_exactly_one_provider(scenario):
    chain, new, siblings = scenario

    plan = plan_overlay(chain, new, sibling_routing_keys=siblings)

    # one provider each: local in the new overlay, or inherited from one environment of the chain
    effective = [s["name"] for s in plan.effective_spec["services"]]
    names = [s.name for s in plan.services]
    assert names == sorted(set(names))
    assert effective == sorted(effective)
    assert set(plan.local) | set(plan.inherited) == set(effective)
    assert not set(plan.local) & set(plan.inherited)
    chain_ids = {layer.environment_id for layer in chain}
    for planned in plan.services:
        if planned.status == Status.REMOVED:
            assert planned.name not in effective and planned.provider == "" and planned.spec is None
        elif planned.name in plan.local:
            assert planned.provider == "env_new"
        else:
            assert planned.provider == plan.inherited[planned.name] and planned.provider in chain_ids

    # promotion reached its fixed point and explains itself
    local = set(plan.local)
    for planned in plan.services:
        if planned.status == Status.PROMOTED:
            pulled_by = [r["because"] for r in planned.reasons if r["code"] == "PROMOTED_BY"]
            assert pulled_by and set(pulled_by) <= local
        if planned.status == Status.UNCHANGED and local & set(planned.spec["dependsOn"]):
            # an inherited service calling something local must keep the routing header
            assert planned.spec["propagateHeader"] is True

    # the other entry point agrees
    spec_, providers = effective_spec([*chain, new])
    assert spec_["services"] == plan.effective_spec["services"]
    assert providers == {**plan.inherited, **dict.fromkeys(plan.local, "env_new")}


@FAST
@given(scenarios(), st.randoms(use_true_random=False))
def test_plans_are_deterministic_whatever_the_input_order(scenario, rnd: random.Random):
    chain, new, siblings = scenario

    def shuffled(layer: Layer) -> Layer:
        services = list(layer.spec["services"])
        rnd.shuffle(services)
        return Layer(**{**layer.__dict__, "spec": {**layer.spec, "services": services}})

    first = plan_overlay(chain, new, sibling_routing_keys=siblings).to_dict()
    again = plan_overlay(chain, new, sibling_routing_keys=list(reversed(siblings))).to_dict()
    reordered = plan_overlay([shuffled(layer) for layer in chain], shuffled(new), sibling_routing_keys=siblings)

    assert first == again
    assert [s["name"] for s in first["services"]] == [s.name for s in reordered.services]
    assert first["conflicts"] == [c.to_dict() for c in reordered.conflicts]
    assert first["local"] == reordered.local and first["inherited"] == reordered.inherited
