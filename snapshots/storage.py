"""Where snapshot artifacts live: one small interface, a filesystem and an S3-compatible backend.

Both backends stream: :meth:`Storage.save` reads its source in chunks (memory stays bounded
whatever the artifact's size), computes the size and sha256 while the bytes pass, and publishes
the object only once it is complete — a failed or interrupted write leaves nothing under the
key. :meth:`Storage.open` hands back a readable binary stream, :meth:`Storage.delete` is
idempotent.

>>> storage = get_storage()                    # from settings.MICROSTAX_SNAPSHOT_STORAGE_URL
>>> stored = storage.save("team/snap_x.msxsnap", request_body)
>>> stored.sha256, stored.size
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO, Protocol
from urllib.parse import unquote, urlparse

from django.conf import settings

CHUNK_BYTES = 1 << 20
# S3 multipart parts must be at least 5 MiB (except the last); 8 MiB keeps memory bounded.
PART_BYTES = 8 << 20


class StorageError(Exception):
    """The storage backend failed, or a write was refused (too large, bad key)."""


class TooLarge(StorageError):
    """The stream was longer than the allowed maximum; nothing was kept."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    sha256: str


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Storage(Protocol):
    """The storage interface every backend implements."""

    name: str

    def save(self, key: str, source: Readable, *, max_bytes: int | None = None) -> StoredObject: ...

    def open(self, key: str) -> BinaryIO: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...


def _check_key(key: str) -> str:
    path = PurePosixPath(key)
    if not key or path.is_absolute() or any(part in ("", ".", "..") for part in key.split("/")):
        raise StorageError(f"invalid storage key {key!r}")
    return key


def _chunks(source: Readable, max_bytes: int | None) -> Iterator[bytes]:
    """The source's bytes in chunks, refusing to go past ``max_bytes``."""
    total = 0
    while True:
        block = source.read(CHUNK_BYTES)
        if not block:
            return
        total += len(block)
        if max_bytes is not None and total > max_bytes:
            raise TooLarge(f"the artifact is larger than the allowed {max_bytes} bytes")
        yield block


class FileSystemStorage:
    """Artifacts as files under ``root``; a write goes to a temporary file that is renamed into place."""

    name = "filesystem"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def save(self, key: str, source: Readable, *, max_bytes: int | None = None) -> StoredObject:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        handle = tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=".partial", delete=False
        )
        try:
            with handle:
                for block in _chunks(source, max_bytes):
                    handle.write(block)
                    digest.update(block)
                    size += len(block)
                handle.flush()
                os.fsync(handle.fileno())
            # Rename is atomic on one filesystem: readers see the old object or the whole new one.
            os.replace(handle.name, target)
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
        return StoredObject(key, size, digest.hexdigest())

    def open(self, key: str) -> BinaryIO:
        try:
            return self.path(key).open("rb")
        except FileNotFoundError:
            raise StorageError(f"no stored object {key}") from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


class S3Storage:
    """Artifacts as objects in an S3-compatible bucket (AWS, MinIO, Ceph…), written by multipart upload.

    Parts are uploaded as they fill, so memory holds one part at most; the object appears only
    when the upload is completed, and any failure aborts the upload (no partial object exists).
    """

    name = "s3"

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.session.Session().client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                config=Config(retries={"max_attempts": 5, "mode": "standard"}, s3={"addressing_style": "path"}),
            )
        self.client = client

    def object_key(self, key: str) -> str:
        _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def save(self, key: str, source: Readable, *, max_bytes: int | None = None) -> StoredObject:
        from botocore.exceptions import BotoCoreError, ClientError

        name = self.object_key(key)
        digest = hashlib.sha256()
        size = 0
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        buffer = bytearray()
        try:
            upload_id = self.client.create_multipart_upload(Bucket=self.bucket, Key=name)["UploadId"]
            for block in _chunks(source, max_bytes):
                digest.update(block)
                size += len(block)
                buffer += block
                if len(buffer) >= PART_BYTES:
                    parts.append(self._part(name, upload_id, len(parts) + 1, bytes(buffer)))
                    buffer.clear()
            if buffer or not parts:
                parts.append(self._part(name, upload_id, len(parts) + 1, bytes(buffer)))
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=name, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except BaseException as exc:
            if upload_id is not None:
                try:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
                except Exception:  # noqa: BLE001 - the original failure is the one to report
                    pass
            if isinstance(exc, (ClientError, BotoCoreError)):
                raise StorageError(f"S3 upload of {name} failed: {exc}") from None
            raise
        return StoredObject(key, size, digest.hexdigest())

    def _part(self, name: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        response = self.client.upload_part(
            Bucket=self.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=data
        )
        return {"ETag": response["ETag"], "PartNumber": number}

    def open(self, key: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.object_key(key))["Body"]
        except ClientError as exc:
            raise StorageError(f"no stored object {key}: {exc}") from None

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError:
            return False
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))


def storage_from_url(url: str, **s3_options: Any) -> Storage:
    """``file:///var/snapshots`` or ``s3://bucket/prefix`` (S3 options: endpoint, region, credentials)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FileSystemStorage(unquote(parsed.netloc + parsed.path))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise StorageError(f"{url}: an s3:// storage URL needs a bucket")
        return S3Storage(parsed.netloc, parsed.path, **s3_options)
    raise StorageError(f"unsupported snapshot storage URL {url!r} (expected file:// or s3://)")


def get_storage() -> Storage:
    """The configured backend (read from settings on each call, so tests can override them)."""
    return storage_from_url(
        settings.MICROSTAX_SNAPSHOT_STORAGE_URL,
        **(
            {
                "endpoint_url": settings.MICROSTAX_SNAPSHOT_S3_ENDPOINT_URL,
                "region": settings.MICROSTAX_SNAPSHOT_S3_REGION,
                "access_key_id": settings.MICROSTAX_SNAPSHOT_S3_ACCESS_KEY_ID,
                "secret_access_key": settings.MICROSTAX_SNAPSHOT_S3_SECRET_ACCESS_KEY,
            }
            if settings.MICROSTAX_SNAPSHOT_STORAGE_URL.startswith("s3://")
            else {}
        ),
    )


def new_key(team_slug: str, public_id: str) -> str:
    """A fresh storage key for a snapshot's artifact (a uuid suffix: a retried upload never collides)."""
    return f"{team_slug}/{public_id}-{uuid.uuid4().hex[:12]}.msxsnap"


def copy_to_file(stream: Readable, handle: IO[bytes]) -> int:
    """Copy a stored object into an open file in chunks; returns the bytes copied."""
    total = 0
    for block in _chunks(stream, None):
        handle.write(block)
        total += len(block)
    return total
