"""The compiled rule expressions, evaluated by PostgreSQL on single values and whole ranges."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapshots.agent.policy import FakeRule, HashRule, MaskRule, RedactRule
from snapshots.agent.postgres import SESSION_SETTINGS
from snapshots.agent.schema import Column, TypeFamily
from snapshots.agent.sql import CITIES, FIRST_NAMES, LAST_NAMES, Keys, column_expression

KEYS = Keys("unit-test-salt")
OTHER_KEYS = Keys("another-salt")
TEXT = Column("v", "text", TypeFamily.TEXT)
# PostgreSQL text cannot hold NUL; surrogates are not valid UTF-8.
texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)


@pytest.fixture(scope="module")
def conn(admin_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(admin_dsn, autocommit=True) as connection:
        for statement in SESSION_SETTINGS:
            connection.execute(statement)
        yield connection


def evaluate(conn: psycopg.Connection, column: Column, rule, value, keys: Keys = KEYS):  # noqa: ANN001, ANN201
    expression = column_expression(column, rule, keys).replace("%", "%%")  # not a placeholder
    return conn.execute(f"SELECT {expression} FROM (SELECT %s::{column.type} AS v) AS t", [value]).fetchone()[0]


def mask_reference(value: str, keep_first: int, keep_last: int, char: str = "*") -> str:
    """The documented mask, in Python: length kept, ends kept unless that would show everything."""
    if len(value) <= keep_first + keep_last:
        return char * len(value)
    return value[:keep_first] + char * (len(value) - keep_first - keep_last) + value[len(value) - keep_last :]


def rule(cls, **params):  # noqa: ANN001, ANN003, ANN201
    return cls.model_validate({"table": "t", "column": "v", **params})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=texts, keep_first=st.integers(0, 4), keep_last=st.integers(0, 4))
def test_mask_matches_the_reference_on_any_string(conn, value: str, keep_first: int, keep_last: int) -> None:  # noqa: ANN001
    mask = rule(MaskRule, strategy="mask", keepFirst=keep_first, keepLast=keep_last, maskChar="#")
    assert evaluate(conn, TEXT, mask, value) == mask_reference(value, keep_first, keep_last, "#")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=texts, kind=st.sampled_from(["name", "email", "phone", "address", "city", "ip", "first_name"]))
def test_fake_is_deterministic_keyed_and_never_echoes_the_input(conn, value: str, kind: str) -> None:  # noqa: ANN001
    fake = rule(FakeRule, strategy="fake", kind=kind)
    first = evaluate(conn, TEXT, fake, value)
    # Same input in a column of another text type: same output.
    assert evaluate(conn, Column("v", "character varying(200)", TypeFamily.TEXT), fake, value) == first
    assert evaluate(conn, TEXT, fake, value) == first
    if re.search(r"[^A-Za-z0-9 .@+\-]", value):
        # Fakes are built from ASCII words and digits only, so an input with any other character
        # can never reappear in its fake.
        assert value not in first


def test_fake_values_look_real(conn) -> None:  # noqa: ANN001
    email = evaluate(conn, TEXT, rule(FakeRule, strategy="fake", kind="email"), "x@y.z")
    assert re.fullmatch(r"[a-z]+\.[a-z]+\.\d+@example\.invalid", email)
    first, last = evaluate(conn, TEXT, rule(FakeRule, strategy="fake", kind="name"), "someone").split(" ")
    assert first in FIRST_NAMES and last in LAST_NAMES
    assert evaluate(conn, TEXT, rule(FakeRule, strategy="fake", kind="city"), "Paris") in CITIES
    assert re.fullmatch(
        r"\+1-\d{3}-555-\d{4}", evaluate(conn, TEXT, rule(FakeRule, strategy="fake", kind="phone"), "1")
    )
    assert re.fullmatch(r"\d+ \w+ \w+", evaluate(conn, TEXT, rule(FakeRule, strategy="fake", kind="address"), "1"))
    inet = Column("v", "inet", TypeFamily.INET)
    assert str(evaluate(conn, inet, rule(FakeRule, strategy="fake", kind="ip"), "203.0.113.9")).startswith("10.")


def test_fake_dates_move_within_the_window_and_keep_their_type(conn) -> None:  # noqa: ANN001
    date_rule = rule(FakeRule, strategy="fake", kind="date", days=5)
    date = Column("v", "date", TypeFamily.DATE)
    moved = [
        conn.execute(
            f"SELECT {column_expression(date, date_rule, KEYS)} - v FROM (SELECT d::date AS v FROM "
            "generate_series('2000-01-01'::date, '2000-12-31', '1 day') d) AS t"
        ).fetchall()
    ]
    shifts = {row[0] for row in moved[0]}
    assert shifts <= set(range(-5, 0)) | set(range(1, 6)) and len(shifts) == 10
    stamp = Column("v", "timestamp with time zone", TypeFamily.TIMESTAMP)
    shifted = evaluate(conn, stamp, date_rule, "2020-02-02 10:30:00+00")
    assert shifted.time().isoformat() == "10:30:00"


def test_text_hash_is_keyed_deterministic_and_fits_varchar(conn) -> None:  # noqa: ANN001
    hashed = evaluate(conn, TEXT, rule(HashRule, strategy="hash"), "alice@example.com")
    assert re.fullmatch(r"[0-9a-f]{32}", hashed)
    assert evaluate(conn, TEXT, rule(HashRule, strategy="hash"), "alice@example.com", OTHER_KEYS) != hashed
    short = Column("v", "character varying(12)", TypeFamily.TEXT)
    assert len(evaluate(conn, short, rule(HashRule, strategy="hash"), "alice@ex.com")) == 12
    uuid_column = Column("v", "uuid", TypeFamily.UUID)
    assert evaluate(conn, uuid_column, rule(HashRule, strategy="hash"), "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")
    assert evaluate(conn, TEXT, rule(HashRule, strategy="hash"), None) is None


@pytest.mark.parametrize(("type_", "bits"), [("smallint", 15), ("integer", 31), ("bigint", 63)])
def test_integer_hash_is_a_sign_keeping_permutation_of_the_type(conn, type_: str, bits: int) -> None:  # noqa: ANN001
    column = Column("v", type_, TypeFamily.INTEGER, bits=bits)
    expression = column_expression(column, rule(HashRule, strategy="hash"), KEYS)
    # All of smallint, and 100,001 values around zero and at both ends of the wider types.
    if bits == 15:
        series = "SELECT g::smallint AS v FROM generate_series(-32768, 32767) g"
    else:
        low, high = -(2**bits), 2**bits - 1
        series = (
            f"SELECT g::{type_} AS v FROM generate_series(-50000, 50000) g UNION ALL "
            f"SELECT ('{low}'::bigint + g)::{type_} FROM generate_series(0, 99) g UNION ALL "
            f"SELECT ('{high}'::bigint - g)::{type_} FROM generate_series(0, 99) g"
        )
    total, distinct, sign_kept, unchanged = conn.execute(
        f"SELECT count(*), count(DISTINCT h), count(*) FILTER (WHERE sign(h) = sign(v) OR (v = 0 AND h >= 0)"
        f" OR (h = 0 AND v >= 0)), count(*) FILTER (WHERE h = v) FROM (SELECT v, {expression} AS h FROM ({series}) s) t"
    ).fetchone()
    assert distinct == total  # no collisions: a bijection
    assert sign_kept == total
    assert unchanged < total / 1000


def test_redact_keeps_nulls_and_casts_the_replacement(conn) -> None:  # noqa: ANN001
    assert evaluate(conn, TEXT, rule(RedactRule, strategy="redact"), "secret") == "REDACTED"
    assert evaluate(conn, TEXT, rule(RedactRule, strategy="redact"), None) is None
    number = Column("v", "integer", TypeFamily.INTEGER, bits=31)
    assert evaluate(conn, number, rule(RedactRule, strategy="redact", value="0"), 42) == 0
