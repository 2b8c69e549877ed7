"""The artifact container on its own: round trip, corruption and truncation, partial files."""

from __future__ import annotations

from pathlib import Path

import pytest

from snapshots.agent.artifact import FORMAT, FORMAT_VERSION, MANIFEST, ArtifactError, ArtifactReader, ArtifactWriter

MANIFEST_DATA = {"format": FORMAT, "formatVersion": FORMAT_VERSION, "engine": {"name": "postgresql"}}


def write(path: Path, big: bytes = b"x\ty\n" * 400_000) -> str:
    with ArtifactWriter(path) as artifact:
        artifact.add("schema-pre.sql", b"CREATE TABLE t (a text);")
        member = artifact.member("data/public.t.copy")
        for start in range(0, len(big), 7_777):  # odd slices: chunking must not depend on them
            member.write(big[start : start + 7_777])
        artifact.record(member)
        return artifact.finish(MANIFEST_DATA)


def test_members_round_trip_with_their_checksums(tmp_path: Path) -> None:
    path = tmp_path / "a.msxsnap"
    big = b"x\ty\n" * 400_000
    digest = write(path, big)
    reader = ArtifactReader.open(path)
    assert reader.read("data/public.t.copy") == big
    assert reader.read("schema-pre.sql") == b"CREATE TABLE t (a text);"
    assert reader.manifest["members"]["data/public.t.copy"]["bytes"] == len(big)
    assert reader.member_names() == ["schema-pre.sql", "data/public.t.copy", MANIFEST]
    assert (tmp_path / "a.msxsnap.sha256").read_text() == f"{digest}  a.msxsnap\n"


@pytest.mark.parametrize("where", [10, 1_000_000, -40, -100])
def test_any_flipped_byte_fails_the_checksum(tmp_path: Path, where: int) -> None:
    path = tmp_path / "a.msxsnap"
    write(path)
    (tmp_path / "a.msxsnap.sha256").unlink()
    data = bytearray(path.read_bytes())
    data[where] ^= 0x20
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="checksum|footer"):
        ArtifactReader.open(path)


def test_truncated_and_foreign_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.msxsnap"
    write(path)
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(ArtifactError):
        ArtifactReader.open(path)
    other = tmp_path / "b.tar"
    other.write_bytes(b"\0" * 4096)
    with pytest.raises(ArtifactError, match="not a MicroStax snapshot"):
        ArtifactReader.open(other)
    with pytest.raises(ArtifactError, match="cannot read"):
        ArtifactReader.open(tmp_path / "missing")


def test_a_sidecar_that_disagrees_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.msxsnap"
    write(path)
    (tmp_path / "a.msxsnap.sha256").write_text("0" * 64 + "  a.msxsnap\n")
    with pytest.raises(ArtifactError, match="does not match"):
        ArtifactReader.open(path)


def test_an_interrupted_capture_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "a.msxsnap"
    with pytest.raises(RuntimeError), ArtifactWriter(path) as artifact:
        artifact.add("schema-pre.sql", b"--")
        raise RuntimeError("connection lost")
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.msxsnap"
    with ArtifactWriter(path) as artifact:
        artifact.finish({**MANIFEST_DATA, "formatVersion": 99})
    with pytest.raises(ArtifactError, match="unsupported artifact format"):
        ArtifactReader.open(path)
