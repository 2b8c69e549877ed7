"""The artifact transfer endpoint the capture and restore Jobs call (no session, no API token).

``PUT /snapshots/<id>/artifact`` with the capture's upload token streams the body to a temporary
file, verifies it with the agent's own reader (footer checksum, manifest), checks it against the
snapshot (its policy version, sanitized unless the policy keeps it raw), then stores it atomically
and marks the snapshot ready. ``GET`` with a restore's download token streams the stored artifact.
A wrong, expired or spent token is a 403 that changes nothing; a corrupt or mismatched artifact is
refused (422) and nothing is kept. Tokens are single-use: the stored hash is cleared by a
conditional UPDATE before any byte is accepted or sent.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from snapshots import tokens
from snapshots.agent import ArtifactError, ArtifactReader, parse_policy
from snapshots.models import RestoreState, Snapshot, SnapshotRestore, SnapshotState
from snapshots.storage import CHUNK_BYTES, StorageError, get_storage, new_key

log = logging.getLogger(__name__)

TOKEN_HEADER = "HTTP_X_MICROSTAX_SNAPSHOT_TOKEN"
SHA256_HEADER = "HTTP_X_MICROSTAX_SHA256"
UPLOADING = (SnapshotState.PENDING, SnapshotState.CAPTURING)


def _forbidden() -> JsonResponse:
    # One answer for unknown snapshots, wrong, expired and spent tokens: nothing to probe.
    return JsonResponse({"error": "invalid or expired transfer token"}, status=403)


@csrf_exempt
@require_http_methods(["GET", "PUT"])
def artifact(request: HttpRequest, snapshot_id: str) -> HttpResponse:
    token = request.META.get(TOKEN_HEADER, "")
    if request.method == "PUT":
        return _upload(request, snapshot_id, token)
    return _download(snapshot_id, token)


def _upload(request: HttpRequest, snapshot_id: str, token: str) -> HttpResponse:
    snapshot = Snapshot.objects.select_related("policy").filter(public_id=snapshot_id).first()
    if snapshot is None or snapshot.state not in UPLOADING:
        return _forbidden()
    if not tokens.valid(token, snapshot.upload_token_hash, snapshot.upload_token_expires_at):
        return _forbidden()
    try:
        length = int(request.META.get("CONTENT_LENGTH") or -1)
    except ValueError:
        length = -1
    if length > settings.MICROSTAX_SNAPSHOT_MAX_BYTES:
        return JsonResponse({"error": "the artifact is larger than this server accepts"}, status=413)
    # Spend the token before reading a byte: a second request with it finds nothing to claim.
    spent = Snapshot.objects.filter(
        pk=snapshot.pk, state__in=UPLOADING, upload_token_hash=snapshot.upload_token_hash
    ).update(upload_token_hash="", upload_token_expires_at=None)
    if not spent:
        return _forbidden()
    with tempfile.TemporaryDirectory(prefix="msx-upload-") as tmp:
        path = Path(tmp) / "artifact.msxsnap"
        try:
            sha256, size = _receive(request, path)
            claimed = request.META.get(SHA256_HEADER)
            if claimed and claimed != sha256:
                raise ArtifactError("the upload does not match the checksum its sender computed")
            reader = ArtifactReader.open(path)
            details = _check(snapshot, reader.manifest)
        except (ArtifactError, _Refused) as exc:
            reason = f"the uploaded artifact was refused: {exc}".replace(str(path), "artifact")
            _refuse(snapshot, reason)
            return JsonResponse({"error": reason}, status=422)
        except OSError as exc:
            reason = f"the upload was interrupted: {exc.strerror or exc}"
            _refuse(snapshot, reason)
            return JsonResponse({"error": reason}, status=400)
        storage = get_storage()
        key = new_key(snapshot.team.slug, snapshot.public_id)
        try:
            with path.open("rb") as handle:
                stored = storage.save(key, handle)
        except StorageError as exc:
            log.warning("storing %s failed: %s", snapshot.public_id, exc)
            _refuse(snapshot, f"storage failed: {exc}")
            return JsonResponse({"error": "the artifact could not be stored"}, status=503)
    with transaction.atomic():
        updated = Snapshot.objects.filter(pk=snapshot.pk, state__in=UPLOADING).update(
            state=SnapshotState.READY,
            state_reason="",
            storage_backend=storage.name,
            storage_key=key,
            sha256=stored.sha256,
            size_bytes=stored.size,
            completed_at=timezone.now(),
            **details,
        )
    if not updated:  # deleted while uploading: do not keep what nobody will track
        storage.delete(key)
        return _forbidden()
    return JsonResponse({"snapshot": snapshot.public_id, "sha256": stored.sha256, "bytes": size}, status=201)


class _Refused(Exception):
    """The artifact is intact but is not what this snapshot may hold."""


def _receive(request: HttpRequest, path: Path) -> tuple[str, int]:
    """Stream the request body to ``path``; (sha256, size)."""
    digest = hashlib.sha256()
    size = 0
    limit = settings.MICROSTAX_SNAPSHOT_MAX_BYTES
    with path.open("wb") as out:
        while True:
            block = request.read(CHUNK_BYTES)
            if not block:
                break
            size += len(block)
            if size > limit:
                raise ArtifactError("the artifact is larger than this server accepts")
            digest.update(block)
            out.write(block)
    return digest.hexdigest(), size


def _check(snapshot: Snapshot, manifest: dict) -> dict:
    """The snapshot fields the manifest fills; _Refused when it contradicts the snapshot."""
    sanitized = bool(manifest.get("sanitized", True))
    keeps_raw = snapshot.policy is not None and snapshot.policy.keep_unsanitized
    if not sanitized and not keeps_raw:
        raise _Refused("it is not sanitized and the snapshot's policy does not keep unsanitized data")
    if (manifest.get("engine") or {}).get("name") not in ("postgresql", snapshot.engine):
        raise _Refused(f"it was captured from {(manifest.get('engine') or {}).get('name')}, not {snapshot.engine}")
    recorded = manifest.get("policy") or {}
    if snapshot.policy is not None:
        policy, _ = parse_policy(snapshot.policy.source)
        if policy is not None and recorded.get("version") != policy.version:
            raise _Refused("it was captured under a different policy than the snapshot's")
    rows = {f"{t['schema']}.{t['name']}": t.get("rows", 0) for t in manifest.get("tables", []) if t.get("captured")}
    return {
        "row_counts": rows,
        "policy_version": str(recorded.get("version", ""))[:80],
        "sanitized": sanitized,
    }


def _refuse(snapshot: Snapshot, reason: str) -> None:
    Snapshot.objects.filter(pk=snapshot.pk, state__in=UPLOADING).update(
        state=SnapshotState.FAILED, state_reason=reason[:500]
    )


def _download(snapshot_id: str, token: str) -> HttpResponse:
    snapshot = Snapshot.objects.filter(public_id=snapshot_id, state=SnapshotState.READY).first()
    if snapshot is None or not token:
        return _forbidden()
    restore = next(
        (
            r
            for r in SnapshotRestore.objects.filter(snapshot=snapshot, state=RestoreState.RUNNING).exclude(
                download_token_hash=""
            )
            if tokens.valid(token, r.download_token_hash, r.download_token_expires_at)
        ),
        None,
    )
    if restore is None:
        return _forbidden()
    spent = SnapshotRestore.objects.filter(pk=restore.pk, download_token_hash=restore.download_token_hash).update(
        download_token_hash="", download_token_expires_at=None
    )
    if not spent:
        return _forbidden()
    try:
        stream = get_storage().open(snapshot.storage_key)
    except StorageError:
        return JsonResponse({"error": "the artifact is not in storage"}, status=404)
    response = FileResponse(stream, content_type="application/octet-stream", filename=f"{snapshot.public_id}.msxsnap")
    response["X-Microstax-Sha256"] = snapshot.sha256
    if snapshot.size_bytes is not None:
        response["Content-Length"] = str(snapshot.size_bytes)
    return response
