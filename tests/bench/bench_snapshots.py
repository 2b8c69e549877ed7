"""Benchmark: sanitized capture + restore against plain ``pg_dump -Fc`` + ``pg_restore``.

Run with ``.venv/bin/python tests/bench/bench_snapshots.py`` (PostgreSQL on 127.0.0.1:5432, user
postgres, trust auth; ``--server`` to change). It generates 1,000,000 rows server-side across three
related tables full of PII (250k customers, 250k accounts, 500k orders, with FKs, unique keys and
indexes), then, once each and side by side:

* raw: ``pg_dump -Fc`` of the source and ``pg_restore`` into a fresh database;
* sanitized: ``microstax snapshot-agent``'s capture (a policy with hash — including integer keys
  and foreign keys —, fake, mask, redact and nullify rules) and restore into a fresh database.

It prints wall-clock times, rows/s and the sanitized/raw ratio (target ≤ 1.5), checks that the
sanitized restore has every row and still joins, drops every database it made, and exits 1 when
the target is missed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import psycopg  # noqa: E402

from snapshots.agent import engine_for, parse_policy  # noqa: E402

TARGET_RATIO = 1.5
CUSTOMERS, ORDERS = 250_000, 500_000

SCHEMA = """
CREATE TABLE customers (
    id integer PRIMARY KEY, email text NOT NULL UNIQUE, full_name text NOT NULL, phone text, ssn text,
    birth_date date, address text, city text, nickname text, notes text, created_at timestamptz NOT NULL
);
CREATE TABLE accounts (
    username text PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers (id), plan text NOT NULL
);
CREATE TABLE orders (
    id bigint PRIMARY KEY, customer_id integer NOT NULL REFERENCES customers (id), amount numeric(10, 2) NOT NULL,
    shipping_address text, status text NOT NULL, created_at timestamptz NOT NULL
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE INDEX customers_city_idx ON customers (city);
"""
FILL = f"""
INSERT INTO customers SELECT g, 'person' || g || '@corp.example.com', 'Given' || g || ' Family' || (g % 977),
    '+44 20 7946 ' || lpad((g % 10000)::text, 4, '0'), lpad((g % 999)::text, 3, '0') || '-' || (g % 89 + 10) || '-1234',
    date '1950-01-01' + (g % 20000), g || ' Long Secretive Road', 'Town' || (g % 5000),
    CASE WHEN g % 3 = 0 THEN NULL ELSE 'nick' || g END,
    CASE WHEN g % 4 = 0 THEN NULL ELSE E'note\\twith tab ' || g END, timestamptz '2020-01-01' + g * interval '1 minute'
FROM generate_series(1, {CUSTOMERS}) g;
INSERT INTO accounts SELECT 'user' || g, g, CASE WHEN g % 2 = 0 THEN 'pro' ELSE 'free' END
FROM generate_series(1, {CUSTOMERS}) g;
INSERT INTO orders SELECT g, (1 + (g::bigint * 7919) % {CUSTOMERS})::integer, (g % 100000) / 100.0,
    g || ' Delivery Street', (ARRAY['new', 'paid', 'shipped'])[1 + g % 3],
    timestamptz '2021-01-01' + g * interval '1 second'
FROM generate_series(1, {ORDERS}) g;
ANALYZE;
"""
POLICY = """\
name: bench
salt: bench-salt-7f3a9c
strict: true
rules:
  - {table: customers, column: id, strategy: hash}
  - {table: customers, column: email, strategy: fake, kind: email}
  - {table: customers, column: full_name, strategy: fake, kind: name}
  - {table: customers, column: phone, strategy: mask, keepLast: 2}
  - {table: customers, column: ssn, strategy: redact}
  - {table: customers, column: birth_date, strategy: fake, kind: date, days: 90}
  - {table: customers, column: address, strategy: fake, kind: address}
  - {table: customers, column: city, strategy: fake, kind: city}
  - {table: customers, column: nickname, strategy: nullify}
  - {table: accounts, column: username, strategy: hash}
  - {table: accounts, column: customer_id, strategy: hash}
  - {table: orders, column: customer_id, strategy: hash}
  - {table: orders, column: shipping_address, strategy: fake, kind: address}
"""


def run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/")
    args = parser.parse_args()
    for tool in ("pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found; install postgresql-client")
    suffix = uuid.uuid4().hex[:8]
    names = {role: f"msx_bench_{role}_{suffix}" for role in ("src", "raw", "clean")}
    dsn = {role: args.server + name for role, name in names.items()}
    admin = psycopg.connect(args.server + "postgres", autocommit=True)
    workdir = Path(tempfile.mkdtemp(prefix="msx-bench-"))
    try:
        for name in names.values():
            admin.execute(f'CREATE DATABASE "{name}"')
        started = time.perf_counter()
        with psycopg.connect(dsn["src"], autocommit=True) as conn:
            conn.execute(SCHEMA)
            conn.execute(FILL)
            conn.execute("CHECKPOINT")
            total = sum(
                conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("customers", "accounts", "orders")
            )
            size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
        print(f"generated {total:,} rows ({size}) in {time.perf_counter() - started:.1f}s")

        dump = workdir / "raw.dump"
        t0 = time.perf_counter()
        run(["pg_dump", "-Fc", "-f", str(dump), f"--dbname={dsn['src']}"])
        t1 = time.perf_counter()
        run(["pg_restore", "--no-owner", f"--dbname={dsn['raw']}", str(dump)])
        t2 = time.perf_counter()
        raw_dump, raw_restore = t1 - t0, t2 - t1

        policy, problems = parse_policy(POLICY)
        assert policy is not None, problems
        artifact = workdir / "clean.msxsnap"
        t0 = time.perf_counter()
        captured = engine_for(dsn["src"]).capture(policy, artifact, policy_text=POLICY)
        t1 = time.perf_counter()
        restored = engine_for(dsn["clean"]).restore(artifact)
        t2 = time.perf_counter()
        clean_capture, clean_restore = t1 - t0, t2 - t1
        assert captured.total_rows == restored.total_rows == total, (captured.rows, restored.rows)
        with psycopg.connect(dsn["clean"]) as conn:
            joined = conn.execute(
                "SELECT count(*) FROM orders o JOIN customers c ON c.id = o.customer_id "
                "JOIN accounts a ON a.customer_id = c.id"
            ).fetchone()[0]
        assert joined == ORDERS, joined

        raw, clean = raw_dump + raw_restore, clean_capture + clean_restore
        ratio = clean / raw
        print(f"{'':28}{'dump/capture':>14}{'restore':>10}{'total':>10}{'rows/s':>12}{'size':>10}")
        print(
            f"{'pg_dump -Fc + pg_restore':28}{raw_dump:>13.2f}s{raw_restore:>9.2f}s{raw:>9.2f}s"
            f"{total / raw:>12,.0f}{dump.stat().st_size / 2**20:>8.0f}MB"
        )
        print(
            f"{'sanitized capture+restore':28}{clean_capture:>13.2f}s{clean_restore:>9.2f}s{clean:>9.2f}s"
            f"{total / clean:>12,.0f}{artifact.stat().st_size / 2**20:>8.0f}MB"
        )
        print(f"ratio sanitized/raw: {ratio:.2f} (target ≤ {TARGET_RATIO})")
        return 0 if ratio <= TARGET_RATIO else 1
    finally:
        for name in names.values():
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
