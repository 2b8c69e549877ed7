"""``microstax snapshot-agent validate|capture|restore`` through the real argument parser."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from microstax.cli.main import main
from tests.snapshots_agent.pii import POLICY_YAML, populate


@pytest.fixture(scope="module")
def source(make_database) -> str:  # noqa: ANN001
    dsn = make_database("cli")
    populate(dsn, 10)
    return dsn


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY_YAML)
    return path


def test_validate_accepts_a_policy_that_fits(source: str, policy_file: Path, capsys) -> None:  # noqa: ANN001
    assert main(["snapshot-agent", "validate", "--dsn", source, "--policy", str(policy_file)]) == 0
    assert "policy shop-dev can be applied" in capsys.readouterr().out


def test_validate_reports_problems_at_their_lines(source: str, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    path = tmp_path / "bad.yaml"
    path.write_text(POLICY_YAML + "  - {table: customers, column: ssn, strategy: nullify, keepLast: 2}\n")
    assert main(["snapshot-agent", "validate", "--dsn", source, "-p", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:23:56:" in err and "MSX-S002" in err and "keepLast" in err
    assert "Traceback" not in err


def test_capture_then_restore_through_the_cli(
    source: str, policy_file: Path, make_database, tmp_path, capsys, monkeypatch
) -> None:  # noqa: ANN001, E501
    artifact = tmp_path / "snap.msxsnap"
    assert (
        main(
            ["snapshot-agent", "capture", "--dsn", source, "-p", str(policy_file), "--output", str(artifact), "--json"]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"]["public.customers"] == 10 and summary["artifact"] == str(artifact)
    target = make_database("clidst")
    monkeypatch.setenv("MICROSTAX_SNAPSHOT_DSN", target)  # as inside a Job, from a Secret
    assert main(["snapshot-agent", "restore", "--input", str(artifact)]) == 0
    assert "restored 3 table(s), 40 row(s)" in capsys.readouterr().out
    with psycopg.connect(target) as conn:
        assert conn.execute("SELECT count(*) FROM billing.invoices").fetchone() == (20,)


def test_the_salt_can_come_from_the_environment(source: str, tmp_path: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    policy = tmp_path / "p.yaml"
    policy.write_text(
        "name: p\nrules:\n  - {table: accounts, column: username, strategy: hash}\n"
        "  - {table: billing.invoices, column: account_username, strategy: hash}\n"
    )
    assert main(["snapshot-agent", "validate", "--dsn", source, "-p", str(policy)]) == 0
    assert "MSX-S020" in capsys.readouterr().err
    monkeypatch.setenv("MICROSTAX_SNAPSHOT_SALT", "from-a-secret")
    assert main(["snapshot-agent", "validate", "--dsn", source, "-p", str(policy)]) == 0
    assert "MSX-S020" not in capsys.readouterr().err


def test_failures_are_one_line_errors_without_traceback(tmp_path: Path, policy_file: Path, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("MICROSTAX_SNAPSHOT_DSN", raising=False)
    monkeypatch.delenv("PGHOST", raising=False)
    monkeypatch.delenv("PGDATABASE", raising=False)
    assert main(["snapshot-agent", "restore", "--input", str(tmp_path / "x")]) == 1
    assert capsys.readouterr().err == (
        "error: no database given: pass --dsn, set MICROSTAX_SNAPSHOT_DSN, or set PGHOST/PGDATABASE\n"
    )
    junk = tmp_path / "junk.msxsnap"
    junk.write_bytes(b"MSXSNAP1\n" + b"\0" * 200)
    assert (
        main(["snapshot-agent", "restore", "--dsn", "postgresql://postgres@127.0.0.1/postgres", "--input", str(junk)])
        == 1
    )
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    assert (
        main(
            [
                "snapshot-agent",
                "capture",
                "--dsn",
                "postgresql://postgres@127.0.0.1:1/none",
                "-p",
                str(policy_file),
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    assert capsys.readouterr().err.startswith("error: cannot connect to the database")
    assert main(["snapshot-agent", "validate", "--dsn", "mysql://root@db/app", "-p", str(policy_file)]) == 1
    assert "MySQL snapshots are not supported yet" in capsys.readouterr().err
