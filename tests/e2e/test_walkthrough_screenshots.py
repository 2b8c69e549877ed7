"""The README walkthrough in a real browser, one screenshot per step: a team member sees a ready
baseline and an overlay of it in the environment list, the baseline's services, endpoints and
lineage, the overlay's difference graph (what it changes, what it inherits) and two-layer lineage,
a sanitized snapshot of the baseline with its lineage, and a platform admin sees them in the fleet.

Each page is asserted before it is photographed, so a screenshot never shows a login page or an
error. The PNGs go to ``$MICROSTAX_SCREENSHOTS`` when set (``make screenshots`` writes
docs/walkthrough/), otherwise to the test's temporary directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from environments import actions as env_actions
from tests.snapshots_api.conftest import (  # noqa: F401  (fixtures)
    developer,
    make_snapshot,
    policy,
    snapshot_storage,
)

pytestmark = pytest.mark.browser

EXAMPLES = Path(__file__).resolve().parents[1] / "blueprints" / "examples"
# The seed script of the documented example is a repository file we do not have; the rest is as documented.
BASELINE = "\n".join(line for line in (EXAMPLES / "shop-baseline.yaml").read_text().splitlines() if "init:" not in line)
OVERLAY = (EXAMPLES / "feat-checkout-overlay.yaml").read_text().replace("  baselineId: env_base_123\n", "")
BASELINE_SERVICES = ("storefront", "catalog", "cart", "checkout", "payments", "db", "cache")

VIEWPORT = {"width": 1280, "height": 800}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where the screenshots go: ``$MICROSTAX_SCREENSHOTS`` (created) or the test's temporary directory."""
    target = os.environ.get("MICROSTAX_SCREENSHOTS")
    directory = Path(target) if target else tmp_path
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def new_page(browser):
    """A page in a fresh browser context (its own cookies) with a fixed viewport, so images are comparable."""
    contexts = []

    def make():
        context = browser.new_context(viewport=VIEWPORT)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


def sign_in(page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=signed-in-as]")
    assert page.inner_text("[data-testid=signed-in-as]") == username


def shoot(page, directory: Path, name: str) -> Path:
    path = directory / name
    page.screenshot(path=str(path), full_page=True)
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000, (path, len(data))
    return path


def test_the_walkthrough_page_by_page_with_a_screenshot_of_each(
    live_server,
    new_page,
    screenshots,
    transactional_db,
    team,
    owner,
    developer,  # noqa: F811
    admin_user,
    sandbox_cluster,
    policy,  # noqa: F811
    make_snapshot,  # noqa: F811
):
    # given: the team owner's ready baseline, a developer's ready overlay of it (without a test
    # transaction, provisioning runs at commit, synchronously), and a sanitized snapshot of the
    # baseline's database as a finished capture leaves it
    baseline = env_actions.create_environment(actor=owner, team=team, source=BASELINE, cluster=sandbox_cluster)
    baseline.refresh_from_db()
    assert (baseline.mode, baseline.state) == ("baseline", "ready"), baseline.state_reason
    overlay = env_actions.create_overlay(actor=developer, base=baseline, source=OVERLAY)
    overlay.refresh_from_db()
    assert (overlay.mode, overlay.state) == ("overlay", "ready"), overlay.state_reason
    snapshot = make_snapshot(baseline, policy=policy)
    page = new_page()

    # when: 1. a team member signs in and opens the environment list
    sign_in(page, live_server.url, developer.username, "pw-dana")
    page.get_by_role("link", name="Environments").click()
    page.wait_for_selector(f"#environment-table tr[data-env={baseline.public_id}]")

    # then: the baseline and, indented under it, its overlay, both ready with every service up
    row = page.locator(f"#environment-table tr[data-env={baseline.public_id}]")
    assert row.get_attribute("data-state") == "ready" and row.get_attribute("data-depth") == "0"
    assert row.locator("td[data-services]").get_attribute("data-services") == "7/7"
    derived = page.locator(f"#environment-table tr[data-env={overlay.public_id}]")
    assert derived.get_attribute("data-state") == "ready"
    assert derived.get_attribute("data-parent") == baseline.public_id
    assert derived.get_attribute("data-depth") == "1"
    assert "feat-checkout" in derived.inner_text()
    assert page.locator("#environment-table tbody tr[data-env]").count() == 2
    shoot(page, screenshots, "1-environments.png")

    # when: 2. the baseline's page
    page.get_by_role("link", name="shop", exact=True).click()
    page.wait_for_url(re.compile(rf"/environments/{baseline.public_id}/$"))
    page.wait_for_selector("#env-status [data-state=ready]")

    # then: every service ready, the storefront's endpoint, a one-layer lineage, the overlay deriving
    # from it and the snapshot taken of it
    for service in BASELINE_SERVICES:
        assert page.locator(f"tr[data-service={service}][data-status=ready]").count() == 1, service
    assert page.get_by_role("link", name="http://storefront-shop.sandbox.localhost").is_visible()
    layers = page.locator("#lineage svg.lineage g[data-env]")
    assert layers.count() == 1 and layers.first.get_attribute("data-env") == baseline.public_id
    assert page.locator(f"#overlays tr[data-overlay={overlay.public_id}][data-state=ready]").count() == 1
    assert page.locator(f"#env-snapshots tr[data-snapshot={snapshot.public_id}][data-state=ready]").count() == 1
    shoot(page, screenshots, "2-baseline.png")

    # when: 3. the overlay's page, from the baseline's list of overlays
    page.locator(f"#overlays tr[data-overlay={overlay.public_id}] a").click()
    page.wait_for_url(re.compile(rf"/environments/{overlay.public_id}/$"))
    page.wait_for_selector("#env-status [data-state=ready]")

    # then: it runs only checkout (changed); the rest is inherited from the baseline, two layers deep
    layers = page.locator("#lineage svg.lineage g[data-env]")
    assert layers.count() == 2
    assert layers.nth(0).get_attribute("data-env") == baseline.public_id
    assert layers.nth(1).get_attribute("data-env") == overlay.public_id
    assert layers.nth(1).get_attribute("data-mode") == "overlay"
    assert page.locator("svg.lineage g[data-service=checkout][data-status=changed]").count() == 1
    graph = page.locator("#difference-graph")
    assert graph.locator("tr[data-plan-service=checkout][data-plan-status=changed]").count() == 1
    for service in ("catalog", "cart", "payments", "db", "cache"):
        assert graph.locator(f"tr[data-plan-service={service}][data-plan-status=unchanged]").count() == 1, service
    assert "inherited from shop" in graph.inner_text()
    assert page.locator("tr[data-service=checkout][data-status=ready]").count() == 1
    shoot(page, screenshots, "3-overlay.png")

    # when: 4. the snapshot's page, from the baseline's snapshot section
    page.get_by_role("link", name="shop", exact=True).first.click()
    page.wait_for_url(re.compile(rf"/environments/{baseline.public_id}/$"))
    page.locator(f"#env-snapshots tr[data-snapshot={snapshot.public_id}] a").click()
    page.wait_for_url(re.compile(rf"/snapshots/{snapshot.public_id}/$"))

    # then: a ready, sanitized capture of the baseline's db under the team's policy, and its lineage
    detail = page.locator("#snapshot-detail")
    assert detail.locator(".badge.state[data-state=ready]").first.is_visible()
    assert detail.locator(".badge.sanitized").first.is_visible()
    assert baseline.public_id in page.inner_text("[data-testid=source]")
    assert "service db" in page.inner_text("[data-testid=source]")
    assert page.inner_text("[data-testid=policy]").startswith("shop-dev v1")
    assert snapshot.sha256 in detail.inner_text()
    lineage = page.locator("#lineage svg.snapshot-lineage")
    assert lineage.locator(f"g.source[data-id={baseline.public_id}][data-state=ready]").count() == 1
    assert lineage.locator(f"g.snapshot[data-id={snapshot.public_id}][data-state=ready]").count() == 1
    assert "sanitized · shop-dev v1" in lineage.text_content()
    shoot(page, screenshots, "4-snapshot.png")

    # when: 5. a platform admin opens the fleet view
    admin = new_page()
    sign_in(admin, live_server.url, admin_user.username, "pw-admin")
    admin.get_by_role("link", name="Fleet").click()
    admin.wait_for_url(re.compile(r"/fleet/$"))

    # then: all teams, the team's two ready environments, the namespaces chart and the expiries
    assert "all teams" in admin.inner_text("h1")
    states = admin.locator("#fleet-states tr[data-team=payments][data-state=ready]")
    assert states.count() == 1 and states.locator("td").nth(2).inner_text() == "2"
    assert admin.locator("#fleet-states svg").count() == 1
    assert admin.locator("#fleet-namespaces svg").count() == 1
    # the overlay expires within a day (its default TTL), the baseline only in 30 days (its 720h)
    assert admin.locator(f"#fleet-expiring tr[data-env={overlay.public_id}]").count() == 1
    assert admin.locator(f"#fleet-expiring tr[data-env={baseline.public_id}]").count() == 0
    shoot(admin, screenshots, "5-fleet.png")
