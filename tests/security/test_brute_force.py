"""Sign-in throttling: failed logins and bad API tokens lock out the username and the client IP
with exponential back-off, answered 429 with Retry-After before credentials are checked."""

from __future__ import annotations

import uuid

import pytest
from django.core.cache import caches
from django.test import Client, override_settings

from microstax.teams import throttle
from microstax.teams.models import AuthThrottle

REDIS_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/13",
        "KEY_PREFIX": f"msx-test-{uuid.uuid4().hex}",
    }
}


def _login(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post("/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def _graphql_with_token(token: str, ip: str = "10.0.0.9"):
    return Client().post(
        "/graphql",
        data='{"query": "{ viewer { username } }"}',
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        REMOTE_ADDR=ip,
    )


@pytest.fixture
def limits(settings):
    settings.MICROSTAX_AUTH_MAX_FAILURES_PER_USER = 3
    settings.MICROSTAX_AUTH_MAX_FAILURES_PER_IP = 5
    settings.MICROSTAX_AUTH_LOCKOUT_SECONDS = 30
    settings.MICROSTAX_AUTH_LOCKOUT_MAX_SECONDS = 600
    return settings


def test_lockout_doubles_with_every_failure_past_the_limit_up_to_the_cap(limits):
    assert [throttle.lockout_seconds(n, 3) for n in range(1, 9)] == [0, 0, 30, 60, 120, 240, 480, 600]


def test_a_username_is_locked_out_after_repeated_failures_even_with_the_right_password(limits, owner):
    client = Client()
    for _ in range(3):
        assert _login(client, owner.username, "wrong").status_code == 200

    # when: the right password, but from a locked username
    response = _login(client, owner.username, "pw-olivia", ip="10.0.0.2")

    # then
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 30
    assert b"Too many failed sign-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_an_address_guessing_many_usernames_is_locked_out(limits, owner):
    client = Client()
    for n in range(5):
        _login(client, f"guess-{n}", "wrong", ip="10.0.0.3")
    assert _login(client, owner.username, "pw-olivia", ip="10.0.0.3").status_code == 429
    # another address is not affected
    assert _login(Client(), owner.username, "pw-olivia", ip="10.0.0.4").status_code == 302


def test_a_successful_login_resets_the_username_counter(limits, owner):
    client = Client()
    for _ in range(2):
        _login(client, owner.username, "wrong")
    assert _login(client, owner.username, "pw-olivia").status_code == 302
    assert not AuthThrottle.objects.filter(key="user:olivia").exists()
    for _ in range(2):
        assert _login(Client(), owner.username, "wrong").status_code == 200  # counting from zero again


def test_an_expired_lockout_lets_the_user_in(limits, owner):
    for _ in range(3):
        _login(Client(), owner.username, "wrong")
    AuthThrottle.objects.update(locked_until=None)
    assert _login(Client(), owner.username, "pw-olivia").status_code == 302


def test_bad_api_tokens_lock_out_the_address_before_the_token_is_checked(limits, owner, gql):
    good = gql.token_for(owner)
    for n in range(5):
        assert _graphql_with_token(f"msx_bogus{n}").status_code == 401

    response = _graphql_with_token(good)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
    assert _graphql_with_token(good, ip="10.0.0.10").status_code == 200


@override_settings(CACHES=REDIS_CACHE)
def test_with_redis_configured_the_counters_live_in_redis(limits, owner):
    try:
        caches["default"].get("ping")
    except Exception:  # pragma: no cover - Redis runs on every development and CI machine
        pytest.fail("Redis is expected on 127.0.0.1:6379")
    try:
        for _ in range(3):
            _login(Client(), owner.username, "wrong")
        response = _login(Client(), owner.username, "pw-olivia", ip="10.0.0.5")
        assert response.status_code == 429
        assert int(response["Retry-After"]) > 0
        assert not AuthThrottle.objects.exists()
    finally:
        caches["default"].clear()


def test_bad_tokens_on_websockets_lock_out_the_address_too(limits, owner, gql, monkeypatch):
    import channels.db
    from asgiref.sync import async_to_sync

    from microstax.teams.channels import _token_user

    # inside the test's transaction, channels must not close the connection it thinks is stale
    monkeypatch.setattr(channels.db, "close_old_connections", lambda: None)
    good = gql.token_for(owner)
    assert async_to_sync(_token_user)(good, "10.0.0.20")[0] == owner
    for n in range(5):
        assert async_to_sync(_token_user)(f"msx_bogus{n}", "10.0.0.20") == (None, None)

    assert async_to_sync(_token_user)(good, "10.0.0.20") == (None, None)
    assert async_to_sync(_token_user)(good, "10.0.0.21")[0] == owner
