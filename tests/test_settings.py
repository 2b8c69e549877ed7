"""Settings fail at start-up, naming the variable, when a value is bad."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from microstax.lib.env import env_bool, env_int, env_list, env_str


@pytest.mark.parametrize(
    ("reader", "value", "message"),
    [
        (lambda: env_bool("MSX_T", False), "maybe", "MSX_T must be a boolean"),
        (lambda: env_int("MSX_T", 1), "ten", "MSX_T must be an integer"),
        (lambda: env_int("MSX_T", 1, minimum=2), "1", "MSX_T must be at least 2"),
    ],
)
def test_typed_readers_name_the_bad_variable(monkeypatch, reader, value, message):
    monkeypatch.setenv("MSX_T", value)
    with pytest.raises(ImproperlyConfigured, match=message):
        reader()


def test_file_variants_and_lists(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("MSX_T_FILE", str(secret))
    assert env_str("MSX_T") == "from-a-file"
    monkeypatch.setenv("MSX_T_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="MSX_T_FILE: cannot read"):
        env_str("MSX_T")
    monkeypatch.setenv("MSX_L", "a, b,,c")
    assert env_list("MSX_L", []) == ["a", "b", "c"]


def _load_settings(
    expression: str = "s.Q_CLUSTER.get('redis'), s.CHANNEL_LAYERS['default']['BACKEND'], "
    "s.DATABASES['default']['ENGINE']",
    **env,
) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DEBUG", "SECRET_KEY", "DATABASE_URL", "MICROSTAX_ENCRYPTION_KEY", "REDIS_URL")
    }
    return subprocess.run(
        [
            sys.executable,
            "-c",
            f"import microstax.settings as s; print({expression})",
        ],
        env={**clean, **env},
        capture_output=True,
        text=True,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = _load_settings(DEBUG="false")
    assert result.returncode != 0 and "SECRET_KEY (or SECRET_KEY_FILE) must be set" in result.stderr


def test_production_requires_a_valid_encryption_key():
    result = _load_settings(DEBUG="false", SECRET_KEY="k", MICROSTAX_ENCRYPTION_KEY="short")
    assert result.returncode != 0 and "MICROSTAX_ENCRYPTION_KEY must be 32" in result.stderr


def test_redis_url_switches_the_broker_and_the_channel_layer():
    result = _load_settings(
        DEBUG="true", REDIS_URL="redis://127.0.0.1:6379/3", DATABASE_URL="postgres://postgres@127.0.0.1:5432/test"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "redis://127.0.0.1:6379/3",
        "channels_redis.core.RedisChannelLayer",
        "django.db.backends.postgresql",
    ]


def test_a_bad_database_url_is_named():
    result = _load_settings(DEBUG="true", DATABASE_URL="nosuchdb://x")
    assert result.returncode != 0 and "DATABASE_URL" in result.stderr


POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"


def test_postgresql_gets_a_connection_pool_unless_turned_off():
    pool = "s.DATABASES['default'].get('OPTIONS', {}).get('pool')"
    result = _load_settings(pool, DEBUG="true", DATABASE_URL=POSTGRES)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "{'min_size': 1, 'max_size': 10, 'timeout': 10}"
    result = _load_settings(pool, DEBUG="true", DATABASE_URL=POSTGRES, DB_POOL_MAX_SIZE="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "None"
    # SQLite: nothing to pool
    assert _load_settings(pool, DEBUG="true").stdout.strip() == "None"


def test_the_pool_and_persistent_connections_are_not_combined():
    result = _load_settings(DEBUG="true", DATABASE_URL=POSTGRES, DB_CONN_MAX_AGE="60")
    assert result.returncode != 0
    assert "DB_CONN_MAX_AGE and the connection pool exclude each other: set DB_POOL_MAX_SIZE=0" in result.stderr
