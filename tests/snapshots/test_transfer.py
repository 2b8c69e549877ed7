"""The artifact endpoint the Jobs call: single-use expiring tokens, verified uploads, streamed downloads."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from snapshots import tokens
from snapshots.actions import create_policy
from snapshots.agent.artifact import FORMAT, FORMAT_VERSION, SCHEMA_POST, SCHEMA_PRE, ArtifactWriter
from snapshots.models import RestoreState, SnapshotRestore, SnapshotState
from tests.snapshots_agent.pii import POLICY_YAML

HEADER = "HTTP_X_MICROSTAX_SNAPSHOT_TOKEN"


def artifact_bytes(tmp_path: Path, *, sanitized: bool = True, version: str = "v1", rows: int = 3) -> bytes:
    """A well-formed artifact, as the agent writes it (no database needed)."""
    path = tmp_path / f"a-{sanitized}-{version}.msxsnap"
    with ArtifactWriter(path) as writer:
        writer.add(SCHEMA_PRE, b"CREATE TABLE t (v text);")
        member = writer.member("data/public.t.copy")
        member.write(b"".join(f"row{i}\n".encode() for i in range(rows)))
        writer.record(member)
        writer.add(SCHEMA_POST, b"")
        writer.finish(
            {
                "format": FORMAT,
                "formatVersion": FORMAT_VERSION,
                "engine": {"name": "postgresql", "serverVersion": 170000},
                "policy": {"name": "shop-dev", "version": version, "strict": True},
                "sanitized": sanitized,
                "tables": [
                    {"schema": "public", "name": "t", "captured": True, "rows": rows, "member": "data/public.t.copy"}
                ],
                "sequences": [],
            }
        )
    return path.read_bytes()


@pytest.fixture
def env(db, team, owner, sandbox_cluster):
    from environments.models import Environment

    return Environment.objects.create(
        public_id="env_transfer1", team=team, name="shop", cluster=sandbox_cluster, namespace="env-shop-1",
        spec={"services": []}, created_by=owner, state="ready",
    )  # fmt: skip


@pytest.fixture
def capturing(env, make_snapshot):
    """A snapshot whose capture Job holds a fresh upload token."""
    token, token_hash, expires = tokens.mint()
    snapshot = make_snapshot(
        env, state=SnapshotState.CAPTURING, upload_token_hash=token_hash, upload_token_expires_at=expires
    )
    return snapshot, token


def put(snapshot, body: bytes, token: str | None):
    extra = {HEADER: token} if token is not None else {}
    return Client().generic(
        "PUT",
        reverse("snapshots:artifact", args=[snapshot.public_id]),
        body,
        content_type="application/octet-stream",
        **extra,
    )


def stored_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_good_upload_is_verified_stored_and_makes_the_snapshot_ready(capturing, tmp_path, snapshot_storage) -> None:
    snapshot, token = capturing
    body = artifact_bytes(tmp_path, rows=5)

    response = put(snapshot, body, token)

    assert response.status_code == 201, response.content
    snapshot.refresh_from_db()
    import hashlib

    assert snapshot.state == SnapshotState.READY
    assert snapshot.sha256 == hashlib.sha256(body).hexdigest() == response.json()["sha256"]
    assert (snapshot.size_bytes, snapshot.row_counts, snapshot.policy_version) == (len(body), {"public.t": 5}, "v1")
    assert snapshot.upload_token_hash == ""
    assert [p.read_bytes() for p in stored_files(snapshot_storage)] == [body]
    assert snapshot.storage_key and snapshot.storage_key.startswith("payments/")


@pytest.mark.parametrize("token", [None, "", "msxsnap_wrong", "not-even-a-token"])
def test_a_wrong_or_missing_token_is_refused_and_changes_nothing(capturing, tmp_path, snapshot_storage, token) -> None:
    snapshot, _ = capturing
    before = snapshot.upload_token_hash

    response = put(snapshot, artifact_bytes(tmp_path), token)

    assert response.status_code == 403
    snapshot.refresh_from_db()
    assert (snapshot.state, snapshot.upload_token_hash) == (SnapshotState.CAPTURING, before)
    assert stored_files(snapshot_storage) == []


def test_a_token_works_once(capturing, tmp_path, snapshot_storage) -> None:
    snapshot, token = capturing
    assert put(snapshot, artifact_bytes(tmp_path), token).status_code == 201
    key = type(snapshot).objects.get(pk=snapshot.pk).storage_key

    again = put(snapshot, artifact_bytes(tmp_path, rows=9), token)

    assert again.status_code == 403
    snapshot.refresh_from_db()
    assert (snapshot.storage_key, snapshot.row_counts) == (key, {"public.t": 3})
    assert len(stored_files(snapshot_storage)) == 1


def test_an_expired_token_is_refused(capturing, tmp_path, snapshot_storage) -> None:
    snapshot, token = capturing
    type(snapshot).objects.filter(pk=snapshot.pk).update(upload_token_expires_at=timezone.now() - timedelta(seconds=1))

    assert put(snapshot, artifact_bytes(tmp_path), token).status_code == 403
    snapshot.refresh_from_db()
    assert snapshot.state == SnapshotState.CAPTURING and stored_files(snapshot_storage) == []


def test_a_token_of_another_snapshot_is_refused(capturing, env, make_snapshot, tmp_path) -> None:
    snapshot, token = capturing
    other = make_snapshot(env, state=SnapshotState.CAPTURING, upload_token_hash=tokens.mint()[1])
    assert put(other, artifact_bytes(tmp_path), token).status_code == 403
    assert put(snapshot, artifact_bytes(tmp_path), token).status_code == 201


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_a_corrupt_artifact_is_refused_and_nothing_is_kept(capturing, tmp_path, snapshot_storage, damage) -> None:
    snapshot, token = capturing
    body = bytearray(artifact_bytes(tmp_path))
    if damage == "flip":
        body[40] ^= 0xFF
    elif damage == "truncate":
        body = body[: len(body) // 2]
    else:
        body = bytearray(b"definitely not an artifact" * 10)

    response = put(snapshot, bytes(body), token)

    assert response.status_code == 422
    assert "refused" in response.json()["error"]
    snapshot.refresh_from_db()
    assert snapshot.state == SnapshotState.FAILED and "refused" in snapshot.state_reason
    assert (snapshot.storage_key, snapshot.sha256) == ("", "")
    assert stored_files(snapshot_storage) == []


def test_an_unsanitized_artifact_needs_a_policy_that_keeps_it(capturing, tmp_path, snapshot_storage) -> None:
    snapshot, token = capturing
    response = put(snapshot, artifact_bytes(tmp_path, sanitized=False), token)
    assert response.status_code == 422 and "not sanitized" in response.json()["error"]
    assert stored_files(snapshot_storage) == []


def test_an_artifact_of_another_policy_is_refused(env, make_snapshot, team, owner, tmp_path, snapshot_storage) -> None:
    policy = create_policy(actor=owner, team=team, name="shop-dev", source=POLICY_YAML)
    token, token_hash, expires = tokens.mint()
    snapshot = make_snapshot(
        env, state=SnapshotState.CAPTURING, policy=policy, upload_token_hash=token_hash, upload_token_expires_at=expires
    )
    response = put(snapshot, artifact_bytes(tmp_path, version="someone-elses"), token)
    assert response.status_code == 422 and "different policy" in response.json()["error"]
    assert stored_files(snapshot_storage) == []


def test_a_restore_token_downloads_the_artifact_once(capturing, env, owner, tmp_path) -> None:
    snapshot, upload_token = capturing
    body = artifact_bytes(tmp_path)
    assert put(snapshot, body, upload_token).status_code == 201
    token, token_hash, expires = tokens.mint()
    restore = SnapshotRestore.objects.create(
        snapshot=snapshot, environment=env, service="db", requested_by=owner, state=RestoreState.RUNNING,
        download_token_hash=token_hash, download_token_expires_at=expires,
    )  # fmt: skip
    url = reverse("snapshots:artifact", args=[snapshot.public_id])

    assert Client().get(url, **{HEADER: "msxsnap_wrong"}).status_code == 403
    assert Client().get(url, **{HEADER: upload_token}).status_code == 403
    response = Client().get(url, **{HEADER: token})

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == body
    assert response["X-Microstax-Sha256"] == type(snapshot).objects.get(pk=snapshot.pk).sha256
    restore.refresh_from_db()
    assert restore.download_token_hash == ""
    assert Client().get(url, **{HEADER: token}).status_code == 403


def test_an_expired_restore_token_is_refused(capturing, env, owner, tmp_path) -> None:
    snapshot, upload_token = capturing
    put(snapshot, artifact_bytes(tmp_path), upload_token)
    token, token_hash, _ = tokens.mint()
    SnapshotRestore.objects.create(
        snapshot=snapshot, environment=env, service="db", requested_by=owner, state=RestoreState.RUNNING,
        download_token_hash=token_hash, download_token_expires_at=timezone.now() - timedelta(minutes=1),
    )  # fmt: skip
    url = reverse("snapshots:artifact", args=[snapshot.public_id])
    assert Client().get(url, **{HEADER: token}).status_code == 403


def test_uploads_and_downloads_work_the_same_on_s3_storage(capturing, env, owner, tmp_path, settings) -> None:
    pytest.importorskip("boto3", reason="boto3 is installed from requirements-s3.txt")
    server_module = pytest.importorskip("moto.server", reason="moto is installed from requirements-s3.txt")
    import boto3

    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
        ).create_bucket(Bucket="artifacts")
        settings.MICROSTAX_SNAPSHOT_STORAGE_URL = "s3://artifacts/msx"
        settings.MICROSTAX_SNAPSHOT_S3_ENDPOINT_URL = endpoint
        settings.MICROSTAX_SNAPSHOT_S3_REGION = "us-east-1"
        settings.MICROSTAX_SNAPSHOT_S3_ACCESS_KEY_ID = "k"
        settings.MICROSTAX_SNAPSHOT_S3_SECRET_ACCESS_KEY = "s"
        snapshot, upload_token = capturing
        body = artifact_bytes(tmp_path)

        assert put(snapshot, body, upload_token).status_code == 201
        snapshot.refresh_from_db()
        assert snapshot.storage_backend == "s3"

        token, token_hash, expires = tokens.mint()
        SnapshotRestore.objects.create(
            snapshot=snapshot, environment=env, service="db", requested_by=owner, state=RestoreState.RUNNING,
            download_token_hash=token_hash, download_token_expires_at=expires,
        )  # fmt: skip
        response = Client().get(reverse("snapshots:artifact", args=[snapshot.public_id]), **{HEADER: token})
        assert response.status_code == 200 and b"".join(response.streaming_content) == body
    finally:
        server.stop()
