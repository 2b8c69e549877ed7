"""Compiling sanitization rules into PostgreSQL expressions.

Capture runs ``COPY (SELECT <projection> FROM ONLY t) TO STDOUT``: the server applies every rule
while it streams, so no row passes through Python. Each expression is keyed by the policy salt
(through literal salt text or 64-bit seeds derived from it here), so the same input gives the same
output in every table and column of a capture, and NULL stays NULL under every strategy but
``redact`` on NOT NULL columns, which never hold NULL.

Guarantees per strategy:

* ``hash`` on text: the first 128 bits of ``sha256(salt || value)`` in hex (32 characters, cut to
  a shorter ``varchar(n)``). Collisions are negligible, so unique keys and joins survive.
* ``hash`` on integers: a keyed *permutation* of the column type's non-negative range (a 4-round
  Feistel network over 15, 31 or 63 bits, round function ``hashint8extended``), applied to
  ``-1 - v`` for negative values. It is a bijection, so there are no collisions at all, the sign
  and the type range are kept (an ``integer`` stays within ``integer``), and an ``integer`` foreign
  key still joins its ``integer`` key. Columns of different widths hash differently (validation
  reports such foreign keys). It resists casual reversal but is not a cryptographic cipher.
* ``hash`` on uuid: the same 128 bits as text, as a uuid; on bytea: ``sha256(salt || value)``.
* ``mask``: length kept, ``keepFirst``/``keepLast`` characters kept; a value no longer than
  ``keepFirst + keepLast`` is masked entirely so masking never reveals a whole short value.
* ``fake``: a realistic value picked by ``hashtextextended(value, seed)`` from built-in lists;
  emails are ``first.last.N@example.invalid`` with a 40-bit ``N`` (safe for unique columns in
  practice), dates move by a non-zero number of days within ``±days``.
* ``redact``: a fixed value for every non-NULL value. ``nullify``: NULL. ``keep``: unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from snapshots.agent.policy import AnyRule, FakeRule, MaskRule, RedactRule
from snapshots.agent.schema import Column, Table, TypeFamily

FEISTEL_ROUNDS = 4
DEFAULT_REDACTION = "REDACTED"
FAKE_EMAIL_DOMAIN = "example.invalid"

# 64 entries each (a power of two), so a list index is six bits of the hash.
FIRST_NAMES = (
    "Ada", "Alan", "Amara", "Ana", "Anders", "Aroha", "Ben", "Bianca", "Carlos", "Chen", "Chloe", "Daniel",
    "Dara", "Elena", "Emeka", "Emma", "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jamal",
    "Jonas", "Julia", "Kai", "Kenji", "Lara", "Leila", "Liam", "Lucia", "Maya", "Mateo", "Mei", "Nadia",
    "Nikhil", "Noah", "Nora", "Olga", "Omar", "Paula", "Priya", "Quinn", "Rafael", "Rosa", "Sami", "Sara",
    "Sofia", "Tariq", "Tessa", "Theo", "Uma", "Victor", "Wanjiru", "Wei", "Xavier", "Yara", "Yusuf", "Zara",
    "Zeynep", "Aiko", "Bruno", "Camila",
)  # fmt: skip
LAST_NAMES = (
    "Abbott", "Adeyemi", "Alvarez", "Andersen", "Bauer", "Becker", "Brown", "Castro", "Chen", "Costa",
    "Dubois", "Edwards", "Eriksen", "Fischer", "Fernandes", "Garcia", "Gomez", "Hansen", "Haddad", "Ito",
    "Ivanova", "Jensen", "Johnson", "Kaur", "Khan", "Kim", "Kowalski", "Larsen", "Lee", "Lopez", "Martin",
    "Meyer", "Moreau", "Mueller", "Nakamura", "Nguyen", "Novak", "Okafor", "Olsen", "Park", "Patel",
    "Perez", "Petrov", "Quispe", "Rossi", "Santos", "Schmidt", "Silva", "Singh", "Smith", "Suzuki",
    "Tanaka", "Taylor", "Torres", "Vargas", "Walker", "Wang", "Weber", "Wilson", "Xu", "Yamamoto", "Young",
    "Zhang", "Ziegler",
)  # fmt: skip
STREETS = (
    "Acacia", "Alder", "Ash", "Aspen", "Bay", "Beech", "Birch", "Bridge", "Brook", "Canal", "Cedar",
    "Chapel", "Cherry", "Church", "Cliff", "Clover", "Dale", "Elm", "Fern", "Field", "Forest", "Garden",
    "Glen", "Grove", "Harbor", "Hawthorn", "Hazel", "Heath", "Highland", "Hill", "Holly", "Ivy", "Juniper",
    "Lake", "Laurel", "Linden", "Maple", "Meadow", "Mill", "Mountain", "Oak", "Orchard", "Park", "Pine",
    "Poplar", "Quarry", "River", "Rose", "Sage", "Spring", "Spruce", "Station", "Stone", "Sunset", "Valley",
    "Vine", "Walnut", "Water", "Willow", "Windmill", "Wood", "Yew", "Harvest", "Lantern",
)  # fmt: skip
STREET_SUFFIXES = (
    "Street", "Avenue", "Road", "Lane", "Drive", "Way", "Court", "Place", "Terrace", "Close", "Row",
    "Boulevard", "Crescent", "Square", "Walk", "Gardens",
)  # fmt: skip
CITIES = (
    "Arden", "Ashford", "Bayview", "Belmont", "Brookfield", "Carlow", "Cedar Falls", "Clearwater",
    "Crestwood", "Dunmore", "Eastbrook", "Elmstead", "Fairview", "Fallon", "Glenrock", "Greenhill",
    "Harbor City", "Hartwell", "Highgate", "Hollins", "Ivybridge", "Kingsport", "Lakeside", "Langley",
    "Marlow", "Meadowbank", "Millbrook", "Northfield", "Oakridge", "Orchard Park", "Pinecrest", "Port Ellis",
    "Quarryville", "Redmont", "Riverside", "Rosedale", "Saltmarsh", "Seabrook", "Silverton", "Southwick",
    "Springvale", "Stonebridge", "Summerton", "Thornbury", "Upton", "Valemont", "Westfield", "Whitby",
    "Willowdale", "Winterbourne", "Yarrow", "Zephyr Bay", "Amberley", "Bramble", "Calder", "Denholm",
    "Easton", "Foxley", "Galloway", "Hemsby", "Inverley", "Juniper Hills", "Kelso", "Lowell",
)  # fmt: skip


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    # The session runs with standard_conforming_strings on, so only quotes need doubling.
    if "\x00" in text:
        raise ValueError("SQL text cannot contain NUL characters")
    return "'" + text.replace("'", "''") + "'"


def qualified_name(schema: str, name: str) -> str:
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def _text_array(values: tuple[str, ...]) -> str:
    return "(ARRAY[" + ",".join(quote_literal(v) for v in values) + "]::text[])"


@dataclass(frozen=True, slots=True)
class Keys:
    """Key material derived from the policy salt: the salt literal and named 64-bit seeds."""

    salt: str

    def seed(self, label: str) -> int:
        digest = hashlib.sha256(f"{self.salt}\x1f{label}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)


def _feistel(x: str, bits: int, keys: Keys) -> str:
    """A keyed permutation of ``[0, 2**bits)`` applied to the bigint expression ``x``.

    Halves of ``bits // 2`` and ``bits - bits // 2`` bits (unbalanced for odd widths); each round
    swaps them and xors the (new) right half with a keyed hash of the left one. Every round is
    invertible whatever the round function, so the whole is a bijection. Expressions are inlined
    (PostgreSQL has no common-subexpression elimination, so later rounds recompute earlier ones:
    11 hash calls for 4 rounds, each a few nanoseconds).
    """
    left_bits = bits // 2
    right_bits = bits - left_bits
    left, right = f"({x} >> {right_bits})", f"({x} & {(1 << right_bits) - 1})"
    for round_ in range(FEISTEL_ROUNDS):
        seed = keys.seed(f"feistel:{bits}:{round_}")
        mixed = f"(hashint8extended({right}, {seed}) & {(1 << left_bits) - 1})"
        left, right = right, f"({left} # {mixed})"
        left_bits, right_bits = right_bits, left_bits
    return f"(({left} << {right_bits}) | {right})"


def _integer_hash(value: str, bits: int, keys: Keys) -> str:
    # Negative values use the mirror range [-2**bits, -1] through -1 - v, so the sign is kept and
    # every value of the type maps into the type.
    v = f"{value}::bigint"
    return f"(CASE WHEN {v} >= 0 THEN {_feistel(v, bits, keys)} ELSE -1 - {_feistel(f'(-1 - {v})', bits, keys)} END)"


def _text_hash(text: str, keys: Keys) -> str:
    return f"left(encode(sha256(convert_to({quote_literal(keys.salt)} || {text}, 'UTF8')), 'hex'), 32)"


def _mask(text: str, rule: MaskRule) -> str:
    keep = rule.keep_first + rule.keep_last
    char = quote_literal(rule.mask_char)
    return (
        f"(CASE WHEN char_length({text}) <= {keep} THEN repeat({char}, char_length({text})) "
        f"ELSE left({text}, {rule.keep_first}) || repeat({char}, char_length({text}) - {keep}) "
        f"|| right({text}, {rule.keep_last}) END)"
    )


def _fake(value: str, text: str, column: Column, rule: FakeRule, keys: Keys) -> str:
    # COLLATE "C": hashing must depend on the bytes only, never on a column's collation.
    h = f'hashtextextended({text} COLLATE "C", {keys.seed("fake:" + rule.kind)})'

    def pick(values: tuple[str, ...], shift: int, *, lower: bool = False) -> str:
        array = _text_array(tuple(v.lower() for v in values) if lower else values)
        return f"{array}[(({h} >> {shift}) & {len(values) - 1}) + 1]"

    kind = rule.kind
    if kind == "first_name":
        return pick(FIRST_NAMES, 0)
    if kind == "last_name":
        return pick(LAST_NAMES, 0)
    if kind == "name":
        return f"{pick(FIRST_NAMES, 0)} || ' ' || {pick(LAST_NAMES, 6)}"
    if kind == "email":
        number = f"(({h} >> 12) & {(1 << 40) - 1})::text"
        first, last = pick(FIRST_NAMES, 0, lower=True), pick(LAST_NAMES, 6, lower=True)
        return f"{first} || '.' || {last} || '.' || {number} || '@{FAKE_EMAIL_DOMAIN}'"
    if kind == "phone":
        area = f"(200 + (({h} & 1023) % 800))::text"
        line = f"lpad(((({h} >> 10) & 16383) % 10000)::text, 4, '0')"
        return f"'+1-' || {area} || '-555-' || {line}"
    if kind == "address":
        number = f"(1 + ((({h} >> 12) & 16383) % 9999))::text"
        return f"{number} || ' ' || {pick(STREETS, 0)} || ' ' || {pick(STREET_SUFFIXES, 6)}"
    if kind == "city":
        return pick(CITIES, 0)
    if kind == "ip":
        octets = " || '.' || ".join(f"(({h} >> {shift}) & 255)::text" for shift in (0, 8, 16))
        return f"'10.' || {octets}"
    # kind == "date": shift by 1..days days, either way; bit 40 of the hash picks the direction.
    days = f"((1 + (({h} & 2147483647) % {rule.window})) * (CASE WHEN (({h} >> 40) & 1) = 1 THEN -1 ELSE 1 END))"
    if column.family == TypeFamily.DATE:
        return f"({value} + {days}::integer)"
    return f"({value} + make_interval(days => {days}::integer))"


def column_expression(column: Column, rule: AnyRule | None, keys: Keys) -> str:
    """The SQL expression producing the sanitized value of ``column`` (cast back to its type)."""
    value = quote_ident(column.name)
    if rule is None or rule.strategy == "keep":
        return value
    text = f"{value}::text"
    if rule.strategy == "nullify":
        expression = "NULL"
    elif isinstance(rule, RedactRule):
        replacement = quote_literal(rule.value if rule.value is not None else DEFAULT_REDACTION)
        # The literal is cast where it stands so that planning (EXPLAIN at validation) rejects a
        # replacement that is not a value of the column's type, before any row is read.
        expression = f"(CASE WHEN {value} IS NULL THEN NULL ELSE {replacement}::{column.type} END)"
    elif isinstance(rule, MaskRule):
        expression = _mask(text, rule)
    elif isinstance(rule, FakeRule):
        expression = _fake(value, text, column, rule, keys)
    elif column.family == TypeFamily.INTEGER:
        expression = _integer_hash(value, column.bits or 63, keys)
    elif column.family == TypeFamily.BYTES:
        salt = keys.salt.encode().hex()
        expression = f"sha256('\\x{salt}'::bytea || {value})"
    else:
        expression = _text_hash(text, keys)
        if column.family == TypeFamily.UUID:
            expression = f"{expression}::uuid"
    return f"({expression})::{column.type}"


def select_query(table: Table, rules: Mapping[str, AnyRule], keys: Keys) -> str:
    """``SELECT <sanitized columns> FROM ONLY <table>`` (ONLY: child tables are copied on their own)."""
    projection = ", ".join(column_expression(c, rules.get(c.name), keys) for c in table.copied_columns)
    return f"SELECT {projection} FROM ONLY {qualified_name(table.schema, table.name)}"


def copy_out_statement(table: Table, rules: Mapping[str, AnyRule], keys: Keys) -> str:
    return f"COPY ({select_query(table, rules, keys)}) TO STDOUT"


def copy_in_statement(schema: str, name: str, columns: list[str]) -> str:
    column_list = ", ".join(quote_ident(c) for c in columns)
    return f"COPY {qualified_name(schema, name)} ({column_list}) FROM STDIN"
