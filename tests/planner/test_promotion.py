"""Promotion by impact: unchanged callers pulled into the overlay, to a fixed point."""

from __future__ import annotations

from environments.planner import PromotionRule, Status, plan_overlay

from .helpers import baseline, by_name, overlay, partial, port, service


def rules(plan, name):
    return [(reason["because"], reason["rule"]) for reason in by_name(plan)[name].reasons if "rule" in reason]


def test_promotion_is_transitive_through_callers_that_drop_the_header():
    # given gateway → web → api → db, nobody propagating the header
    base = baseline(
        service("db"),
        service("api", dependsOn=["db"]),
        service("web", dependsOn=["api"]),
        service("gateway", dependsOn=["web"]),
        service("batch"),
    )

    # when only db changes
    plan = plan_overlay([base], overlay("env_new", partial("db", image="example/db:2")))

    # then the whole calling chain follows it, each naming the service that pulled it in
    assert plan.local == ["api", "db", "gateway", "web"]
    assert rules(plan, "api") == [("db", "no-header-propagation")]
    assert rules(plan, "web") == [("api", "no-header-propagation")]
    assert rules(plan, "gateway") == [("web", "no-header-propagation")]
    assert by_name(plan)["batch"].status == Status.UNCHANGED


def test_a_caller_that_propagates_the_header_stays_inherited():
    base = baseline(service("db"), service("api", dependsOn=["db"], propagateHeader=True))

    plan = plan_overlay([base], overlay("env_new", partial("db", image="example/db:2")))

    assert by_name(plan)["api"].status == Status.UNCHANGED
    assert plan.local == ["db"]


def test_transitive_promotion_stops_at_a_caller_that_propagates_the_header():
    base = baseline(
        service("db"),
        service("api", dependsOn=["db"]),
        service("web", dependsOn=["api"], propagateHeader=True),
    )

    plan = plan_overlay([base], overlay("env_new", partial("db", image="example/db:2")))

    assert plan.local == ["api", "db"]
    assert plan.inherited == {"web": "env_base"}


def test_a_promoted_service_names_every_local_service_that_pulls_it_in():
    base = baseline(service("a"), service("b"), service("caller", dependsOn=["a", "b"]))
    changes = overlay("env_new", partial("a", image="example/a:2"), partial("b", image="example/b:2"))

    plan = plan_overlay([base], changes)

    assert rules(plan, "caller") == [("a", "no-header-propagation"), ("b", "no-header-propagation")]


def test_a_renumbered_port_promotes_even_callers_that_propagate_the_header():
    base = baseline(
        service("api", ports=[port(8080, name="http")]), service("web", dependsOn=["api"], propagateHeader=True)
    )
    changed = service("api", ports=[port(9090, name="http")], propagateHeader=True)

    plan = plan_overlay([base], overlay("env_new", changed))

    assert rules(plan, "web") == [("api", PromotionRule.PORT_CONTRACT)]
    assert plan.conflicts == []


def test_a_new_port_or_a_new_container_port_is_not_a_contract_change():
    base = baseline(
        service("api", ports=[port(8080, name="http")]), service("web", dependsOn=["api"], propagateHeader=True)
    )
    changed = service("api", ports=[port(8080, name="http", container=8081), port(9100)], propagateHeader=True)

    plan = plan_overlay([base], overlay("env_new", changed))

    assert by_name(plan)["api"].status == Status.CHANGED
    assert by_name(plan)["web"].status == Status.UNCHANGED
    assert [r["code"] for r in by_name(plan)["api"].reasons] == ["FIELDS_CHANGED"]


def test_a_caller_of_a_service_only_the_overlay_adds_is_promoted():
    # A baseline whose web depends on a service it lacks: only an overlay copy of web can reach
    # the search service the overlay adds, so web is promoted rather than left broken.
    base = baseline(service("web", dependsOn=["search"], propagateHeader=True))

    plan = plan_overlay([base], overlay("env_new", service("search")))

    assert rules(plan, "web") == [("search", "provider-not-routed")]
    assert plan.conflicts == []


def test_promotion_reaches_a_fixed_point_in_a_diamond():
    base = baseline(
        service("db"),
        service("left", dependsOn=["db"]),
        service("right", dependsOn=["db"], propagateHeader=True),
        service("top", dependsOn=["left", "right"]),
    )

    plan = plan_overlay([base], overlay("env_new", partial("db", image="example/db:2")))

    assert plan.local == ["db", "left", "top"]
    assert rules(plan, "top") == [("left", "no-header-propagation")]
    assert by_name(plan)["right"].status == Status.UNCHANGED
