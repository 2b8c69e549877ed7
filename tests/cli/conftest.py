"""Fixtures for the CLI against a live server: run the CLI in-process, tokens, blueprint files."""

from __future__ import annotations

import pytest

from microstax.cli.main import main
from microstax.teams import actions


@pytest.fixture
def cli(live_server, transactional_db, capsys, monkeypatch):
    """Run ``microstax ARGV`` against the live server; returns (exit code, stdout, stderr)."""

    def run(*argv: str, token: str | None = None) -> tuple[int, str, str]:
        monkeypatch.setenv("MICROSTAX_API_URL", live_server.url)
        if token is not None:
            monkeypatch.setenv("MICROSTAX_API_KEY", token)
        code = main(list(argv))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def owner_token(team, owner):
    return actions.create_api_token(actor=owner, name="cli")[1]


@pytest.fixture
def viewer_token(team, viewer):
    return actions.create_api_token(actor=viewer, name="cli")[1]


@pytest.fixture
def blueprint(tmp_path):
    """Write blueprint text to a file and return its path."""

    def write(text: str, name: str = "blueprint.yaml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write
