"""A developer derives an overlay from a ready baseline in a real browser: plan it, then create it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from environments import actions as env_actions
from microstax.teams import actions as team_actions

pytestmark = pytest.mark.browser

EXAMPLES = Path(__file__).resolve().parents[1] / "blueprints" / "examples"
# The seed script of the documented example is a repository file we do not have; the rest is as documented.
BASELINE = "\n".join(line for line in (EXAMPLES / "shop-baseline.yaml").read_text().splitlines() if "init:" not in line)
OVERLAY = (EXAMPLES / "feat-checkout-overlay.yaml").read_text().replace("  baselineId: env_base_123\n", "")


def test_plan_and_create_an_overlay_and_see_its_lineage(
    live_server, page, transactional_db, django_user_model, sandbox_cluster
):
    # given: a ready baseline (without a test transaction, provisioning runs at commit, synchronously)
    user = django_user_model.objects.create_user(username="dana", password="a-long-password-1")
    team = team_actions.create_team(actor=user, slug="checkout", name="Checkout")
    baseline = env_actions.create_environment(actor=user, team=team, source=BASELINE, cluster=sandbox_cluster)
    baseline.refresh_from_db()
    assert (baseline.mode, baseline.state) == ("baseline", "ready"), baseline.state_reason
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "dana")
    page.fill("#id_password", "a-long-password-1")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=signed-in-as]")

    # when: from the baseline's page, open the new overlay page and plan the pasted overlay
    page.goto(f"{live_server.url}/environments/{baseline.public_id}/")
    assert page.locator("svg.lineage g[data-env]").count() == 1
    page.get_by_role("link", name="New overlay").click()
    page.wait_for_url(re.compile(r"/overlays/new/$"))
    page.fill("textarea[name=yaml]", OVERLAY)
    page.get_by_role("button", name="Plan").click()

    # then: the dry run shows the difference graph in place, and nothing exists yet
    page.wait_for_selector("#plan tr[data-plan-service=checkout][data-plan-status=changed]")
    assert page.locator("#plan [data-testid=plan-ok]").is_visible()
    assert page.locator("#plan tr[data-plan-service=storefront][data-plan-status=promoted]").count() == 1
    assert page.locator("#plan svg.lineage g[data-env]").count() == 2
    assert "changed" in page.inner_text("#plan tr[data-plan-service=checkout]")
    assert page.url.endswith("/overlays/new/")

    # when it is created
    page.get_by_role("button", name="Create overlay").click()

    # then: the overlay's detail page, ready, with its lineage from the baseline
    page.wait_for_url(re.compile(r"/environments/env_\w+/$"))
    assert baseline.public_id not in page.url
    page.wait_for_selector("#env-status [data-state=ready]", timeout=30_000)
    layers = page.locator("svg.lineage g[data-env]")
    assert layers.count() == 2
    assert layers.nth(0).get_attribute("data-env") == baseline.public_id
    assert layers.nth(1).get_attribute("data-mode") == "overlay"
    assert page.locator("svg.lineage g[data-service=checkout][data-status=changed]").count() == 1
    assert page.locator("#difference-graph tr[data-plan-service=payments][data-plan-status=unchanged]").count() == 1
    assert "inherited from shop" in page.inner_text("#difference-graph")

    # and the baseline lists it
    page.get_by_role("link", name="shop").first.click()
    page.wait_for_selector("#overlays tr[data-overlay][data-state=ready]")
