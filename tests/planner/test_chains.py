"""Overlay chains: baseline → team overlay → feature overlay, nearest provider per service."""

from __future__ import annotations

from environments.planner import Status, effective_spec, plan_overlay

from .helpers import baseline, by_name, overlay, partial, removed, service

BASE = baseline(
    service("storefront", dependsOn=["checkout", "catalog"], propagateHeader=True, expose=True),
    service("catalog", dependsOn=["db"], propagateHeader=True),
    service("checkout", dependsOn=["payments", "db"]),
    service("payments"),
    service("db"),
    service("legacy"),
    env_id="env_org",
)
# The team overlay changes payments; checkout drops the header, so it is promoted here.
TEAM = overlay("env_team", partial("payments", image="example/payments:2"), removed("legacy"))
CHAIN = [BASE, TEAM]


def test_effective_spec_of_a_chain_resolves_the_nearest_provider_including_promotions():
    spec, providers = effective_spec(CHAIN)

    assert providers == {
        "catalog": "env_org",
        "checkout": "env_team",
        "db": "env_org",
        "payments": "env_team",
        "storefront": "env_org",
    }
    assert [s["name"] for s in spec["services"]] == sorted(providers)
    assert spec["name"] == "env_team" and spec["routing"]["mode"] == "overlay"
    payments = next(s for s in spec["services"] if s["name"] == "payments")
    assert payments["image"] == "example/payments:2"


def test_a_service_changed_at_level_two_is_inherited_at_level_three_from_level_two():
    # given a feature overlay on the team overlay that only changes the storefront
    feature = overlay("env_feat", partial("storefront", image="example/storefront:feat", propagateHeader=True))

    # when
    plan = plan_overlay(CHAIN, feature)

    # then payments and the checkout the team overlay promoted come from the team overlay
    assert plan.local == ["storefront"]
    assert plan.inherited == {
        "catalog": "env_org",
        "checkout": "env_team",
        "db": "env_org",
        "payments": "env_team",
    }
    services = by_name(plan)
    assert services["payments"].reasons == [{"code": "INHERITED", "from": "env_team"}]
    assert services["payments"].spec["image"] == "example/payments:2"
    assert "legacy" not in services
    assert plan.conflicts == []


def test_changing_again_a_service_an_intermediate_overlay_changed_diffs_against_that_overlay():
    feature = overlay("env_feat", partial("payments", image="example/payments:3"))

    plan = plan_overlay(CHAIN, feature)

    payments = by_name(plan)["payments"]
    assert payments.status == Status.CHANGED
    assert payments.reasons[0] == {"code": "FIELDS_CHANGED", "fields": ["image"], "from": "env_team"}
    # checkout runs in the team overlay and drops the header, so it follows payments again.
    assert by_name(plan)["checkout"].status == Status.PROMOTED


def test_a_header_propagating_caller_provided_by_an_intermediate_overlay_is_promoted():
    # given a team overlay that runs its own api (propagating) and its own db
    team = overlay(
        "env_team",
        partial("api", image="example/api:team", propagateHeader=True),
        partial("db", image="example/db:team"),
    )
    base = baseline(service("api", dependsOn=["db"], propagateHeader=True), service("db"), env_id="env_org")

    # when a feature overlay changes db again
    plan = plan_overlay([base, team], overlay("env_feat", partial("db", image="example/db:feat")))

    # then the team's api reaches the team's db directly, with no router to steer the header,
    # so the feature overlay needs its own api
    api = by_name(plan)["api"]
    assert api.status == Status.PROMOTED
    assert api.reasons[0]["rule"] == "provider-not-routed"
    assert "env_team" in api.reasons[0]["why"]


def test_a_header_propagating_caller_whose_provider_reaches_the_baseline_router_stays_inherited():
    team = overlay("env_team", partial("api", image="example/api:team", propagateHeader=True))
    base = baseline(service("api", dependsOn=["db"], propagateHeader=True), service("db"), env_id="env_org")

    plan = plan_overlay([base, team], overlay("env_feat", partial("db", image="example/db:feat")))

    assert plan.inherited == {"api": "env_team"}
    assert plan.local == ["db"]


def test_a_service_removed_by_an_ancestor_can_be_added_back():
    plan = plan_overlay(CHAIN, overlay("env_feat", service("legacy", image="example/legacy:2")))

    legacy = by_name(plan)["legacy"]
    assert (legacy.status, legacy.provider) == (Status.ADDED, "env_feat")


def test_an_overlay_of_depth_four_still_resolves_each_service_to_its_nearest_provider():
    feature = overlay("env_feat", partial("catalog", image="example/catalog:feat", propagateHeader=True))
    spec, providers = effective_spec([*CHAIN, feature])

    plan = plan_overlay([*CHAIN, feature], overlay("env_fix", partial("db", image="example/db:fix")))

    assert providers["catalog"] == "env_feat"
    # catalog propagates, but its provider env_feat reaches db through the baseline router;
    # checkout (in env_team, no propagation) must follow db into the new overlay.
    assert plan.inherited["catalog"] == "env_feat"
    assert by_name(plan)["checkout"].reasons[0]["rule"] == "no-header-propagation"
    assert plan.local == ["checkout", "db"]


def test_effective_spec_of_a_lone_baseline_is_its_own_stack():
    spec, providers = effective_spec([BASE])

    assert spec == {**BASE.spec, "services": BASE.spec["services"]}
    assert set(providers.values()) == {"env_org"}


def test_effective_spec_of_an_empty_chain_is_empty():
    assert effective_spec([]) == ({"services": []}, {})
