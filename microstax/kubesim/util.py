"""Small helpers shared by the kubesim modules: time stamps, ids, copies, names."""

from __future__ import annotations

import json
import random
import string
import time
import uuid
from datetime import UTC, datetime
from typing import Any

# The alphabet apimachinery's ``rand.String`` uses for generateName suffixes (no vowels, no 0/1/3).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

Obj = dict[str, Any]


_last_stamp: tuple[int, str] = (-1, "")


def now_rfc3339(ts: float | None = None) -> str:
    """RFC 3339 with seconds precision and ``Z``, as metadata timestamps are serialised."""
    global _last_stamp
    second = int(time.time() if ts is None else ts)
    cached = _last_stamp  # one tuple read: safe without a lock
    if cached[0] == second:
        return cached[1]
    text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _last_stamp = (second, text)
    return text


def now_rfc3339_micro(ts: float | None = None) -> str:
    """MicroTime as used by Event ``eventTime`` and lease objects."""
    return datetime.fromtimestamp(time.time() if ts is None else ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_rfc3339_nano(ts: float | None = None) -> str:
    """The nanosecond form the kubelet puts in front of log lines with ``timestamps=true``."""
    ts = time.time() if ts is None else ts
    base = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{int((ts % 1) * 1e9):09d}Z"


def parse_rfc3339(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


_uid_rng = random.SystemRandom().getrandbits(64)
_rng = random.Random(_uid_rng)


def new_uid() -> str:
    """A version-4 UUID; from a seeded PRNG because ``os.urandom`` costs ~0.5 ms a call on some hosts."""
    return str(uuid.UUID(int=_rng.getrandbits(128), version=4))


def random_suffix(n: int = 5) -> str:
    return "".join(random.choice(_SUFFIX_ALPHABET) for _ in range(n))


def clone(obj: Any) -> Any:
    """A deep copy of a JSON value; a JSON round trip is faster than ``copy.deepcopy`` here."""
    return json.loads(json.dumps(obj))


def short_hash(data: Any, length: int = 10) -> str:
    """A stable hash in the safe alphabet, like the pod-template-hash label."""
    import hashlib

    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).digest()
    alphabet = _SUFFIX_ALPHABET
    value = int.from_bytes(digest[:8], "big")
    out = []
    for _ in range(length):
        value, rem = divmod(value, len(alphabet))
        out.append(alphabet[rem])
    return "".join(out)


def parse_bool(value: str | None) -> bool:
    """Go's ``strconv.ParseBool``: accepts 1/t/T/TRUE/true/True (and the false forms)."""
    if value is None:
        return False
    return value.strip().lower() in ("1", "t", "true")


def meta(obj: Obj) -> Obj:
    """``obj['metadata']``, created when missing."""
    m = obj.get("metadata")
    if not isinstance(m, dict):
        m = {}
        obj["metadata"] = m
    return m


ALNUM = string.ascii_lowercase + string.digits
