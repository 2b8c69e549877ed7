"""Single-use, expiring transfer tokens for the capture and restore Jobs.

A token is random (``msxsnap_`` + 256 bits), handed to the Job through a Secret, and only its
sha256 is stored (``Snapshot.upload_token_hash``, ``SnapshotRestore.download_token_hash``). It
expires ``MICROSTAX_SNAPSHOT_TOKEN_MINUTES`` after it was minted and is spent by its first use:
the view clears the stored hash with a conditional UPDATE, so two requests with one token cannot
both succeed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

PREFIX = "msxsnap_"


def mint() -> tuple[str, str, datetime]:
    """A new token, the hash to store, and when it expires."""
    token = PREFIX + secrets.token_urlsafe(32)
    return token, digest(token), timezone.now() + timedelta(minutes=settings.MICROSTAX_SNAPSHOT_TOKEN_MINUTES)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def valid(token: str | None, stored_hash: str, expires_at: datetime | None) -> bool:
    """Constant-time check of a presented token against a stored hash and its expiry."""
    if not token or not stored_hash or expires_at is None or timezone.now() >= expires_at:
        return False
    return hmac.compare_digest(digest(token), stored_hash)
