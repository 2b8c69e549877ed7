"""The snapshot artifact: one self-describing, checksummed file, written and read as a stream.

Layout (all integers big-endian)::

    b"MSXSNAP1\\n"                                   magic and format version
    member*                                          in order: schema-pre.sql, data/<schema>.<table>.copy …,
                                                     schema-post.sql, manifest.json (always last)
    b"F" u64(manifest offset) b"sha256:" hex64 b"\\n"  footer

    member := b"M" u16(len(name)) name  ( u32(len) bytes )*  u32(0)

Data members are chunked because their size is unknown until the table has been streamed; the
manifest comes last because it records what was written (row counts, each member's sha256 and
size). The footer's sha256 covers every byte before ``sha256:``, so a reader can refuse a
truncated or altered file before restoring anything; the same digest over the whole file is
written to ``FILE.sha256`` in ``sha256sum`` format for tools outside MicroStax. ``manifest.json``:

    {"format": "microstax-snapshot", "formatVersion": 1, "engine": {...}, "created": "...",
     "policy": {"name", "version", "strict"}, "tables": [{"schema", "name", "columns", "rows",
     "member", "captured", "rules"}], "sequences": [...], "members": {name: {"sha256", "bytes"}}}
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from snapshots.agent.errors import SnapshotAgentError

MAGIC = b"MSXSNAP1\n"
FORMAT = "microstax-snapshot"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SCHEMA_PRE = "schema-pre.sql"
SCHEMA_POST = "schema-post.sql"
CHUNK_BYTES = 1 << 20
_FOOTER = struct.Struct(">cQ7s64sc")  # b"F", manifest offset, b"sha256:", hex digest, b"\n"
_READ_BYTES = 1 << 20


class ArtifactError(SnapshotAgentError):
    """The artifact is unreadable, truncated, of another format, or fails its checksum."""


def data_member(schema: str, table: str) -> str:
    return f"data/{schema}.{table}.copy"


class _HashingFile:
    """A file opened for writing that hashes everything written through it."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.offset = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.handle.write(data)
        self.digest.update(data)
        self.offset += len(data)


class MemberWriter:
    """Streams one member's bytes into the artifact, in chunks, hashing them as they pass."""

    def __init__(self, out: _HashingFile, name: str) -> None:
        self._out = out
        self.name = name
        self.digest = hashlib.sha256()
        self.size = 0
        self.lines = 0  # newline bytes written: the row count of a text-format COPY member
        self._buffer = bytearray()
        encoded = name.encode()
        out.write(b"M" + struct.pack(">H", len(encoded)) + encoded)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        # COPY hands over one row at a time; buffering makes chunks large and framing cheap.
        self._buffer += data
        if len(self._buffer) >= CHUNK_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._out.write(struct.pack(">I", len(self._buffer)))
            self._out.write(self._buffer)
            self.digest.update(self._buffer)
            self.size += len(self._buffer)
            self.lines += self._buffer.count(b"\n")
            self._buffer = bytearray()

    def close(self) -> dict[str, Any]:
        self._flush()
        self._out.write(struct.pack(">I", 0))
        return {"sha256": self.digest.hexdigest(), "bytes": self.size}


class ArtifactWriter:
    """Writes an artifact to ``path``; the file only appears under its name once complete.

    Use as a context manager: members are opened with :meth:`member` (one at a time), and
    :meth:`finish` writes the manifest and footer. Leaving the block without ``finish`` (an error
    mid-capture) removes the partial file, so a half-written artifact never looks like a snapshot.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._partial = self.path.with_name(self.path.name + ".partial")
        self._handle: BinaryIO | None = None
        self._out: _HashingFile | None = None
        self.members: dict[str, dict[str, Any]] = {}
        self.sha256: str | None = None

    def __enter__(self) -> ArtifactWriter:
        self._handle = self._partial.open("wb")
        self._out = _HashingFile(self._handle)
        self._out.write(MAGIC)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
        if self.sha256 is None:
            self._partial.unlink(missing_ok=True)

    def member(self, name: str) -> MemberWriter:
        assert self._out is not None, "use ArtifactWriter as a context manager"
        if name in self.members or name == MANIFEST:
            raise ValueError(f"member {name} written twice")
        return MemberWriter(self._out, name)

    def add(self, name: str, data: bytes) -> dict[str, Any]:
        """Write a whole member at once; returns its ``{sha256, bytes}``."""
        writer = self.member(name)
        writer.write(data)
        return self.record(writer)

    def record(self, writer: MemberWriter) -> dict[str, Any]:
        info = writer.close()
        self.members[writer.name] = info
        return info

    def finish(self, manifest: dict[str, Any]) -> str:
        """Write the manifest and the footer, fsync, publish the file; returns the file's sha256."""
        assert self._out is not None and self._handle is not None
        manifest = {**manifest, "members": self.members}
        offset = self._out.offset
        writer = MemberWriter(self._out, MANIFEST)
        writer.write(json.dumps(manifest, indent=2, sort_keys=True).encode())
        writer.close()
        self._out.write(b"F" + struct.pack(">Q", offset) + b"sha256:")
        body_digest = self._out.digest.copy().hexdigest()
        self._out.write(body_digest.encode() + b"\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        file_digest = self._out.digest.hexdigest()
        os.replace(self._partial, self.path)
        self.path.with_name(self.path.name + ".sha256").write_text(f"{file_digest}  {self.path.name}\n")
        self.sha256 = file_digest
        return file_digest


class ArtifactReader:
    """Reads an artifact after checking it: :meth:`open` verifies the footer checksum first."""

    def __init__(self, path: Path, manifest: dict[str, Any], index: dict[str, int]) -> None:
        self.path = path
        self.manifest = manifest
        self._index = index  # member name → offset of its first chunk

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> ArtifactReader:
        """Verify the whole file's checksum (and the ``.sha256`` sidecar when present), then index it."""
        path = Path(path)
        try:
            size = path.stat().st_size
            if size < len(MAGIC) + _FOOTER.size:
                raise ArtifactError(f"{path} is too short to be a snapshot artifact")
            with path.open("rb") as handle:
                if handle.read(len(MAGIC)) != MAGIC:
                    raise ArtifactError(f"{path} is not a MicroStax snapshot artifact (bad magic)")
                digest = hashlib.sha256(MAGIC)
                covered = size - 64 - 1  # everything before the hex digest and newline
                remaining = covered - len(MAGIC)
                while remaining:
                    block = handle.read(min(_READ_BYTES, remaining))
                    if not block:
                        raise ArtifactError(f"{path} is truncated")
                    digest.update(block)
                    remaining -= len(block)
                handle.seek(size - _FOOTER.size)
                tag, offset, label, recorded, newline = _FOOTER.unpack(handle.read(_FOOTER.size))
                if tag != b"F" or label != b"sha256:" or newline != b"\n":
                    raise ArtifactError(f"{path} has no valid footer (truncated or not an artifact)")
                if recorded.decode("ascii", "replace") != digest.hexdigest():
                    raise ArtifactError(f"{path} fails its checksum: the artifact is corrupted; nothing was restored")
                digest.update(recorded + newline)
                _check_sidecar(path, digest.hexdigest())
                index = _index_members(handle, size - _FOOTER.size)
        except OSError as exc:
            raise ArtifactError(f"cannot read {path}: {exc.strerror or exc}") from None
        if MANIFEST not in index or index[MANIFEST] < offset:
            raise ArtifactError(f"{path} has no manifest")
        reader = cls(path, {}, index)
        try:
            manifest = json.loads(b"".join(reader.chunks(MANIFEST)))
        except ValueError as exc:
            raise ArtifactError(f"{path}: manifest is not valid JSON ({exc})") from None
        if manifest.get("format") != FORMAT or manifest.get("formatVersion") != FORMAT_VERSION:
            raise ArtifactError(
                f"{path}: unsupported artifact format {manifest.get('format')!r} v{manifest.get('formatVersion')!r}"
            )
        reader.manifest = manifest
        return reader

    def chunks(self, name: str, *, verify: bool = True) -> Iterator[bytes]:
        """The bytes of member ``name`` in chunks; with ``verify`` the member's recorded sha256 is
        checked at the end (ArtifactError when the file changed since :meth:`open`)."""
        if name not in self._index:
            raise ArtifactError(f"{self.path} has no member {name}")
        expected = self.manifest.get("members", {}).get(name, {}).get("sha256") if verify else None
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            handle.seek(self._index[name])
            while True:
                header = handle.read(4)
                if len(header) != 4:
                    raise ArtifactError(f"{self.path}: member {name} is truncated")
                (length,) = struct.unpack(">I", header)
                if length == 0:
                    break
                block = handle.read(length)
                if len(block) != length:
                    raise ArtifactError(f"{self.path}: member {name} is truncated")
                digest.update(block)
                yield block
        if expected is not None and digest.hexdigest() != expected:
            raise ArtifactError(f"{self.path}: member {name} fails its checksum")

    def read(self, name: str) -> bytes:
        return b"".join(self.chunks(name))

    def member_names(self) -> list[str]:
        return list(self._index)


def _check_sidecar(path: Path, digest: str) -> None:
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.exists():
        recorded = sidecar.read_text().split()[:1]
        if recorded != [digest]:
            raise ArtifactError(
                f"{path} does not match {sidecar.name}: the artifact is corrupted; nothing was restored"
            )


def _index_members(handle: BinaryIO, end: int) -> dict[str, int]:
    """Walk the member headers and chunk lengths (seeking over data) to find each member."""
    index: dict[str, int] = {}
    position = len(MAGIC)
    handle.seek(position)
    while position < end:
        head = handle.read(3)
        if len(head) != 3 or head[:1] != b"M":
            raise ArtifactError("artifact member table is damaged")
        (name_length,) = struct.unpack(">H", head[1:])
        name = handle.read(name_length).decode("utf-8", "replace")
        position += 3 + name_length
        index[name] = position
        while True:
            (length,) = struct.unpack(">I", handle.read(4))
            position += 4 + length
            if length == 0:
                break
            handle.seek(position)
        if position > end:
            raise ArtifactError("artifact member table is damaged")
    return index
