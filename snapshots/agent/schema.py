"""What the agent knows about a database's tables: a plain, engine-neutral description.

The engine reads it from the catalog (:mod:`snapshots.agent.postgres`); the policy validator and
the SQL compiler only consume it, so both stay pure and can be tested without a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_SCHEMA = "public"


class TypeFamily(StrEnum):
    """The coarse kind of a column's type, which decides which strategies can apply to it."""

    TEXT = "text"  # text, varchar, char, citext
    INTEGER = "integer"  # smallint, integer, bigint
    NUMERIC = "numeric"  # numeric, real, double precision, money
    DATE = "date"
    TIMESTAMP = "timestamp"  # timestamp with or without time zone
    UUID = "uuid"
    BYTES = "bytes"  # bytea
    INET = "inet"  # inet, cidr
    JSON = "json"  # json, jsonb
    ARRAY = "array"
    BOOLEAN = "boolean"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class Column:
    """One column: ``type`` is the SQL spelling (``character varying(40)``) used for casts.

    ``bits`` is the value width of integer columns (15, 31 or 63 without the sign bit);
    ``generated`` columns are recomputed by the database on restore and never copied.
    """

    name: str
    type: str
    family: TypeFamily
    not_null: bool = False
    bits: int | None = None
    generated: bool = False


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """``columns`` of the owning table reference ``ref_columns`` of ``ref_table`` (qualified)."""

    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """A table with the facts a sanitization policy is checked against."""

    schema: str
    name: str
    columns: tuple[Column, ...]
    unique: tuple[tuple[str, ...], ...] = ()  # primary key, unique constraints and unique indexes
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[str, ...] = ()
    estimated_rows: int = 0

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    def column(self, name: str) -> Column | None:
        for column in self.columns:
            if column.name == name:
                return column
        return None

    @property
    def copied_columns(self) -> tuple[Column, ...]:
        """Columns whose values travel in the artifact (generated ones are recomputed)."""
        return tuple(c for c in self.columns if not c.generated)


@dataclass(frozen=True, slots=True)
class Schema:
    """All user tables of a database, keyed by ``schema.table``."""

    tables: dict[str, Table] = field(default_factory=dict)

    def table(self, qualified: str) -> Table | None:
        return self.tables.get(qualified)


def qualify(name: str) -> str:
    """``customers`` → ``public.customers``; an already qualified name is kept.

    The first dot separates schema and table, so a table name may contain dots only when the
    schema is written out.
    """
    return name if "." in name else f"{DEFAULT_SCHEMA}.{name}"


def split_qualified(name: str) -> tuple[str, str]:
    schema, _, table = qualify(name).partition(".")
    return schema, table
