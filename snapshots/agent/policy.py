"""Sanitization policies: parsing the YAML file and checking it against a captured schema.

A policy file looks like::

    name: shop-dev
    salt: 4f1c…            # optional; MICROSTAX_SNAPSHOT_SALT may supply it instead
    strict: true           # refuse capture when PII-looking columns have no rule
    tables:
      include: ["*", "billing.*"]      # shell-style patterns on schema.table (schema defaults to public)
      exclude: ["audit_*"]
    rules:
      - {table: customers, column: email, strategy: fake, kind: email}
      - {table: customers, column: phone, strategy: mask, keepLast: 2}
      - {table: orders, column: customer_email, strategy: hash}

Tables that are not included (or are excluded) keep their structure in the artifact but carry no
rows. Everything here is pure: :func:`parse_policy` turns text into a :class:`Policy` or
:class:`PolicyProblem` s with file positions, and :func:`validate_against_schema` reports every
reason the policy cannot be applied to a database *before* any data is read.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from blueprints.parsing import parse_yaml, scalar_text
from snapshots.agent.errors import SnapshotAgentError
from snapshots.agent.schema import Column, Schema, Table, TypeFamily, qualify

Severity = Literal["error", "warning"]

CODES: dict[str, str] = {
    "MSX-S001": "policy is not valid YAML or not a mapping",
    "MSX-S002": "unknown field",
    "MSX-S003": "invalid value",
    "MSX-S004": "required field missing",
    "MSX-S010": "rule on an unknown table",
    "MSX-S011": "rule on an unknown column",
    "MSX-S012": "rule on a table whose data is not captured",
    "MSX-S013": "more than one rule for a column",
    "MSX-S014": "nullify on a NOT NULL column",
    "MSX-S015": "rule would break a unique constraint",
    "MSX-S016": "strategy does not apply to the column's type",
    "MSX-S017": "foreign key columns sanitized differently",
    "MSX-S018": "foreign key to a table whose data is not captured",
    "MSX-S019": "PII-looking column without a rule",
    "MSX-S020": "no salt for hash or fake",
    "MSX-S021": "rule on a generated column",
    "MSX-S022": "sanitizing query rejected by the database",
}


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One reason a policy cannot be used as written; ``path`` is like ``rules[2].keepLast``."""

    code: str
    severity: Severity
    message: str
    path: str = ""
    line: int | None = None
    column: int | None = None

    def format(self, filename: str = "policy") -> str:
        where = filename if self.line is None else f"{filename}:{self.line}:{self.column}"
        suffix = f" [{self.path}]" if self.path else ""
        return f"{where}: {self.code} {self.severity}: {self.message}{suffix}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "path": self.path,
            "line": self.line,
            "column": self.column,
        }


class PolicyError(SnapshotAgentError):
    """A policy that cannot be applied; carries every problem found (errors and warnings)."""

    def __init__(self, problems: list[PolicyProblem], filename: str = "policy") -> None:
        self.problems = problems
        self.filename = filename
        errors = [p for p in problems if p.severity == "error"]
        super().__init__(f"{filename}: {len(errors)} policy error(s); first: {errors[0].message}" if errors else "")


# --- the model ---------------------------------------------------------------------------------


class _Model(BaseModel):
    # Unknown keys are errors (a misspelt `keepLst` must not silently keep the whole value).
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True)


class _RuleBase(_Model):
    table: str = Field(min_length=1)
    column: str = Field(min_length=1)

    @property
    def qualified_table(self) -> str:
        return qualify(self.table)


class MaskRule(_RuleBase):
    """Keep the length and the first/last characters, replace the rest with ``mask_char``."""

    strategy: Literal["mask"]
    keep_first: int = Field(default=0, ge=0, le=64)
    keep_last: int = Field(default=0, ge=0, le=64)
    mask_char: str = Field(default="*", min_length=1, max_length=1)


class HashRule(_RuleBase):
    """Deterministic keyed hash; injective in practice, so unique keys and joins survive."""

    strategy: Literal["hash"]


FakeKind = Literal["name", "first_name", "last_name", "email", "phone", "address", "city", "ip", "date"]


class FakeRule(_RuleBase):
    """Deterministic realistic value chosen by a keyed hash of the original."""

    strategy: Literal["fake"]
    kind: FakeKind
    days: int | None = Field(default=None, ge=1, le=36500, description="date shift window (kind date)")

    @model_validator(mode="after")
    def _days_only_for_dates(self) -> FakeRule:
        if self.days is not None and self.kind != "date":
            raise ValueError("days applies only to kind: date")
        return self

    @property
    def window(self) -> int:
        return self.days or 30


class RedactRule(_RuleBase):
    """Every non-NULL value becomes ``value`` (NULLs stay NULL)."""

    strategy: Literal["redact"]
    value: str | None = None


class NullifyRule(_RuleBase):
    strategy: Literal["nullify"]


class KeepRule(_RuleBase):
    """Copy the value unchanged (an explicit decision, which silences the strict PII check)."""

    strategy: Literal["keep"]


Rule = Annotated[
    MaskRule | HashRule | FakeRule | RedactRule | NullifyRule | KeepRule,
    Field(discriminator="strategy"),
]
STRATEGIES = ("mask", "hash", "fake", "redact", "nullify", "keep")


class TableSelection(_Model):
    include: list[str] = Field(default_factory=lambda: ["*.*"])
    exclude: list[str] = Field(default_factory=list)


class Policy(_Model):
    """A parsed sanitization policy."""

    name: str = Field(min_length=1, max_length=200)
    salt: str | None = Field(default=None, min_length=8)
    strict: bool = False
    keep_unsanitized: bool = Field(
        default=False,
        description="capture the data as it is (rules are not applied); the control plane keeps such an "
        "artifact for the owning team's owners only",
    )
    tables: TableSelection = Field(default_factory=TableSelection)
    rules: list[Rule] = Field(default_factory=list)

    @field_validator("salt", "name", mode="before")
    @classmethod
    def _as_written(cls, value: Any) -> Any:
        # `salt: 0123456789` is a number in YAML; the salt is the text as written.
        return scalar_text(value) if isinstance(value, int | float) and not isinstance(value, bool) else value

    @field_validator("salt")
    @classmethod
    def _printable_salt(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("salt must not contain NUL characters")
        return value

    def includes(self, qualified: str) -> bool:
        """Whether the rows of ``schema.table`` are captured."""
        return _matches(qualified, self.tables.include) and not _matches(qualified, self.tables.exclude)

    def rules_for(self, qualified: str) -> dict[str, AnyRule]:
        """Column name → rule for one table (the last rule wins; duplicates are reported)."""
        return {rule.column: rule for rule in self.rules if rule.qualified_table == qualified}

    @property
    def sanitized(self) -> bool:
        """Whether a capture under this policy applies its rules (``keepUnsanitized: true`` does not)."""
        return not self.keep_unsanitized

    def with_salt(self, salt: str | None) -> Policy:
        """The policy with ``salt`` (e.g. from a secret) replacing the file's salt when given."""
        return self if not salt else self.model_copy(update={"salt": salt})

    @property
    def effective_salt(self) -> str:
        # Without a salt the hash is keyed by the policy name: still deterministic, but guessable,
        # which is why validation warns (and strict mode refuses).
        return self.salt or f"microstax:{self.name}"

    @property
    def version(self) -> str:
        """A content hash of the policy that leaves the salt out, so it can be published."""
        data = self.model_dump(mode="json", by_alias=True, exclude={"salt"})
        if not self.keep_unsanitized:
            data.pop("keepUnsanitized")  # absent and false are the same policy (and the same version)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


AnyRule = MaskRule | HashRule | FakeRule | RedactRule | NullifyRule | KeepRule


def _matches(qualified: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(qualified, qualify(pattern)) for pattern in patterns)


# --- parsing -----------------------------------------------------------------------------------


def parse_policy(text: str) -> tuple[Policy | None, list[PolicyProblem]]:
    """Parse policy YAML; on any problem the policy is ``None`` and the problems say where."""
    doc = parse_yaml(text)
    problems = [
        PolicyProblem("MSX-S001", "error", p.message, p.path, p.line, p.column)
        for p in doc.problems
        if p.severity == "error"
    ]
    if not doc.ok or problems:
        return None, problems
    if not isinstance(doc.data, dict):
        line, column = doc.positions.root_position
        return None, [PolicyProblem("MSX-S001", "error", "a policy must be a YAML mapping", "", line, column)]
    try:
        return Policy.model_validate(doc.data), []
    except ValidationError as exc:
        out = []
        for error in exc.errors():
            path = _clean_loc(error["loc"])
            if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
                path = (*path, "strategy")
            code, message = _describe(error)
            line, column = doc.positions.locate(path, at_key=error["type"] == "extra_forbidden")
            out.append(PolicyProblem(code, "error", message, _format_path(path), line, column))
        return None, out


def load_policy(path: str, *, salt: str | None = None) -> Policy:
    """Read and parse a policy file; :class:`PolicyError` on any problem, OSError when unreadable."""
    with open(path, encoding="utf-8-sig") as handle:
        text = handle.read()
    policy, problems = parse_policy(text)
    if policy is None:
        raise PolicyError(problems, path)
    return policy.with_salt(salt)


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    # A discriminated union puts the tag into the location (rules.2.mask.keepLst); the author
    # never wrote that level, so it is dropped to find the position in the file.
    parts = list(loc)
    if len(parts) >= 3 and parts[0] == "rules" and isinstance(parts[1], int) and parts[2] in STRATEGIES:
        del parts[2]
    return tuple(p for p in parts if isinstance(p, int | str))


def _describe(error: Any) -> tuple[str, str]:
    kind, loc = error["type"], error["loc"]
    field = str(loc[-1]) if loc else "policy"
    if kind == "extra_forbidden":
        return "MSX-S002", f"unknown field {field!r}"
    if kind == "missing":
        return "MSX-S004", f"{field} is required"
    if kind == "union_tag_invalid":
        return "MSX-S003", f"unknown strategy {error['ctx']['tag']!r}; expected one of {', '.join(STRATEGIES)}"
    if kind == "union_tag_not_found":
        return "MSX-S004", "strategy is required"
    message = error["msg"].removeprefix("Value error, ")
    return "MSX-S003", f"{field}: {message}"


def _format_path(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# --- checking against a schema -----------------------------------------------------------------

# Tokens of column names that usually hold personal data. Matching is by token, so `username`
# and `email_verified_at` are flagged but `domain` (contains "ma…") or `shipping` are not.
PII_TOKENS = frozenset(
    {
        "email", "mail", "phone", "mobile", "tel", "fax", "ssn", "sin", "nin", "name", "firstname",
        "lastname", "surname", "fullname", "username", "address", "street", "addr", "city", "zip",
        "postcode", "postal", "birth", "birthday", "birthdate", "dob", "ip", "passport", "iban",
        "card", "pan", "tax", "license", "licence", "gender", "salary",
    }
)  # fmt: skip
_TOKEN = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")


def looks_like_pii(column: str) -> bool:
    """Whether a column name suggests personal data (``customer_email``, ``lastName``, ``dob``)."""
    tokens = [t.lower() for t in _TOKEN.findall(column)]
    joined = {a + b for a, b in zip(tokens, tokens[1:], strict=False)}  # first_name → firstname
    return bool(PII_TOKENS.intersection(tokens) | PII_TOKENS.intersection(joined))


# Which strategies apply to which kinds of column. `keep`, `nullify` and `redact` apply to all.
_HASHABLE = {TypeFamily.TEXT, TypeFamily.INTEGER, TypeFamily.UUID, TypeFamily.BYTES}
_MASKABLE = {TypeFamily.TEXT}
_FAKE_FAMILIES: dict[str, set[TypeFamily]] = {
    "date": {TypeFamily.DATE, TypeFamily.TIMESTAMP},
    "ip": {TypeFamily.TEXT, TypeFamily.INET},
}
# Fake kinds whose value space is large enough (≥ 2^40) for a unique column; the others repeat.
_UNIQUE_SAFE_FAKES = {"email"}


class _Located:
    """Positions of rules in the policy text, when the text is at hand."""

    def __init__(self, text: str | None) -> None:
        self.positions = parse_yaml(text).positions if text is not None else None

    def at(self, *path: str | int) -> tuple[int | None, int | None]:
        if self.positions is None:
            return None, None
        return self.positions.locate(path)


def validate_against_schema(policy: Policy, schema: Schema, *, text: str | None = None) -> list[PolicyProblem]:
    """Every reason ``policy`` cannot be applied to ``schema``; errors block capture.

    ``text`` (the policy YAML) only serves to give problems a line and column.
    """
    where = _Located(text)
    problems: list[PolicyProblem] = []

    def report(code: str, message: str, path: tuple[str | int, ...], severity: Severity = "error") -> None:
        line, column = where.at(*path)
        problems.append(PolicyProblem(code, severity, message, _format_path(path), line, column))

    captured = {name for name in schema.tables if policy.includes(name)}
    seen: dict[tuple[str, str], int] = {}
    for index, rule in enumerate(policy.rules):
        table = schema.table(rule.qualified_table)
        if table is None:
            report("MSX-S010", f"table {rule.qualified_table} does not exist", ("rules", index, "table"))
            continue
        column = table.column(rule.column)
        if column is None:
            report("MSX-S011", f"{rule.qualified_table} has no column {rule.column!r}", ("rules", index, "column"))
            continue
        key = (table.qualified, column.name)
        if key in seen:
            report("MSX-S013", f"{table.qualified}.{column.name} already has rule #{seen[key]}", ("rules", index))
        seen[key] = index
        if table.qualified not in captured:
            report(
                "MSX-S012",
                f"{table.qualified} is not captured (tables.include/exclude), so this rule has no effect",
                ("rules", index, "table"),
                "warning",
            )
        for code, message, field in _rule_column_problems(rule, table, column):
            report(code, message, ("rules", index, field) if field else ("rules", index))

    for name in sorted(captured):
        table = schema.tables[name]
        rules = policy.rules_for(name)
        for fk in table.foreign_keys:
            if fk.ref_table not in captured:
                report(
                    "MSX-S018",
                    f"{name} ({', '.join(fk.columns)}) references {fk.ref_table}, whose rows are not captured; "
                    f"capture {fk.ref_table} too or exclude {name}",
                    ("tables",),
                )
                continue
            ref_rules = policy.rules_for(fk.ref_table)
            ref_table = schema.tables[fk.ref_table]
            for col, ref_col in zip(fk.columns, fk.ref_columns, strict=True):
                problem = _join_problem(table, col, rules.get(col), ref_table, ref_col, ref_rules.get(ref_col))
                if problem:
                    report("MSX-S017", problem, ("rules",))
        for column in table.copied_columns:
            if column.name not in rules and looks_like_pii(column.name):
                report(
                    "MSX-S019",
                    f"{name}.{column.name} looks like personal data but has no rule"
                    + (" (strict policy)" if policy.strict else "; add a rule, or `keep` to copy it as is"),
                    ("rules",),
                    "error" if policy.strict else "warning",
                )

    needs_salt = any(r.strategy in ("hash", "fake") for r in policy.rules)
    if needs_salt and not policy.salt:
        report(
            "MSX-S020",
            "no salt: hashed and faked values are keyed by the policy name and can be guessed; set `salt` "
            "or MICROSTAX_SNAPSHOT_SALT",
            ("name",),
            "error" if policy.strict else "warning",
        )
    return problems


def _rule_column_problems(rule: AnyRule, table: Table, column: Column) -> list[tuple[str, str, str]]:
    """(code, message, field) for a rule that does not fit its column's type or constraints."""
    out: list[tuple[str, str, str]] = []
    where = f"{table.qualified}.{column.name}"
    if column.generated:
        if rule.strategy != "keep":
            out.append(("MSX-S021", f"{where} is generated; it is recomputed from the sanitized columns", "strategy"))
        return out
    family = column.family
    if rule.strategy == "nullify" and column.not_null:
        out.append(("MSX-S014", f"{where} is NOT NULL and cannot be nullified; use redact or fake", "strategy"))
    if rule.strategy == "hash" and family not in _HASHABLE:
        out.append(("MSX-S016", f"hash does not apply to {where} of type {column.type}", "strategy"))
    if rule.strategy == "mask" and family not in _MASKABLE:
        out.append(("MSX-S016", f"mask applies to text columns; {where} is {column.type}", "strategy"))
    if rule.strategy == "fake":
        allowed = _FAKE_FAMILIES.get(rule.kind, {TypeFamily.TEXT})
        if family not in allowed:
            out.append(("MSX-S016", f"fake {rule.kind} does not apply to {where} of type {column.type}", "kind"))
    if rule.strategy == "redact" and rule.value is None and family != TypeFamily.TEXT:
        out.append(("MSX-S016", f"{where} is {column.type}; redact needs an explicit `value` of that type", "strategy"))
    unique_sets = [cols for cols in table.unique if column.name in cols]
    if unique_sets:
        keys = ", ".join("(" + ", ".join(cols) + ")" for cols in unique_sets)
        if rule.strategy in ("redact", "mask") or (rule.strategy == "fake" and rule.kind not in _UNIQUE_SAFE_FAKES):
            label = rule.strategy if rule.strategy != "fake" else f"fake {rule.kind}"
            out.append(
                ("MSX-S015", f"{label} maps many values to one, but {where} is unique in {keys}; use hash", "strategy")
            )
    return out


def _join_problem(
    table: Table, col: str, rule: AnyRule | None, ref_table: Table, ref_col: str, ref_rule: AnyRule | None
) -> str | None:
    """Why a foreign key would stop joining after sanitization, or None when it still joins.

    Every strategy is a function of the value alone (keyed by the policy salt), so two columns with
    the same rule map equal values to equal values; a referenced column is unique, so a rule there
    that collapses values is already reported by the unique check.
    """
    if rule is not None and rule.strategy == "nullify":
        return None  # a NULL reference references nothing, so the constraint holds
    left, right = _rule_signature(rule), _rule_signature(ref_rule)
    a, b = f"{table.qualified}.{col}", f"{ref_table.qualified}.{ref_col}"
    if left != right:
        return f"{a} references {b} but they are sanitized differently ({left[0]} vs {right[0]}); use the same rule"
    column, ref_column = table.column(col), ref_table.column(ref_col)
    if (
        left[0] == "hash"
        and column
        and ref_column
        and (column.family, column.bits) != (ref_column.family, ref_column.bits)
    ):
        return f"{a} ({column.type}) and {b} ({ref_column.type}) hash to different values; give them the same type"
    return None


def _rule_signature(rule: AnyRule | None) -> tuple[Any, ...]:
    if rule is None or rule.strategy == "keep":
        return ("keep",)
    return (rule.strategy, *sorted(rule.model_dump(exclude={"table", "column", "strategy"}).items()))
