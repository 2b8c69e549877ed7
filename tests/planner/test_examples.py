"""The documented example: the feat-checkout overlay over the shop baseline, from YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from blueprints.validation import validate_blueprint
from environments.planner import Layer, Status, plan_overlay

EXAMPLES = Path(__file__).parents[1] / "blueprints" / "examples"


def normalized(filename: str, *, base_given: bool = False) -> dict:
    result = validate_blueprint((EXAMPLES / filename).read_text(), base_given=base_given)
    assert result.valid, result.problems
    return result.normalized


@pytest.fixture(scope="module")
def plan():
    shop = Layer("env_base_123", "shop", "baseline", normalized("shop-baseline.yaml"))
    feat = Layer(
        "env_feat",
        "feat-checkout",
        "overlay",
        normalized("feat-checkout-overlay.yaml", base_given=True),
        routing_key="feat-checkout",
    )
    return plan_overlay([shop], feat)


def test_feat_checkout_changes_checkout_and_inherits_its_contract(plan):
    checkout = next(s for s in plan.services if s.name == "checkout")

    assert checkout.status == Status.CHANGED
    assert checkout.reasons[0]["fields"] == ["expose", "image", "propagateHeader"]
    assert checkout.reasons[1] == {
        "code": "FIELDS_INHERITED",
        "fields": ["dependsOn", "env", "ports", "resources"],
        "from": "env_base_123",
    }
    assert checkout.spec["dependsOn"] == ["db", "payments"]
    assert checkout.spec["ports"][0]["port"] == 8080


def test_feat_checkout_promotes_the_storefront_that_does_not_propagate_the_header(plan):
    storefront = next(s for s in plan.services if s.name == "storefront")

    assert storefront.status == Status.PROMOTED
    assert [(r["because"], r["rule"]) for r in storefront.reasons] == [("checkout", "no-header-propagation")]


def test_feat_checkout_runs_two_services_and_bridges_five(plan):
    assert plan.conflicts == []
    assert plan.local == ["checkout", "storefront"]
    assert plan.inherited == dict.fromkeys(["cache", "cart", "catalog", "db", "payments"], "env_base_123")
    assert plan.effective_spec["routing"]["overlayId"] == "feat-checkout"
    assert [s["name"] for s in plan.effective_spec["services"]] == [
        "cache", "cart", "catalog", "checkout", "db", "payments", "storefront",
    ]  # fmt: skip


def test_feat_checkout_saves_the_pods_and_requests_of_the_bridged_services(plan):
    # storefront and checkout request 200m/256Mi each; the five bridged ones 300m/384Mi in all
    assert plan.saving == {
        "full_clone": {"services": 7, "pods": 7, "cpu_millicores": 700, "memory_mib": 896.0},
        "overlay": {"services": 2, "pods": 2, "cpu_millicores": 400, "memory_mib": 512.0},
        "saved": {"services": 5, "pods": 5, "cpu_millicores": 300, "memory_mib": 384.0},
        "ratio": 0.7143,
    }
