"""Kubernetes quantities and durations: parse, compare, and write in one canonical spelling.

Pure helpers shared by the spec (syntax checks), the validator (limits ≥ requests), the normalizer
(``0.5`` and ``500m`` are the same CPU, ``1024Mi`` and ``1Gi`` the same memory) and the Compose
importer. Errors are :class:`ValueError` with a message fit to show a developer.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|[numkMGTPE])?\Z"
)
_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_OUT = [("Ei", 1024**6), ("Pi", 1024**5), ("Ti", 1024**4), ("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)]
_DECIMAL_OUT = [("E", 10**18), ("P", 10**15), ("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)]

_DURATION = re.compile(
    r"(?:(?P<w>[0-9]+)w)?(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?\Z"
)
_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
MAX_DURATION_SECONDS = 10 * 365 * 86400


def quantity_text(value: object) -> str:
    """The text of a quantity as written; YAML numbers keep their spelling (``0.50`` → ``"0.50"``)."""
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        raise ValueError("expected a quantity such as 500m or 512Mi")
    source = getattr(value, "source", None)
    return source if isinstance(source, str) else str(value)


def parse_quantity(text: str) -> Decimal:
    """Value of a Kubernetes quantity (``500m`` → 0.5, ``1Gi`` → 1073741824)."""
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity (examples: 250m, 0.5, 512Mi, 1Gi)")
    try:
        number = Decimal(match["number"])
    except InvalidOperation:  # pragma: no cover - the regex only lets numbers through
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from None
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        value = number * (1024 ** _BINARY[suffix])
    elif suffix in _DECIMAL:
        value = number.scaleb(_DECIMAL[suffix])
    else:
        exponent = int(suffix[1:])
        if abs(exponent) > 30:
            raise ValueError(f"{text!r} has an exponent too large for a quantity")
        value = number.scaleb(exponent)
    if value < 0:
        raise ValueError(f"{text!r} is negative; quantities must be zero or more")
    return value


def cpu_millicores(text: str) -> int:
    """CPU quantity in millicores; finer than 1m is refused (Kubernetes would round it)."""
    value = parse_quantity(text)
    milli = value * 1000
    if milli != milli.to_integral_value():
        raise ValueError(f"CPU {text!r} is finer than 1m (one thousandth of a core)")
    return int(milli)


def memory_bytes(text: str) -> int:
    """Memory or storage quantity in bytes; fractions of a byte are refused."""
    value = parse_quantity(text)
    if value != value.to_integral_value():
        hint = ""
        if text.strip().endswith("m"):
            hint = f" ('m' means milli, did you mean {text.strip()[:-1]}Mi?)"
        raise ValueError(f"{text!r} is not a whole number of bytes{hint}")
    return int(value)


def canonical_cpu(text: str) -> str:
    """``0.5`` → ``500m``, ``1000m`` → ``1``."""
    milli = cpu_millicores(text)
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def canonical_bytes(count: int) -> str:
    """Bytes in the largest exact suffix, binary first: 1073741824 → ``1Gi``, 10**9 → ``1G``."""
    if count == 0:
        return "0"
    for suffix, size in _BINARY_OUT:
        if count % size == 0:
            return f"{count // size}{suffix}"
    for suffix, size in _DECIMAL_OUT:
        if count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)


def canonical_memory(text: str) -> str:
    """``1024Mi`` → ``1Gi``; ``0.5Gi`` → ``512Mi``."""
    return canonical_bytes(memory_bytes(text))


def parse_duration(value: object) -> int:
    """Seconds in a duration such as ``72h``, ``1h30m``, ``7d`` or ``2w``; must be positive."""
    if isinstance(value, bool) or not isinstance(value, str):
        if isinstance(value, int | float):
            raise ValueError(f"duration {value} has no unit; write it like 72h, 90m or 7d")
        raise ValueError("expected a duration such as 72h, 90m or 7d")
    text = value.strip()
    match = _DURATION.match(text)
    if not text or match is None:
        raise ValueError(f"{value!r} is not a duration; write it like 72h, 1h30m, 90m or 7d")
    seconds = sum(int(match[unit]) * size for unit, size in _DURATION_UNITS.items() if match[unit])
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be longer than zero")
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"duration {value!r} is longer than ten years")
    return seconds


def format_duration(seconds: int) -> str:
    """Seconds in Go's style without zero parts: 259200 → ``72h``, 5400 → ``1h30m``."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"
