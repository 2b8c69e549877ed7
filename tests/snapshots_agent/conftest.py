"""Databases for the snapshot agent tests: uniquely named, created and dropped on the local server.

These are plain pytest tests (no Django database); they talk to PostgreSQL on 127.0.0.1:5432
with psycopg directly and skip when no server answers there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

SERVER = "postgresql://postgres@127.0.0.1:5432/"


@pytest.fixture(scope="session")
def admin_dsn() -> str:
    try:
        with psycopg.connect(SERVER + "postgres", connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL at {SERVER}: {exc}")
    return SERVER + "postgres"


@pytest.fixture(scope="module")
def make_database(admin_dsn: str) -> Iterator[Callable[[str], str]]:
    """A factory: ``make_database("src")`` creates an empty database and returns its DSN."""
    created: list[str] = []

    def make(label: str) -> str:
        name = f"msx_agent_{label}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        created.append(name)
        return SERVER + name

    yield make
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for name in created:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
