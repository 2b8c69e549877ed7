"""Kubernetes resource quantities: syntax check, parsing and formatting.

Only what admission and the quota controller need: exact decimal arithmetic on ``500m``,
``1.5Gi``, ``2e3`` and friends.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# The pattern apimachinery quotes in its parse error (`resource.ParseQuantity`).
QUANTITY_REGEX = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_STRICT = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)?$")

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}

PARSE_ERROR = f"quantities must match the regular expression '{QUANTITY_REGEX}'"


class QuantityError(ValueError):
    pass


def is_quantity(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and bool(_STRICT.match(value))


def parse_quantity(value: object) -> Decimal:
    """The exact value of a quantity; raises ``QuantityError`` with apimachinery's wording."""
    if isinstance(value, bool):
        raise QuantityError(PARSE_ERROR)
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        raise QuantityError(PARSE_ERROR)
    m = _STRICT.match(value)
    if not m:
        raise QuantityError(PARSE_ERROR)
    number, suffix = m.group(1), m.group(2) or ""
    try:
        base = Decimal(number)
    except InvalidOperation as exc:
        raise QuantityError(PARSE_ERROR) from exc
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    if suffix in _DECIMAL:
        return base * _DECIMAL[suffix]
    return base * (Decimal(10) ** int(suffix[1:]))


def uses_binary_suffix(value: object) -> bool:
    return isinstance(value, str) and value[-2:] in _BINARY


def format_quantity(value: Decimal, *, binary: bool = False) -> str:
    """Canonical-looking string: ``0``, ``500m``, ``2``, ``1Gi``, ``1500M``."""
    if value == 0:
        return "0"
    if binary and value == value.to_integral_value():
        for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
            if value % _BINARY[suffix] == 0:
                return f"{int(value // _BINARY[suffix])}{suffix}"
        return str(int(value))
    if value != value.to_integral_value():
        milli = value * 1000
        if milli == milli.to_integral_value():
            return f"{int(milli)}m"
        return f"{int((value * Decimal('1e9')).to_integral_value())}n"
    ivalue = int(value)
    for suffix, factor in (("E", 10**18), ("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if ivalue % factor == 0:
            return f"{ivalue // factor}{suffix}"
    return str(ivalue)
