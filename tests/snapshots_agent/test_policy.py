"""Policy parsing and validation against a schema: pure, no database."""

from __future__ import annotations

import pytest

from snapshots.agent.policy import looks_like_pii, parse_policy, validate_against_schema
from snapshots.agent.schema import Column, ForeignKey, Schema, Table, TypeFamily
from tests.snapshots_agent.pii import POLICY_YAML

T = TypeFamily


def schema() -> Schema:
    customers = Table(
        "public",
        "customers",
        (
            Column("id", "integer", T.INTEGER, not_null=True, bits=31),
            Column("email", "text", T.TEXT, not_null=True),
            Column("full_name", "text", T.TEXT, not_null=True),
            Column("phone", "character varying(20)", T.TEXT),
            Column("born", "date", T.DATE),
            Column("score", "numeric", T.NUMERIC),
            Column("email_lower", "text", T.TEXT, generated=True),
        ),
        unique=(("id",), ("email",), ("phone",)),
    )
    orders = Table(
        "public",
        "orders",
        (
            Column("id", "bigint", T.INTEGER, not_null=True, bits=63),
            Column("customer_id", "bigint", T.INTEGER, bits=63),
            Column("owner", "integer", T.INTEGER, bits=31),
        ),
        unique=(("id",),),
        foreign_keys=(
            ForeignKey("orders_customer_fk", ("customer_id",), "public.customers", ("id",)),
            ForeignKey("orders_owner_fk", ("owner",), "public.customers", ("id",)),
        ),
    )
    log = Table("audit", "log", (Column("id", "integer", T.INTEGER, bits=31),))
    return Schema({t.qualified: t for t in (customers, orders, log)})


def problems_of(text: str) -> list:
    policy, problems = parse_policy(text)
    assert policy is not None, problems
    return validate_against_schema(policy, schema(), text=text)


def codes(problems: list, severity: str = "error") -> list[str]:
    return sorted(p.code for p in problems if p.severity == severity)


def test_the_shared_policy_parses_with_camel_case_parameters() -> None:
    policy, problems = parse_policy(POLICY_YAML)
    assert problems == [] and policy is not None
    phone = policy.rules_for("public.customers")["phone"]
    assert (phone.strategy, phone.keep_last, phone.keep_first) == ("mask", 2, 0)
    assert policy.rules_for("billing.invoices")["customer_id"].strategy == "hash"


@pytest.mark.parametrize(
    ("text", "code", "path", "line"),
    [
        ("name: p\nsalty: x\n", "MSX-S002", "salty", 2),
        (
            "name: p\nrules:\n  - {table: t, column: c, strategy: hash, keepLast: 2}\n",
            "MSX-S002",
            "rules[0].keepLast",
            3,
        ),
        ("name: p\nrules:\n  - table: t\n    column: c\n    strategy: shuffle\n", "MSX-S003", "rules[0].strategy", 5),
        ("name: p\nrules:\n  - {table: t, strategy: keep}\n", "MSX-S004", "rules[0].column", 3),
        (
            "name: p\nrules:\n  - {table: t, column: c, strategy: fake, kind: name, days: 3}\n",
            "MSX-S003",
            "rules[0]",
            3,
        ),
        (
            "name: p\nrules:\n  - {table: t, column: c, strategy: mask, keepLast: -1}\n",
            "MSX-S003",
            "rules[0].keepLast",
            3,
        ),
        ("name: p\ntables: {include: [a], exclud: [b]}\n", "MSX-S002", "tables.exclud", 2),
        ("rules: []\n", "MSX-S004", "name", None),
        ("name: [unclosed\n", "MSX-S001", "", None),
    ],
)
def test_policy_file_errors_name_the_key_and_line(text: str, code: str, path: str, line: int | None) -> None:
    policy, problems = parse_policy(text)
    assert policy is None
    assert (problems[0].code, problems[0].path) == (code, path)
    if line is not None:
        assert problems[0].line == line


def test_table_patterns_default_to_the_public_schema() -> None:
    policy, _ = parse_policy("name: p\ntables: {include: ['*', 'billing.inv*'], exclude: ['audit_*']}\n")
    assert policy is not None
    assert policy.includes("public.customers")
    assert policy.includes("billing.invoices")
    assert not policy.includes("billing.payments")
    assert not policy.includes("public.audit_log")
    everything, _ = parse_policy("name: p\n")
    assert everything is not None and everything.includes("audit.log")


def test_rules_on_missing_tables_and_columns_are_errors() -> None:
    problems = problems_of(
        "name: p\nsalt: 0123456789\nrules:\n  - {table: nope, column: a, strategy: keep}\n"
        "  - {table: customers, column: nope, strategy: keep}\n"
    )
    assert codes(problems) == ["MSX-S010", "MSX-S011"]
    assert [p.line for p in problems if p.severity == "error"] == [4, 5]


def test_nullify_on_not_null_and_collapsing_rules_on_unique_columns_are_errors() -> None:
    problems = problems_of(
        "name: p\nsalt: 0123456789\nrules:\n"
        "  - {table: customers, column: full_name, strategy: nullify}\n"
        "  - {table: customers, column: email, strategy: redact}\n"
        "  - {table: customers, column: phone, strategy: fake, kind: phone}\n"
    )
    assert codes(problems) == ["MSX-S014", "MSX-S015", "MSX-S015"]


def test_hash_and_fake_email_keep_unique_columns_unique() -> None:
    problems = problems_of(
        "name: p\nsalt: 0123456789\nrules:\n"
        "  - {table: customers, column: email, strategy: fake, kind: email}\n"
        "  - {table: customers, column: phone, strategy: hash}\n"
        "  - {table: customers, column: full_name, strategy: fake, kind: name}\n"
        "  - {table: customers, column: born, strategy: fake, kind: date, days: 10}\n"
    )
    assert codes(problems) == []


def test_strategies_that_do_not_fit_the_type_are_errors() -> None:
    problems = problems_of(
        "name: p\nsalt: 0123456789\nrules:\n"
        "  - {table: customers, column: score, strategy: hash}\n"
        "  - {table: customers, column: born, strategy: mask}\n"
        "  - {table: customers, column: full_name, strategy: fake, kind: date}\n"
        "  - {table: customers, column: score, strategy: redact}\n"
        "  - {table: customers, column: email_lower, strategy: hash}\n"
    )
    assert codes(problems) == ["MSX-S013", "MSX-S016", "MSX-S016", "MSX-S016", "MSX-S016", "MSX-S021"]


def test_foreign_keys_must_be_sanitized_like_the_key_they_reference() -> None:
    # customers.id is hashed; orders.customer_id is not (breaks the join), orders.owner is but as
    # bigint vs integer (different permutations): both reported. A nullified reference is fine.
    problems = problems_of(
        "name: p\nsalt: 0123456789\nrules:\n"
        "  - {table: customers, column: id, strategy: hash}\n"
        "  - {table: orders, column: owner, strategy: hash}\n"
    )
    assert codes(problems) == ["MSX-S017"]
    assert "sanitized differently" in next(p.message for p in problems if p.code == "MSX-S017")
    problems = problems_of(
        "name: p\nsalt: 0123456789\nrules:\n"
        "  - {table: customers, column: id, strategy: hash}\n"
        "  - {table: orders, column: customer_id, strategy: hash}\n"
        "  - {table: orders, column: owner, strategy: nullify}\n"
    )
    assert codes(problems) == ["MSX-S017"]
    assert "hash to different values" in next(p.message for p in problems if p.code == "MSX-S017")


def test_a_foreign_key_into_a_table_left_out_is_an_error() -> None:
    problems = problems_of("name: p\ntables: {exclude: [customers]}\n")
    assert codes(problems) == ["MSX-S018", "MSX-S018"]


def test_strict_policies_refuse_pii_looking_columns_without_rules() -> None:
    lenient = problems_of("name: p\n")
    flagged = {p.message.split(" ")[0] for p in lenient if p.code == "MSX-S019"}
    assert flagged == {"public.customers.email", "public.customers.full_name", "public.customers.phone"}
    assert codes(lenient) == []  # only warnings without strict
    strict = problems_of("name: p\nstrict: true\n")
    assert codes(strict) == ["MSX-S019"] * 3


def test_strict_policies_need_a_salt_for_hashing() -> None:
    text = "name: p\n{strict}rules:\n  - {{table: customers, column: phone, strategy: hash}}\n"
    assert codes(problems_of(text.format(strict="")), "warning") == ["MSX-S019", "MSX-S019", "MSX-S020"]
    assert "MSX-S020" in codes(problems_of(text.format(strict="strict: true\n")))


@pytest.mark.parametrize(
    ("column", "pii"),
    [
        ("email", True),
        ("customer_email", True),
        ("lastName", True),
        ("first_name", True),
        ("dob", True),
        ("client_ip", True),
        ("ssn", True),
        ("domain", False),
        ("shipping_cost", False),
        ("created_at", False),
        ("ipsum", False),
    ],
)
def test_pii_names_are_recognised_by_token(column: str, pii: bool) -> None:
    assert looks_like_pii(column) is pii


def test_policy_version_ignores_the_salt_but_not_the_rules() -> None:
    a, _ = parse_policy("name: p\nsalt: aaaaaaaaaa\n")
    b, _ = parse_policy("name: p\nsalt: bbbbbbbbbb\n")
    c, _ = parse_policy("name: p\nsalt: aaaaaaaaaa\nstrict: true\n")
    assert a and b and c
    assert a.version == b.version != c.version
    assert a.with_salt("cccccccccc").salt == "cccccccccc"
