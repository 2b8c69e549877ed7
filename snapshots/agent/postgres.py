"""The PostgreSQL engine: schema from the catalog, capture by sanitizing COPY, restore by COPY.

Capture holds one ``REPEATABLE READ READ ONLY`` transaction and exports its snapshot, so the
schema read, ``pg_dump``'s DDL, every table's rows and the sequence values are one consistent
picture. DDL comes from ``pg_dump --section=pre-data`` (tables, types, functions…) and
``--section=post-data`` (constraints, indexes, triggers, foreign keys), taken without owners and
privileges so it restores into any database. Rows come from ``COPY (SELECT <sanitized
projection> FROM ONLY t) TO STDOUT``: the server applies the rules while it streams.

Restore runs in a single transaction — pre-data, ``COPY … FROM STDIN`` per table, post-data,
sequence values — so a failure anywhere leaves the target database as it was.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo

from snapshots.agent.artifact import (
    FORMAT,
    FORMAT_VERSION,
    SCHEMA_POST,
    SCHEMA_PRE,
    ArtifactReader,
    ArtifactWriter,
    data_member,
)
from snapshots.agent.errors import EngineError
from snapshots.agent.policy import Policy, PolicyError, PolicyProblem, validate_against_schema
from snapshots.agent.schema import Column, ForeignKey, Schema, Table, TypeFamily
from snapshots.agent.sql import Keys, copy_in_statement, copy_out_statement, qualified_name, select_query

# Settings that make COPY text and every ``value::text`` (which keys hashes and fakes) the same
# whatever the server's or role's defaults are.
SESSION_SETTINGS = (
    "SET search_path = pg_catalog",
    "SET DateStyle = 'ISO, YMD'",
    "SET IntervalStyle = 'postgres'",
    "SET TimeZone = 'UTC'",
    "SET extra_float_digits = 3",
    "SET standard_conforming_strings = on",
    "SET client_encoding = 'UTF8'",
)
SYSTEM_SCHEMAS = "('pg_catalog', 'information_schema')"

_INTEGER_BITS = {"int2": 15, "int4": 31, "int8": 63}
_FAMILIES = {
    "text": TypeFamily.TEXT, "varchar": TypeFamily.TEXT, "bpchar": TypeFamily.TEXT, "citext": TypeFamily.TEXT,
    "name": TypeFamily.TEXT, "int2": TypeFamily.INTEGER, "int4": TypeFamily.INTEGER, "int8": TypeFamily.INTEGER,
    "numeric": TypeFamily.NUMERIC, "float4": TypeFamily.NUMERIC, "float8": TypeFamily.NUMERIC,
    "money": TypeFamily.NUMERIC, "date": TypeFamily.DATE, "timestamp": TypeFamily.TIMESTAMP,
    "timestamptz": TypeFamily.TIMESTAMP, "uuid": TypeFamily.UUID, "bytea": TypeFamily.BYTES,
    "inet": TypeFamily.INET, "cidr": TypeFamily.INET, "json": TypeFamily.JSON, "jsonb": TypeFamily.JSON,
    "bool": TypeFamily.BOOLEAN,
}  # fmt: skip

_TABLES_SQL = f"""
SELECT c.oid, n.nspname, c.relname, greatest(c.reltuples, 0)::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN {SYSTEM_SCHEMAS} AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
ORDER BY n.nspname, c.relname
"""
_COLUMNS_SQL = """
SELECT a.attrelid, a.attnum, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       a.attgenerated <> '', base.typname, base.typcategory
FROM pg_attribute a
JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type base ON base.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""
_UNIQUE_SQL = """
SELECT i.indrelid, i.indkey::int2[] FROM pg_index i
WHERE i.indrelid = ANY(%s) AND i.indisunique AND NOT (0 = ANY(i.indkey::int2[]))
"""
_FOREIGN_KEYS_SQL = """
SELECT con.conrelid, con.conname, con.conkey, rn.nspname || '.' || rc.relname, con.confrelid, con.confkey
FROM pg_constraint con
JOIN pg_class rc ON rc.oid = con.confrelid JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype = 'f' AND con.conrelid = ANY(%s)
ORDER BY con.conname
"""
_INDEXES_SQL = """
SELECT i.indrelid, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = ANY(%s) ORDER BY c.relname
"""
_SEQUENCES_SQL = f"""
SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'S' AND n.nspname NOT IN {SYSTEM_SCHEMAS} AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
ORDER BY 1, 2
"""


@dataclass
class CaptureResult:
    """What a capture wrote: the artifact, its checksum and the rows per table."""

    path: str
    sha256: str
    rows: dict[str, int]
    bytes: int
    seconds: float
    warnings: list[PolicyProblem] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass
class RestoreResult:
    """What a restore loaded."""

    rows: dict[str, int]
    seconds: float

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _connect(dsn: str) -> psycopg.Connection:
    try:
        conn = psycopg.connect(dsn, autocommit=True)
    except psycopg.Error as exc:
        raise EngineError(f"cannot connect to the database: {_first_line(exc)}") from None
    for statement in SESSION_SETTINGS:
        conn.execute(statement)
    return conn


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def read_schema(conn: psycopg.Connection) -> Schema:
    """Tables, columns and types, NOT NULL, unique keys, foreign keys and indexes from the catalog."""
    tables = conn.execute(_TABLES_SQL).fetchall()
    oids = [row[0] for row in tables]
    columns: dict[int, dict[int, Column]] = {oid: {} for oid in oids}
    for relid, attnum, name, type_, not_null, generated, base, category in conn.execute(_COLUMNS_SQL, [oids]):
        family = TypeFamily.ARRAY if category == "A" else _FAMILIES.get(base, TypeFamily.OTHER)
        columns[relid][attnum] = Column(name, type_, family, not_null, _INTEGER_BITS.get(base), generated)
    unique: dict[int, list[tuple[str, ...]]] = {oid: [] for oid in oids}
    for relid, keys in conn.execute(_UNIQUE_SQL, [oids]):
        unique[relid].append(tuple(columns[relid][k].name for k in keys))
    foreign: dict[int, list[ForeignKey]] = {oid: [] for oid in oids}
    ref_columns: dict[int, dict[int, str]] = {}
    for relid, name, keys, ref_table, ref_oid, ref_keys in conn.execute(_FOREIGN_KEYS_SQL, [oids]):
        if ref_oid not in columns and ref_oid not in ref_columns:
            ref_columns[ref_oid] = dict(
                conn.execute("SELECT attnum, attname FROM pg_attribute WHERE attrelid = %s", [ref_oid]).fetchall()
            )
        names = columns.get(ref_oid) or {}
        ref_names = tuple(names[k].name if k in names else ref_columns[ref_oid][k] for k in ref_keys)
        foreign[relid].append(ForeignKey(name, tuple(columns[relid][k].name for k in keys), ref_table, ref_names))
    indexes: dict[int, list[str]] = {oid: [] for oid in oids}
    for relid, name in conn.execute(_INDEXES_SQL, [oids]):
        indexes[relid].append(name)
    schema = Schema()
    for oid, namespace, name, estimate in tables:
        schema.tables[f"{namespace}.{name}"] = Table(
            namespace,
            name,
            tuple(columns[oid].values()),
            tuple(unique[oid]),
            tuple(foreign[oid]),
            tuple(indexes[oid]),
            int(estimate),
        )
    return schema


def check_queries(conn: psycopg.Connection, schema: Schema, policy: Policy) -> list[PolicyProblem]:
    """Plan every sanitizing query: bad literals (a ``redact`` value that is not of the column's
    type) and missing functions surface here, before any data is read."""
    problems = []
    keys = Keys(policy.effective_salt)
    for name in sorted(schema.tables):
        if not policy.includes(name):
            continue
        table = schema.tables[name]
        try:
            with conn.transaction():  # a savepoint: a failed plan must not end the snapshot
                conn.execute("EXPLAIN " + select_query(table, policy.rules_for(name), keys))
        except psycopg.Error as exc:
            problems.append(PolicyProblem("MSX-S022", "error", f"{name}: {_first_line(exc)}", "rules"))
    return problems


def _dump_environment(dsn: str) -> tuple[str, dict[str, str]]:
    """A connection string for pg_dump without the password (which goes through the environment,
    so it never shows in the process list)."""
    try:
        params = conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise EngineError(f"invalid DSN: {_first_line(exc)}") from None
    env = dict(os.environ)
    password = params.pop("password", None)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return conninfo.make_conninfo(**{k: str(v) for k, v in params.items()}), env


def _pg_dump(dsn: str, snapshot: str, section: str) -> bytes:
    binary = shutil.which("pg_dump")
    if binary is None:
        raise EngineError("pg_dump not found; install the PostgreSQL client (Debian: postgresql-client)")
    target, env = _dump_environment(dsn)
    command = [
        binary, f"--dbname={target}", f"--section={section}", f"--snapshot={snapshot}", "--no-owner",
        "--no-privileges", "--no-publications", "--no-subscriptions", "--encoding=UTF8",
    ]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, check=False)
    if result.returncode != 0:
        raise EngineError(f"pg_dump --section={section} failed: {result.stderr.decode(errors='replace').strip()}")
    return _strip_meta_commands(result.stdout)


def _strip_meta_commands(script: bytes) -> bytes:
    # pg_dump ≥ 15.14 wraps plain output in psql's \restrict … \unrestrict (a guard against
    # meta-commands injected through object names). The agent runs the script through the
    # protocol, not psql, so the lines are dropped; nothing else in DDL sections starts with \.
    lines = script.split(b"\n")
    return b"\n".join(line for line in lines if not line.startswith((b"\\restrict ", b"\\unrestrict ")))


def _sequences(conn: psycopg.Connection) -> list[dict[str, Any]]:
    out = []
    for namespace, name in conn.execute(_SEQUENCES_SQL).fetchall():
        value, called = conn.execute(f"SELECT last_value, is_called FROM {qualified_name(namespace, name)}").fetchone()
        out.append({"schema": namespace, "name": name, "value": int(value), "isCalled": bool(called)})
    return out


class PostgresEngine:
    """Capture and restore for PostgreSQL 11+ (``sha256`` and ``hash*extended`` are built in)."""

    name = "postgresql"

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def validate(self, policy: Policy, *, policy_text: str | None = None) -> list[PolicyProblem]:
        """Every problem of ``policy`` against the live schema, including query planning."""
        with _connect(self.dsn) as conn:
            schema = read_schema(conn)
            problems = validate_against_schema(policy, schema, text=policy_text)
            if not any(p.severity == "error" for p in problems):
                problems += check_queries(conn, schema, policy)
            return problems

    def capture(
        self, policy: Policy, output: str | os.PathLike[str], *, policy_text: str | None = None
    ) -> CaptureResult:
        """Write a sanitized artifact of the database to ``output``.

        The policy is checked against the schema inside the capture's snapshot; any error raises
        :class:`PolicyError` before the output file is created.
        """
        started = time.perf_counter()
        with _connect(self.dsn) as conn:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
            schema = read_schema(conn)
            problems = validate_against_schema(policy, schema, text=policy_text)
            if not any(p.severity == "error" for p in problems):
                problems += check_queries(conn, schema, policy)
            if any(p.severity == "error" for p in problems):
                raise PolicyError(problems)
            pre = _pg_dump(self.dsn, snapshot, "pre-data")
            post = _pg_dump(self.dsn, snapshot, "post-data")
            keys = Keys(policy.effective_salt)
            rows: dict[str, int] = {}
            tables: list[dict[str, Any]] = []
            try:
                with ArtifactWriter(output) as artifact:
                    artifact.add(SCHEMA_PRE, pre)
                    for name in sorted(schema.tables):
                        table = schema.tables[name]
                        entry = self._table_entry(table, policy)
                        tables.append(entry)
                        if not entry["captured"]:
                            continue
                        member = artifact.member(entry["member"])
                        rules = policy.rules_for(name) if policy.sanitized else {}
                        with conn.cursor().copy(copy_out_statement(table, rules, keys)) as copy:
                            for chunk in copy:
                                member.write(chunk)
                        artifact.record(member)
                        # Text COPY escapes newlines inside values, so each newline ends a row.
                        rows[name] = entry["rows"] = member.lines
                    artifact.add(SCHEMA_POST, post)
                    manifest = self._manifest(conn, policy, tables, _sequences(conn))
                    digest = artifact.finish(manifest)
            except psycopg.Error as exc:
                raise EngineError(f"capture failed: {_first_line(exc)}") from None
            conn.execute("COMMIT")
        size = Path(output).stat().st_size
        warnings = [p for p in problems if p.severity == "warning"]
        return CaptureResult(str(output), digest, rows, size, time.perf_counter() - started, warnings)

    @staticmethod
    def _table_entry(table: Table, policy: Policy) -> dict[str, Any]:
        rules = policy.rules_for(table.qualified)
        return {
            "schema": table.schema,
            "name": table.name,
            "columns": [c.name for c in table.copied_columns],
            "captured": policy.includes(table.qualified),
            "member": data_member(table.schema, table.name),
            "rows": 0,
            "rules": {column: rule.strategy for column, rule in sorted(rules.items())} if policy.sanitized else {},
        }

    def _manifest(
        self, conn: psycopg.Connection, policy: Policy, tables: list[dict[str, Any]], sequences: list[dict[str, Any]]
    ) -> dict[str, Any]:
        for entry in tables:
            if not entry["captured"]:
                del entry["member"]
        return {
            "format": FORMAT,
            "formatVersion": FORMAT_VERSION,
            "engine": {"name": self.name, "serverVersion": conn.info.server_version},
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "policy": {"name": policy.name, "version": policy.version, "strict": policy.strict},
            "sanitized": policy.sanitized,
            "tables": tables,
            "sequences": sequences,
        }

    def restore(self, artifact: str | os.PathLike[str]) -> RestoreResult:
        """Load an artifact into an empty database, all or nothing.

        The checksum is verified before connecting; each member's checksum and each table's row
        count are checked again while loading, and any mismatch rolls everything back.
        """
        started = time.perf_counter()
        reader = ArtifactReader.open(artifact)
        engine = reader.manifest.get("engine", {}).get("name")
        if engine != self.name:
            raise EngineError(f"the artifact was captured from {engine}, not {self.name}")
        rows: dict[str, int] = {}
        with _connect(self.dsn) as conn:
            existing = conn.execute(_TABLES_SQL).fetchall()
            if existing:
                names = ", ".join(f"{row[1]}.{row[2]}" for row in existing[:3])
                raise EngineError(f"the target database is not empty ({names}…); restore needs a fresh database")
            try:
                with conn.transaction():
                    conn.execute(reader.read(SCHEMA_PRE).decode())
                    # The dump may have set its own client encoding; the COPY data is UTF-8.
                    conn.execute("SET client_encoding = 'UTF8'")
                    for entry in reader.manifest["tables"]:
                        if entry["captured"]:
                            rows[f"{entry['schema']}.{entry['name']}"] = self._load(conn, reader, entry)
                    conn.execute(reader.read(SCHEMA_POST).decode())
                    for sequence in reader.manifest.get("sequences", []):
                        conn.execute(
                            "SELECT pg_catalog.setval(%s::regclass, %s, %s)",
                            [
                                qualified_name(sequence["schema"], sequence["name"]),
                                sequence["value"],
                                sequence["isCalled"],
                            ],
                        )
            except psycopg.Error as exc:
                raise EngineError(f"restore failed, nothing was kept: {_first_line(exc)}") from None
        return RestoreResult(rows, time.perf_counter() - started)

    @staticmethod
    def _load(conn: psycopg.Connection, reader: ArtifactReader, entry: dict[str, Any]) -> int:
        with conn.cursor() as cursor:
            with cursor.copy(copy_in_statement(entry["schema"], entry["name"], entry["columns"])) as copy:
                for chunk in reader.chunks(entry["member"]):
                    copy.write(chunk)
            loaded = cursor.rowcount
        if loaded != entry["rows"]:
            raise EngineError(
                f"{entry['schema']}.{entry['name']}: loaded {loaded} rows, the manifest says {entry['rows']}"
            )
        return loaded
