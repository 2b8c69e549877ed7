"""Conflicts: each one blocks the overlay before anything is provisioned, with a plain message."""

from __future__ import annotations

from environments.planner import ConflictCode, Layer, plan_overlay

from .helpers import baseline, conflict_codes, overlay, partial, port, removed, service

BASE = baseline(
    service("api", dependsOn=["db"], ports=[port(8080, name="http")], propagateHeader=True),
    service("db", ports=[port(5432)]),
    service("web", dependsOn=["api"], propagateHeader=True),
)


def test_a_clean_overlay_has_no_conflicts():
    plan = plan_overlay([BASE], overlay("env_new", partial("api", image="example/api:2")))

    assert plan.conflicts == []
    assert not plan.blocked


def test_removing_a_service_others_depend_on_is_a_missing_dependency():
    plan = plan_overlay([BASE], overlay("env_new", removed("db")))

    [conflict] = plan.conflicts
    assert (conflict.code, conflict.services) == (ConflictCode.MISSING_DEPENDENCY, ["api", "db"])
    assert conflict.message == "api depends on db, which this overlay removes; keep db or drop the dependency"
    assert plan.blocked


def test_depending_on_a_service_no_provider_has_is_a_missing_dependency():
    plan = plan_overlay([BASE], overlay("env_new", service("search", dependsOn=["index"])))

    [conflict] = plan.conflicts
    assert (conflict.code, conflict.services) == ("MISSING_DEPENDENCY", ["search", "index"])
    assert "no environment of the chain provides" in conflict.message


def test_dropping_a_port_that_inherited_callers_use_breaks_the_contract():
    # given api's only port replaced by one with neither its name nor its number
    changed = service("api", dependsOn=["db"], ports=[port(9000, name="grpc")], propagateHeader=True)

    plan = plan_overlay([BASE], overlay("env_new", changed))

    [conflict] = plan.conflicts
    assert (conflict.code, conflict.services) == (ConflictCode.PORT_CONTRACT_BROKEN, ["api", "web"])
    assert conflict.message.startswith("api no longer has port http (8080/TCP), which web calls")


def test_a_dropped_port_is_no_conflict_when_the_overlay_changes_the_callers_too():
    changed = service("api", dependsOn=["db"], ports=[port(9000, name="grpc")], propagateHeader=True)
    caller = partial("web", image="example/web:grpc", propagateHeader=True)

    plan = plan_overlay([BASE], overlay("env_new", changed, caller))

    assert plan.conflicts == []


def test_a_renamed_port_with_the_same_number_is_resolved_by_promotion_not_a_conflict():
    changed = service("api", dependsOn=["db"], ports=[port(8080, name="web")], propagateHeader=True)

    plan = plan_overlay([BASE], overlay("env_new", changed))

    assert plan.conflicts == []
    assert plan.local == ["api", "web"]


def test_an_overlay_id_used_by_a_live_sibling_is_taken():
    plan = plan_overlay([BASE], overlay("env_new", key="feat-x"), sibling_routing_keys=["feat-y", "feat-x"])

    [conflict] = plan.conflicts
    assert conflict.code == ConflictCode.OVERLAY_ID_TAKEN
    assert "'feat-x' is already used by a live sibling overlay on the same base" in conflict.message


def test_an_overlay_id_used_by_an_ancestor_is_taken():
    team = overlay("env_team", key="team")

    plan = plan_overlay([BASE, team], overlay("env_new", key="team"))

    assert conflict_codes(plan) == ["OVERLAY_ID_TAKEN"]
    assert "its ancestor env_team" in plan.conflicts[0].message


def test_an_overlay_without_a_routing_key_could_never_be_selected():
    plan = plan_overlay([BASE], Layer("env_new", "feat", "overlay", {"services": []}))

    assert conflict_codes(plan) == ["OVERLAY_ID_MISSING"]


def test_a_dependency_cycle_across_the_chain_is_named():
    # given the overlay makes db call web, closing web → api → db → web
    plan = plan_overlay([BASE], overlay("env_new", partial("db", image="example/db:2", dependsOn=["web"])))

    [conflict] = [c for c in plan.conflicts if c.code == ConflictCode.CYCLE]
    assert conflict.services == ["api", "db", "web"]
    assert conflict.message.startswith("dependency cycle api → db → web → api;")


def test_a_service_depending_on_itself_is_a_cycle():
    plan = plan_overlay([BASE], overlay("env_new", service("loop", dependsOn=["loop"])))

    assert [(c.code, c.services) for c in plan.conflicts] == [("CYCLE", ["loop"])]


def test_a_parent_that_is_not_ready_blocks_the_overlay():
    deleting = baseline(*BASE.spec["services"], state="deleting")

    plan = plan_overlay([deleting], overlay("env_new", partial("api", image="example/api:2")))

    [conflict] = plan.conflicts
    assert (conflict.code, conflict.services) == (ConflictCode.BASE_NOT_READY, ["db", "web"])
    assert conflict.message.startswith("the parent environment base (env_base) is deleting, not ready")


def test_an_ancestor_that_is_not_ready_blocks_the_overlay_too():
    stopped = baseline(*BASE.spec["services"], state="stopped")

    plan = plan_overlay([stopped, overlay("env_team")], overlay("env_new"))

    assert conflict_codes(plan) == ["BASE_NOT_READY"]
    assert "the ancestor environment" in plan.conflicts[0].message


def test_an_overlay_routing_on_another_header_than_its_baseline_mismatches():
    plan = plan_overlay([BASE], overlay("env_new", header_name="x-feature"))

    [conflict] = plan.conflicts
    assert conflict.code == ConflictCode.HEADER_MISMATCH
    assert "'x-feature'" in conflict.message and "'x-msx-env'" in conflict.message


def test_header_names_compare_case_insensitively():
    assert plan_overlay([BASE], overlay("env_new", header_name="X-MSX-Env")).conflicts == []


def test_a_chain_whose_root_is_not_a_baseline_is_invalid():
    isolated = Layer("env_iso", "iso", "isolated", BASE.spec)

    plan = plan_overlay([isolated], overlay("env_new"))

    assert conflict_codes(plan) == ["INVALID_CHAIN"]
    assert "not a baseline" in plan.conflicts[0].message


def test_an_overlay_without_any_base_is_invalid_and_everything_it_runs_is_added():
    plan = plan_overlay([], overlay("env_new", service("api")))

    assert conflict_codes(plan) == ["INVALID_CHAIN"]
    assert plan.local == ["api"]


def test_an_environment_cannot_be_its_own_ancestor():
    team = overlay("env_team")

    plan = plan_overlay([BASE, team], overlay("env_team", key="other"))

    assert conflict_codes(plan) == ["INVALID_CHAIN"]
    assert "appears twice" in plan.conflicts[0].message


def test_conflicts_are_reported_together_in_a_fixed_order():
    deleting = baseline(*BASE.spec["services"], state="deleting")
    changes = overlay("env_new", removed("db"), service("loop", dependsOn=["loop"]), header_name="x-other", key="k")

    plan = plan_overlay([deleting], changes, sibling_routing_keys={"k"})

    assert conflict_codes(plan) == [
        "BASE_NOT_READY",
        "HEADER_MISMATCH",
        "OVERLAY_ID_TAKEN",
        "MISSING_DEPENDENCY",
        "CYCLE",
    ]
