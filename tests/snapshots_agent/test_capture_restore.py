"""Capture → restore against a real PostgreSQL, checking what reached the artifact and the target."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from snapshots.agent import ArtifactError, ArtifactReader, CaptureResult, PolicyError, engine_for, parse_policy
from snapshots.agent.errors import EngineError
from snapshots.agent.sql import CITIES, FIRST_NAMES, LAST_NAMES
from tests.snapshots_agent.pii import POLICY_YAML, customer_rows, populate

CUSTOMERS = 120


@dataclass
class Snapshot:
    source: str
    target: str
    artifact: Path
    capture: CaptureResult


@pytest.fixture(scope="module")
def snapshot(make_database, tmp_path_factory) -> Snapshot:  # noqa: ANN001
    source, target = make_database("src"), make_database("dst")
    populate(source, CUSTOMERS)
    policy, problems = parse_policy(POLICY_YAML)
    assert policy is not None, problems
    artifact = tmp_path_factory.mktemp("snap") / "shop.msxsnap"
    result = engine_for(source).capture(policy, artifact, policy_text=POLICY_YAML)
    engine_for(target).restore(artifact)
    return Snapshot(source, target, artifact, result)


def rows(dsn: str, query: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchall()


def by_ref(dsn: str, columns: str) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in rows(dsn, f"SELECT ref, {columns} FROM customers")}


def test_row_counts_match_and_excluded_tables_keep_only_their_structure(snapshot: Snapshot) -> None:
    for table in ("customers", "accounts", "billing.invoices"):
        assert rows(snapshot.source, f"SELECT count(*) FROM {table}") == rows(
            snapshot.target, f"SELECT count(*) FROM {table}"
        )
    assert snapshot.capture.rows == {
        "public.customers": CUSTOMERS,
        "public.accounts": CUSTOMERS,
        "billing.invoices": 2 * CUSTOMERS,
    }
    assert rows(snapshot.target, "SELECT count(*) FROM audit_log") == [(0,)]


def test_no_original_pii_value_is_anywhere_in_the_artifact(snapshot: Snapshot) -> None:
    data = snapshot.artifact.read_bytes()
    originals = []
    for row in customer_rows(CUSTOMERS):
        originals += [
            row["email"],
            row["full_name"],
            row["address"],
            row["last_ip"],
            row["ref"].replace("c-", "user_c-"),
        ]
        originals += [v for v in (row["phone"], row["ssn"], row["city"], row["nickname"]) if v]
    leaked = [value for value in originals if value.encode() in data]
    assert leaked == []
    assert b"corp-mail" not in data and b"Realperson" not in data and b"Secretive" not in data


def test_every_rule_was_applied(snapshot: Snapshot) -> None:
    columns = "email, full_name, phone, ssn, birth_date, last_ip, address, city, nickname, email_lower"
    before, after = by_ref(snapshot.source, columns), by_ref(snapshot.target, columns)
    assert before.keys() == after.keys()
    for ref, (email, name, phone, ssn, born, ip, address, city, nickname, lower) in after.items():
        old = dict(zip(columns.split(", "), before[ref], strict=True))
        assert re.fullmatch(r"[a-z]+\.[a-z]+\.\d+@example\.invalid", email)
        assert lower == email  # generated column recomputed from the sanitized email
        first, last = name.split(" ")
        assert first in FIRST_NAMES and last in LAST_NAMES
        if old["phone"] is None:
            assert phone is None
        else:
            assert len(phone) == len(old["phone"]) and phone.endswith(old["phone"][-2:])
            assert set(phone[:-2]) == {"*"}
        assert ssn == (None if old["ssn"] is None else "REDACTED   ")  # char(11) pads
        if old["birth_date"] is None:
            assert born is None
        else:
            assert 0 < abs((born - old["birth_date"]).days) <= 60
        assert str(ip).startswith("10.")
        assert re.fullmatch(r"\d+ \w+ \w+", address)
        assert (city is None) == (old["city"] is None) and (city is None or city in CITIES)
        assert nickname is None
    emails = [values[0] for values in after.values()]
    assert len(set(emails)) == len(emails)


def test_keep_columns_are_byte_identical(snapshot: Snapshot) -> None:
    columns = "convert_to(notes, 'UTF8'), preferences::text, tags::text, created_at"
    assert by_ref(snapshot.source, columns) == by_ref(snapshot.target, columns)
    invoices = "SELECT id, amount, memo FROM billing.invoices ORDER BY id"
    assert rows(snapshot.source, invoices) == rows(snapshot.target, invoices)
    notes = {row[0] for row in rows(snapshot.target, "SELECT notes FROM customers WHERE notes IS NOT NULL")}
    assert any("\t" in n for n in notes) and any("\n" in n for n in notes) and any("\\" in n for n in notes)
    assert any("漢字 🙂" in n for n in notes)


def test_hashed_keys_still_join_across_tables(snapshot: Snapshot) -> None:
    # Each invoice reaches the same customer (by its kept ref) through hashed usernames and ids.
    query = """
        SELECT i.id, c.ref, c2.ref FROM billing.invoices i
        JOIN accounts a ON a.username = i.account_username
        JOIN customers c ON c.id = a.customer_id
        LEFT JOIN customers c2 ON c2.id = i.customer_id
        ORDER BY i.id
    """
    before, after = rows(snapshot.source, query), rows(snapshot.target, query)
    assert before == after and len(after) == 2 * CUSTOMERS
    assert any(row[2] is None for row in after)  # NULL foreign keys stayed NULL
    ids = rows(snapshot.target, "SELECT id FROM customers ORDER BY ref")
    assert ids != rows(snapshot.source, "SELECT id FROM customers ORDER BY ref")
    usernames = {row[0] for row in rows(snapshot.target, "SELECT username FROM accounts")}
    assert all(re.fullmatch(r"[0-9a-f]{32}", u) for u in usernames)


def test_constraints_indexes_and_sequences_are_restored(snapshot: Snapshot) -> None:
    constraints = """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint
                     WHERE connamespace::regnamespace::text IN ('public', 'billing') ORDER BY 1, 2"""
    indexes = (
        "SELECT schemaname, indexname, indexdef FROM pg_indexes WHERE schemaname IN ('public', 'billing') ORDER BY 2"
    )
    assert rows(snapshot.source, constraints) == rows(snapshot.target, constraints)
    assert rows(snapshot.source, indexes) == rows(snapshot.target, indexes)
    assert len(rows(snapshot.target, indexes)) >= 9
    sequence = "SELECT last_value FROM billing.invoices_id_seq"
    assert rows(snapshot.source, sequence) == rows(snapshot.target, sequence)
    with psycopg.connect(snapshot.target) as conn, pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("INSERT INTO accounts VALUES ('ghost', -1, 'pro')")


def test_the_manifest_describes_the_capture(snapshot: Snapshot) -> None:
    manifest = ArtifactReader.open(snapshot.artifact).manifest
    assert manifest["policy"]["name"] == "shop-dev" and len(manifest["policy"]["version"]) == 64
    assert "salt" not in str(manifest["policy"])
    tables = {f"{t['schema']}.{t['name']}": t for t in manifest["tables"]}
    assert tables["public.customers"]["rows"] == CUSTOMERS
    assert tables["public.customers"]["rules"]["email"] == "fake"
    assert "email_lower" not in tables["public.customers"]["columns"]
    assert tables["public.audit_log"]["captured"] is False
    assert set(manifest["members"]) >= {"schema-pre.sql", "schema-post.sql", "data/public.customers.copy"}
    sidecar = snapshot.artifact.with_name(snapshot.artifact.name + ".sha256").read_text()
    assert sidecar.split()[0] == snapshot.capture.sha256


def test_a_corrupted_artifact_is_refused_and_nothing_is_restored(snapshot: Snapshot, make_database, tmp_path) -> None:  # noqa: ANN001
    target = make_database("corrupt")
    corrupted = tmp_path / "corrupt.msxsnap"
    data = bytearray(snapshot.artifact.read_bytes())
    data[len(data) // 2] ^= 0x01
    corrupted.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum"):
        engine_for(target).restore(corrupted)
    assert rows(target, "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace") == [(0,)]


def test_restore_refuses_a_database_that_is_not_empty(snapshot: Snapshot) -> None:
    with pytest.raises(EngineError, match="not empty"):
        engine_for(snapshot.target).restore(snapshot.artifact)


def test_policy_errors_are_reported_before_any_work(make_database, tmp_path) -> None:  # noqa: ANN001
    source = make_database("bad")
    populate(source, 5)
    text = POLICY_YAML + (
        "  - {table: customers, column: full_name, strategy: nullify}\n"
        "  - {table: customers, column: missing, strategy: keep}\n"
        "  - {table: customers, column: ref, strategy: fake, kind: city}\n"
    )
    policy, _ = parse_policy(text)
    assert policy is not None
    output = tmp_path / "never.msxsnap"
    with pytest.raises(PolicyError) as caught:
        engine_for(source).capture(policy, output, policy_text=text)
    assert {p.code for p in caught.value.problems if p.severity == "error"} >= {"MSX-S011", "MSX-S013", "MSX-S015"}
    assert not output.exists() and not list(tmp_path.iterdir())


def test_a_value_the_database_rejects_is_a_policy_error(make_database, tmp_path) -> None:  # noqa: ANN001
    source = make_database("cast")
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (n integer)")
    policy, _ = parse_policy("name: p\nrules:\n  - {table: t, column: n, strategy: redact, value: nine}\n")
    assert policy is not None
    with pytest.raises(PolicyError) as caught:
        engine_for(source).capture(policy, tmp_path / "x.msxsnap")
    assert [p.code for p in caught.value.problems] == ["MSX-S022"]


def test_strict_mode_refuses_unruled_pii(make_database, tmp_path) -> None:  # noqa: ANN001
    source = make_database("strict")
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE people (id serial PRIMARY KEY, home_address text, shoe_size int)")
    policy, _ = parse_policy("name: p\nsalt: s3cr3t-s4lt\nstrict: true\n")
    assert policy is not None
    with pytest.raises(PolicyError) as caught:
        engine_for(source).capture(policy, tmp_path / "x.msxsnap")
    assert [(p.code, p.message.split(" ")[0]) for p in caught.value.problems] == [
        ("MSX-S019", "public.people.home_address")
    ]
