"""A person signs in to the dashboard in a real browser and works with their team."""

from __future__ import annotations

import pytest

from microstax.teams import actions

pytestmark = pytest.mark.browser


def test_sign_in_see_the_dashboard_and_create_a_token(live_server, page, transactional_db, django_user_model):
    # given
    user = django_user_model.objects.create_user(username="dana", password="a-long-password-1")
    actions.create_team(actor=user, slug="checkout", name="Checkout")
    # when
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "dana")
    page.fill("#id_password", "a-long-password-1")
    page.click("button[type=submit]")
    # then
    page.wait_for_selector("[data-testid=signed-in-as]")
    assert page.inner_text("[data-testid=signed-in-as]") == "dana"
    assert page.inner_text("h1").startswith("Checkout")
    for label in ("Environments", "Blueprints", "Snapshots", "Audit", "Clusters"):
        assert page.get_by_role("link", name=label).is_visible()

    # the team page's htmx form swaps in the new token without a reload
    page.click("text=Members and API tokens")
    page.fill("input[name=name][aria-label='Token name']", "browser-made")
    page.click("text=Create token")
    secret = page.wait_for_selector("[data-testid=new-token]").inner_text()
    assert secret.startswith("msx_")
    assert "browser-made" in page.inner_text("#tokens")
