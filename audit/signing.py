"""Ed25519 keys that sign the audit trail: loading, the embedded default, signing and checking.

The private key is a PEM file named by ``MICROSTAX_AUDIT_SIGNING_KEY_FILE``. A key is known by its
*key id*: the first 16 hex digits of the SHA-256 of its raw public key, recorded on every event and
checkpoint so a verifier knows which public key to check a signature with.

The file is re-read when it changes (by size and modification time) so that, after
``manage.py audit_rotate_key`` replaced it, every process signs with the new key from its next event.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class SigningKey:
    """A loaded private key with its public half in the two forms the trail records."""

    private: Ed25519PrivateKey
    key_id: str
    public_b64: str

    def sign(self, message: bytes) -> str:
        return self.private.sign(message).hex()


def raw_public(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(public_b64: str) -> str:
    return hashlib.sha256(base64.b64decode(public_b64)).hexdigest()[:16]


def _wrap(private: Ed25519PrivateKey) -> SigningKey:
    public_b64 = base64.b64encode(raw_public(private.public_key())).decode()
    return SigningKey(private=private, key_id=key_id_of(public_b64), public_b64=public_b64)


def new_key() -> SigningKey:
    return _wrap(Ed25519PrivateKey.generate())


def private_pem(key: SigningKey) -> bytes:
    return key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def parse_pem(data: bytes, *, source: str) -> SigningKey:
    try:
        private = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{source}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{source}: the audit signing key must be Ed25519, not {type(private).__name__}")
    return _wrap(private)


def write_key_file(path: Path, key: SigningKey, *, replace: bool) -> None:
    """Write ``key`` to ``path`` (mode 0600) atomically.

    Without ``replace`` an existing file wins: several processes starting at once on a fresh
    checkout must end up with one key, so the file is linked into place only if absent.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, private_pem(key))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        if replace:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
    finally:
        tmp.unlink(missing_ok=True)


_cache: dict[str, tuple[tuple[int, int], SigningKey]] = {}
_cache_lock = threading.Lock()


def current_key() -> SigningKey:
    """The configured signing key; the development default is generated on first use."""
    path = Path(settings.MICROSTAX_AUDIT_SIGNING_KEY_FILE)
    try:
        stat = path.stat()
    except FileNotFoundError:
        if not settings.MICROSTAX_AUDIT_SIGNING_KEY_GENERATE:
            raise ImproperlyConfigured(f"MICROSTAX_AUDIT_SIGNING_KEY_FILE: {path} does not exist") from None
        write_key_file(path, new_key(), replace=False)
        stat = path.stat()
    stamp = (stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        cached = _cache.get(str(path))
        if cached is not None and cached[0] == stamp:
            return cached[1]
    key = parse_pem(path.read_bytes(), source=f"MICROSTAX_AUDIT_SIGNING_KEY_FILE ({path})")
    with _cache_lock:
        _cache[str(path)] = (stamp, key)
    return key


def forget_cached_keys() -> None:
    with _cache_lock:
        _cache.clear()


@functools.lru_cache(maxsize=64)
def _public_key(public_b64: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64))


def verify_signature(public_b64: str, message: bytes, signature_hex: str) -> bool:
    try:
        _public_key(public_b64).verify(bytes.fromhex(signature_hex), message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def endorsement_message(old_key_id: str, new_key_id: str) -> bytes:
    """What a new key signs when it takes over: proof that its holder accepted ``old_key_id`` as its
    predecessor, so whoever holds only an old (or a stranger's) key cannot fabricate a history that
    ends in the current key."""
    return f"microstax-audit-rotation:{old_key_id}->{new_key_id}".encode()
