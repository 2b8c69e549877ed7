"""Security headers on dashboard pages, API responses and early refusals; cookies in production."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from microstax.lib.headers import DASHBOARD_POLICY, GRAPHIQL_POLICY, NON_HTML_POLICY


def _assert_common(response) -> None:
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


@pytest.mark.parametrize("path", ["/", "/environments/", "/audit/", "/login/"])
def test_dashboard_pages_carry_every_header_and_a_strict_policy(client_for, owner, team, path):
    response = client_for(owner).get(path, follow=True)
    assert response.status_code == 200
    _assert_common(response)
    policy = response["Content-Security-Policy"]
    assert policy == DASHBOARD_POLICY
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy


def test_api_responses_carry_every_header_and_allow_nothing(gql, owner):
    gql("{ viewer { username } }", user=owner)
    _assert_common(gql.last_response)
    assert gql.last_response["Content-Security-Policy"] == NON_HTML_POLICY


def test_a_refused_token_still_carries_the_headers(db, client):
    response = client.post("/graphql", data="{}", content_type="application/json", HTTP_AUTHORIZATION="Bearer msx_nope")
    assert response.status_code == 401
    _assert_common(response)


def test_graphiql_gets_its_own_policy(client_for, owner):
    response = client_for(owner).get("/graphql", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == GRAPHIQL_POLICY


def test_hsts_is_sent_over_https_when_configured(client_for, owner, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    response = client_for(owner).get("/environments/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in client_for(owner).get("/environments/")


def test_dashboard_templates_have_no_inline_script_style_or_handlers():
    """The policy forbids them; a template that reintroduces one breaks the page in browsers."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    inline = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=|\son[a-z]+=", re.IGNORECASE)
    offenders = []
    for template in root.glob("*/templates/**/*.html"):
        for number, line in enumerate(template.read_text().splitlines(), 1):
            if inline.search(line) and 'type="application/json"' not in line:
                offenders.append(f"{template.relative_to(root)}:{number}: {line.strip()[:80]}")
    assert not offenders, "\n".join(offenders)


def test_production_settings_secure_the_cookies_and_turn_on_hsts(tmp_path):
    key = tmp_path / "audit.pem"
    env = {
        k: v for k, v in os.environ.items() if k not in ("DEBUG", "DATABASE_URL", "REDIS_URL", "SECURE_HSTS_SECONDS")
    }
    env.update(
        SECRET_KEY="x" * 50,
        MICROSTAX_ENCRYPTION_KEY="yVZpQ3j5tQ0vUQJ8lNUqN4pSxR-5fQ2n6dK9mLcK3hA=",
        MICROSTAX_AUDIT_SIGNING_KEY_FILE=str(key),
    )
    code = (
        "import microstax.settings as s; print(s.SESSION_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY, "
        "s.SESSION_COOKIE_SAMESITE, s.CSRF_COOKIE_SECURE, s.CSRF_COOKIE_SAMESITE, s.SECURE_HSTS_SECONDS)"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "True", "Lax", "True", "Lax", "31536000"]
