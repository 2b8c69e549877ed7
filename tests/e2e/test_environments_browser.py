"""A developer creates an environment from pasted YAML in a real browser and watches it become ready."""

from __future__ import annotations

import re

import pytest

from microstax.teams import actions

pytestmark = pytest.mark.browser

STACK = """\
name: shop
services:
  - name: api
    image: ghcr.io/example/api:1.0.0
    ports: ["80:8080"]
    expose: true
"""


def test_create_from_pasted_yaml_and_see_it_ready_with_its_timeline(
    live_server, page, transactional_db, django_user_model, sandbox_cluster
):
    # given
    user = django_user_model.objects.create_user(username="dana", password="a-long-password-1")
    actions.create_team(actor=user, slug="checkout", name="Checkout")
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "dana")
    page.fill("#id_password", "a-long-password-1")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=signed-in-as]")

    # when: from the list, open the create page and paste a blueprint
    page.get_by_role("link", name="Environments").click()
    page.get_by_role("link", name="New environment").click()
    page.fill("textarea[name=yaml]", "name: shop\nservices: []\n")
    page.wait_for_selector("#problems [data-valid=false]")  # validated inline as typed
    page.fill("textarea[name=yaml]", STACK)
    page.wait_for_selector("#problems [data-valid=true]")
    page.get_by_role("button", name="Create environment").click()

    # then: the detail page shows it ready, with the timeline and its services
    page.wait_for_url(re.compile(r"/environments/env_\w+/$"))
    page.wait_for_selector("#env-status [data-state=ready]", timeout=30_000)
    assert page.locator("svg.timeline rect.bar").count() > 3
    assert page.locator("tr[data-service=api][data-status=ready]").count() == 1
    assert page.get_by_role("link", name="http://api-shop.sandbox.localhost").is_visible()
    assert "simulated" in page.inner_text("#env-status")

    # the log panel loads when opened
    page.click("#logs-panel summary")
    page.wait_for_selector("#log-lines [data-log-lines]")

    # a button posts with htmx and the status is swapped in place
    page.get_by_role("button", name="Stop").click()
    page.wait_for_selector("#env-status [data-outcome=ok]")
    page.wait_for_selector("#env-status [data-state=stopped]", timeout=30_000)
    assert page.get_by_role("button", name="Resume").is_visible()
