"""Symmetric encryption for secrets at rest (cluster credentials), keyed by MICROSTAX_ENCRYPTION_KEY."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


class DecryptionError(Exception):
    """Stored ciphertext cannot be read with the configured key (wrong or rotated key)."""


def _fernet() -> Fernet:
    return Fernet(settings.MICROSTAX_ENCRYPTION_KEY)


def encrypt_json(data: Any) -> str:
    return _fernet().encrypt(json.dumps(data, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> Any:
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise DecryptionError("stored credentials cannot be decrypted with MICROSTAX_ENCRYPTION_KEY") from None
