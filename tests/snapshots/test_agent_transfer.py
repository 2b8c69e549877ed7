"""The agent's transfer options fail clearly before doing any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from microstax.cli.main import main
from tests.snapshots_agent.pii import POLICY_YAML


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_YAML)
    return path


def test_capture_needs_an_output_or_an_upload(policy_file: Path, capsys) -> None:  # noqa: ANN001
    assert main(["snapshot-agent", "capture", "--dsn", "postgresql://x@127.0.0.1:1/db", "-p", str(policy_file)]) == 1
    assert "give --output FILE, --upload URL, or both" in capsys.readouterr().err


def test_an_upload_needs_a_token(policy_file: Path, monkeypatch, capsys) -> None:  # noqa: ANN001
    monkeypatch.delenv("MICROSTAX_SNAPSHOT_TOKEN", raising=False)
    code = main(
        ["snapshot-agent", "capture", "--dsn", "postgresql://x@127.0.0.1:1/db", "-p", str(policy_file),
         "--upload", "http://127.0.0.1:1/snapshots/snap_x/artifact"]
    )  # fmt: skip
    assert code == 1
    assert "MICROSTAX_SNAPSHOT_TOKEN" in capsys.readouterr().err


def test_a_refused_download_restores_nothing_and_says_why(live_server, monkeypatch, capsys, db) -> None:  # noqa: ANN001
    monkeypatch.setenv("MICROSTAX_SNAPSHOT_TOKEN", "msxsnap_not-a-valid-token")
    url = f"{live_server.url}/snapshots/snap_nothere/artifact"
    assert main(["snapshot-agent", "restore", "--dsn", "postgresql://x@127.0.0.1:1/db", "--input", url]) == 1
    err = capsys.readouterr().err
    assert "was refused: HTTP 403" in err and "invalid or expired transfer token" in err


def test_without_a_dsn_the_libpq_variables_are_used(monkeypatch) -> None:  # noqa: ANN001
    import argparse

    from microstax.cli.commands.snapshot_agent import _dsn

    for name in ("MICROSTAX_SNAPSHOT_DSN", "PGHOST", "PGPORT", "PGUSER", "PGDATABASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGHOST", "db")
    monkeypatch.setenv("PGPORT", "5432")
    monkeypatch.setenv("PGDATABASE", "shop")
    assert _dsn(argparse.Namespace(dsn=None)) == "host=db port=5432 dbname=shop"
