"""Both storage backends behind one interface: streamed, checksummed, atomic writes.

The S3 backend runs against moto's S3 server on loopback through the unmodified boto3."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from snapshots import storage as storage_module
from snapshots.storage import FileSystemStorage, S3Storage, StorageError, TooLarge, get_storage, storage_from_url


class Exploding(io.RawIOBase):
    """A source that fails after ``good`` bytes, like a client that disconnects mid-upload."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise OSError("connection reset by peer")
        n = min(size if size > 0 else self.left, self.left)
        self.left -= n
        return b"x" * n


class CountingSource(io.BytesIO):
    """Records the largest read, to show the backend never asks for everything at once."""

    largest = 0

    def read(self, size: int = -1) -> bytes:
        CountingSource.largest = max(CountingSource.largest, size)
        return super().read(size)


@pytest.fixture(scope="module")
def moto_server():
    pytest.importorskip("boto3", reason="boto3 is installed from requirements-s3.txt")
    server_module = pytest.importorskip("moto.server", reason="moto is installed from requirements-s3.txt")
    ThreadedMotoServer = server_module.ThreadedMotoServer  # noqa: N806

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(moto_server):
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"snapshots-{os.urandom(4).hex()}"
    client.create_bucket(Bucket=bucket)
    backend = S3Storage(
        bucket,
        "team-prefix",
        endpoint_url=moto_server,
        region="us-east-1",
        access_key_id="test",
        secret_access_key="test",
    )
    return backend, client, bucket


@pytest.fixture
def filesystem(tmp_path):
    return FileSystemStorage(tmp_path / "store")


@pytest.fixture(params=["filesystem", "s3"])
def backend(request):
    return request.getfixturevalue("filesystem") if request.param == "filesystem" else request.getfixturevalue("s3")[0]


def test_a_saved_object_reads_back_with_its_size_and_sha256(backend) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    stored = backend.save("payments/snap_a.msxsnap", io.BytesIO(data))
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert backend.exists("payments/snap_a.msxsnap")
    with backend.open("payments/snap_a.msxsnap") as handle:
        assert handle.read() == data


def test_writes_are_streamed_in_bounded_chunks(backend) -> None:
    CountingSource.largest = 0
    backend.save("big.msxsnap", CountingSource(b"y" * (5 * 1024 * 1024)))
    assert 0 < CountingSource.largest <= storage_module.CHUNK_BYTES


def test_an_interrupted_write_leaves_nothing_and_keeps_the_previous_object(backend) -> None:
    backend.save("k.msxsnap", io.BytesIO(b"previous"))
    with pytest.raises(OSError):
        backend.save("k.msxsnap", Exploding(2 * 1024 * 1024))
    with backend.open("k.msxsnap") as handle:
        assert handle.read() == b"previous"
    with pytest.raises(OSError):
        backend.save("new.msxsnap", Exploding(10))
    assert not backend.exists("new.msxsnap")


def test_a_stream_over_the_limit_is_refused_and_not_kept(backend) -> None:
    with pytest.raises(TooLarge):
        backend.save("huge.msxsnap", io.BytesIO(b"z" * 5000), max_bytes=4096)
    assert not backend.exists("huge.msxsnap")


def test_delete_is_idempotent(backend) -> None:
    backend.save("gone.msxsnap", io.BytesIO(b"data"))
    backend.delete("gone.msxsnap")
    backend.delete("gone.msxsnap")
    assert not backend.exists("gone.msxsnap")
    with pytest.raises(StorageError):
        backend.open("gone.msxsnap")


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", "."])
def test_keys_cannot_escape_the_root(filesystem, key) -> None:
    with pytest.raises(StorageError):
        filesystem.save(key, io.BytesIO(b"x"))


def test_the_filesystem_backend_leaves_no_partial_files(filesystem) -> None:
    with pytest.raises(OSError):
        filesystem.save("team/x.msxsnap", Exploding(100))
    assert list((filesystem.root / "team").iterdir()) == []


def test_s3_objects_live_under_the_prefix_and_failed_uploads_are_aborted(s3) -> None:
    backend, client, bucket = s3
    backend.save("payments/snap_b.msxsnap", io.BytesIO(b"artifact"))
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == ["team-prefix/payments/snap_b.msxsnap"]
    with pytest.raises(OSError):
        backend.save("payments/broken.msxsnap", Exploding(9 * 1024 * 1024))
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert not backend.exists("payments/broken.msxsnap")


def test_the_backend_comes_from_the_storage_url(settings, tmp_path, moto_server) -> None:
    settings.MICROSTAX_SNAPSHOT_STORAGE_URL = f"file://{tmp_path}/snaps"
    assert isinstance(get_storage(), FileSystemStorage)
    assert get_storage().root == tmp_path / "snaps"
    settings.MICROSTAX_SNAPSHOT_STORAGE_URL = "s3://bucket/some/prefix"
    settings.MICROSTAX_SNAPSHOT_S3_ENDPOINT_URL = moto_server
    settings.MICROSTAX_SNAPSHOT_S3_REGION = "eu-west-1"
    backend = get_storage()
    assert isinstance(backend, S3Storage)
    assert (backend.bucket, backend.prefix) == ("bucket", "some/prefix")
    assert backend.client.meta.region_name == "eu-west-1"
    with pytest.raises(StorageError):
        storage_from_url("ftp://nowhere")


def test_settings_read_the_storage_and_s3_credentials_from_files(tmp_path, monkeypatch) -> None:
    import importlib

    from microstax import settings as settings_module

    secret = tmp_path / "secret"
    secret.write_text("s3cr3t\n")
    monkeypatch.setenv("MICROSTAX_SNAPSHOT_STORAGE_URL", "s3://b/p")
    monkeypatch.setenv("MICROSTAX_SNAPSHOT_S3_SECRET_ACCESS_KEY_FILE", str(secret))
    try:
        reloaded = importlib.reload(settings_module)
        assert reloaded.MICROSTAX_SNAPSHOT_STORAGE_URL == "s3://b/p"
        assert reloaded.MICROSTAX_SNAPSHOT_S3_SECRET_ACCESS_KEY == "s3cr3t"
        monkeypatch.setenv("MICROSTAX_SNAPSHOT_STORAGE_URL", "ftp://x")
        from django.core.exceptions import ImproperlyConfigured

        with pytest.raises(ImproperlyConfigured):
            importlib.reload(settings_module)
    finally:
        monkeypatch.undo()
        importlib.reload(settings_module)
