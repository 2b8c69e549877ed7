"""Redaction of secret-looking values before anything is written to the audit trail."""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[redacted]"
# Matched at the end of a key, so ``accessToken`` and ``db_password`` are caught but ``token_name``
# and ``author`` are not.
_SECRET_KEY = re.compile(
    r"(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credentials?|kubeconfig|authorization"
    r"|cookie|salt|dsn)$",
    re.I,
)
_SECRET_VALUE = re.compile(r"(msx_[A-Za-z0-9_-]{8,}|-----BEGIN [A-Z ]*PRIVATE KEY-----|eyJ[A-Za-z0-9_-]{10,}\.)")


def redact(value: Any, *, key: str | None = None) -> Any:
    """Return a copy of ``value`` with secret-looking keys and values replaced by ``[redacted]``."""
    if key is not None and _SECRET_KEY.search(key) and value not in (None, "", [], {}):
        if not isinstance(value, bool):
            return REDACTED
    if isinstance(value, dict):
        return {str(k): redact(v, key=str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str) and _SECRET_VALUE.search(value):
        return REDACTED
    return value
