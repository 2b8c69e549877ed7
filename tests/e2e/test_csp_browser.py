"""The dashboard works under its Content-Security-Policy in a real browser: no violation is
reported while signing in, using htmx fragments and switching teams (the select that submits
itself does so from a static script, not an inline handler)."""

from __future__ import annotations

import pytest

from microstax.teams import actions

pytestmark = pytest.mark.browser


def test_the_dashboard_reports_no_content_security_policy_violation(
    live_server, page, transactional_db, django_user_model
):
    # given
    user = django_user_model.objects.create_user(username="dana", password="a-long-password-1")
    actions.create_team(actor=user, slug="checkout", name="Checkout")
    second = actions.create_team(actor=user, slug="search", name="Search")
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    page.on("pageerror", lambda error: violations.append(str(error)))

    # when
    page.goto(f"{live_server.url}/")
    page.fill("#id_username", "dana")
    page.fill("#id_password", "a-long-password-1")
    page.click("button[type=submit]")
    page.wait_for_selector("[data-testid=signed-in-as]")
    page.select_option("select[name=team]", second.public_id)
    # A selector wait, not wait_for_function: Playwright polls a string predicate with eval inside
    # the page, which this very CSP refuses (and reports) whenever the first check is too early.
    page.wait_for_selector("h1:text-matches('^Search')")
    page.goto(f"{live_server.url}/blueprints/new/")
    page.fill("textarea[name=yaml]", "name: shop\nservices: []\n")
    page.wait_for_timeout(600)  # the validation fragment is fetched after a 400 ms pause
    for path in ("/environments/", "/snapshots/", "/audit/", "/clusters/"):
        page.goto(f"{live_server.url}{path}")

    # then
    assert violations == []
