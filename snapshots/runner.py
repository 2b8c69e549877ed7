"""Carrying out snapshot and restore Operations, and restores at provisioning time.

The provisioner hands over operations of kind ``snapshot`` and ``restore`` (:func:`run`). Each
renders one transfer (:mod:`snapshots.jobs`) with a freshly minted single-use token, applies it,
waits for the Job, checks that the artifact actually travelled (a Job can succeed without doing
anything: on a simulated cluster no agent runs), and removes the transfer's objects. A failed
transfer fails the snapshot or restore and the Operation — never the environment, whose services
are untouched by a capture.

Restores at provisioning time (a blueprint ``snapshot:`` section, or a replay) go through
:func:`prepare_provisioning_restore` — which resolves the snapshot, applies governance and mints the
token, so the renderer places the restore Job in its service's seed wave — and
:func:`conclude_provisioning_restore` once the waves are done.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit.actions import record
from environments.choices import OperationKind, OperationState
from environments.provisioning import OperationFailed
from environments.render import RenderError
from microstax import kube
from microstax.kube.labels import SERVICE
from microstax.lib.errors import DomainError
from snapshots import actions, jobs, tokens
from snapshots.models import RestoreState, Snapshot, SnapshotRestore, SnapshotState

if TYPE_CHECKING:
    from environments.provisioning import Provisioner

log = logging.getLogger(__name__)


def job_timeout() -> float:
    """How long to wait for a transfer Job: within the task's own timeout, so the worker that waits
    is never taken for dead (a bigger database needs a larger ``MICROSTAX_TASK_TIMEOUT``)."""
    return max(float(settings.Q_CLUSTER["timeout"]) - 30.0, 30.0)


SIMULATED = (
    "the cluster is simulated (kind sandbox): its Jobs complete without running anything, so no snapshot agent ran"
)


class TransferFailed(OperationFailed):
    """A transfer could not complete; ``reason`` is shown on the snapshot or restore."""


def artifact_url(snapshot: Snapshot) -> str:
    return settings.MICROSTAX_PUBLIC_URL + reverse("snapshots:artifact", args=[snapshot.public_id])


def _simulated(provisioner: Provisioner) -> bool:
    return provisioner.env.cluster.kind == "sandbox"


def _service(provisioner: Provisioner, name: str) -> dict:
    service = next((s for s in provisioner.env.spec["services"] if s["name"] == name), None)
    if service is None:
        raise TransferFailed(f"{provisioner.env.public_id} no longer has a service '{name}'")
    return service


def run(provisioner: Provisioner) -> str:
    """The body of a snapshot or restore Operation; returns the task's summary."""
    operation = provisioner.operation
    try:
        if operation.kind == OperationKind.SNAPSHOT:
            _capture(provisioner)
        else:
            _restore(provisioner)
    except (OperationFailed, kube.KubeError, RenderError, DomainError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "message", None) or str(exc)
        _fail(provisioner, reason)
        return f"failed: {reason}"
    provisioner.finish(OperationState.SUCCEEDED)
    return "succeeded"


def _fail(provisioner: Provisioner, reason: str) -> None:
    operation = provisioner.operation
    log.info("operation %s failed: %s", operation.public_id, reason)
    with transaction.atomic():
        provisioner.finish(OperationState.FAILED, reason)
        snapshot_id = str(operation.params.get("snapshot", ""))
        if operation.kind == OperationKind.SNAPSHOT:
            # A snapshot the upload already refused keeps the upload's (more precise) reason.
            Snapshot.objects.filter(
                public_id=snapshot_id, state__in=[SnapshotState.PENDING, SnapshotState.CAPTURING]
            ).update(state=SnapshotState.FAILED, state_reason=reason[:500], upload_token_hash="")
        else:
            restore = SnapshotRestore.objects.filter(pk=operation.params.get("restore")).first()
            if restore is not None:
                actions.restore_failed(restore, reason)
        record(
            action=f"snapshot.{'create' if operation.kind == OperationKind.SNAPSHOT else 'restore'}.failed",
            actor=operation.actor,
            team=provisioner.env.team,
            target_type="snapshot",
            target_id=snapshot_id,
            outcome="failure",
            reason=reason[:2000],
        )


def _run_job(provisioner: Provisioner, objects: list[dict], what: str) -> None:
    """Apply the transfer, wait for its Job, and always remove its objects again."""
    job = next(o for o in objects if o["kind"] == "Job")
    try:
        with provisioner.step(f"apply {what} job") as details:
            report = kube.apply(
                provisioner.cluster,
                objects,
                environment_id=provisioner.env.public_id,
                team_slug=provisioner.env.team.slug,
            )
            details.update(job=job["metadata"]["name"], created=len(report.created))
        with provisioner.step(f"wait for the {what} job") as details:
            live_job = next(o for o in report.objects if o.get("kind") == "Job")
            readiness = kube.wait_ready(provisioner.cluster, [live_job], job_timeout())
            details["seconds"] = round(readiness.elapsed, 3)
            if not readiness.ready:
                item = (readiness.failed or readiness.pending)[0]
                text = f"{item.reason}: {item.message}" if item.message else str(item.reason)
                prefix = "timed out: " if readiness.timed_out else ""
                said = _agent_said(provisioner, job)
                raise TransferFailed(
                    f"the {what} job did not complete: {prefix}{text}" + (f"; agent: {said}" if said else "")
                )
    finally:
        with provisioner.step(f"remove the {what} job") as details:
            details["deleted"] = [str(ref) for ref in kube.delete_objects(provisioner.cluster, objects)]


def _agent_said(provisioner: Provisioner, job: dict) -> str:
    """The agent's ``error:`` line from the failed Job's pod log (the reason worth showing), if any."""
    name = job["metadata"]["name"]
    service = job["metadata"]["labels"].get(SERVICE, "")
    try:
        lines = kube.tail(
            provisioner.cluster,
            provisioner.env.namespace,
            service,
            environment_id=provisioner.env.public_id,
            container="agent",
            tail_lines=50,
        )
    except kube.KubeError:
        return ""
    said = [entry.line for entry in lines if entry.pod.startswith(name) and entry.line.startswith("error:")]
    return said[-1].removeprefix("error:").strip()[:300] if said else ""


def _await_running(provisioner: Provisioner, needed_by: str) -> None:
    """A stopped environment was resumed for this transfer (``actions._wake``): wait, bounded, until
    it runs. One that is neither running nor on its way up fails the transfer with its state."""
    from environments.provisioning import WAKE_TIMEOUT

    provisioner.env.refresh_from_db(fields=["state"])
    provisioner.wait_until_running([provisioner.env], needed_by=needed_by, timeout=min(WAKE_TIMEOUT, job_timeout() / 2))


def _capture(provisioner: Provisioner) -> None:
    operation = provisioner.operation
    snapshot = Snapshot.objects.select_related("policy", "team").get(public_id=operation.params["snapshot"])
    if snapshot.state != SnapshotState.PENDING and snapshot.state != SnapshotState.CAPTURING:
        return  # already ready (a re-run after the upload), failed or deleted: nothing to do
    _await_running(provisioner, f"the capture of {snapshot.public_id}")
    service = _service(provisioner, snapshot.service)
    with provisioner.step("prepare capture") as details:
        policy = actions.parsed_policy(snapshot)
        token, token_hash, expires_at = tokens.mint()
        Snapshot.objects.filter(pk=snapshot.pk).update(
            state=SnapshotState.CAPTURING, upload_token_hash=token_hash, upload_token_expires_at=expires_at
        )
        transfer = jobs.Transfer(
            kind=jobs.CAPTURE,
            name=jobs.transfer_name(jobs.CAPTURE, snapshot.public_id, attempt=token_hash[:6]),
            service=service,
            url=artifact_url(snapshot),
            token=token,
            image=settings.MICROSTAX_IMAGE,
            policy_yaml=actions.policy_file(policy),
            salt=actions.policy_salt(snapshot, policy),
        )
        objects = jobs.render_transfer(provisioner.context(), provisioner.env.spec, transfer)
        details.update(service=service["name"], policy=snapshot.policy_name, sanitized=policy.sanitized)
    _run_job(provisioner, objects, "capture")
    with provisioner.step("check the artifact") as details:
        snapshot.refresh_from_db()
        details["state"] = snapshot.state
        if snapshot.state != SnapshotState.READY:
            reason = snapshot.state_reason or "the capture job finished without uploading an artifact"
            if snapshot.state == SnapshotState.CAPTURING and _simulated(provisioner):
                reason += f"; {SIMULATED}"
            raise TransferFailed(reason)
        details.update(sha256=snapshot.sha256, bytes=snapshot.size_bytes)


def _restore_transfer(provisioner: Provisioner, restore: SnapshotRestore) -> jobs.Transfer:
    """Mint the restore's download token and describe its Job."""
    token, token_hash, expires_at = tokens.mint()
    SnapshotRestore.objects.filter(pk=restore.pk).update(
        state=RestoreState.RUNNING, download_token_hash=token_hash, download_token_expires_at=expires_at
    )
    return jobs.Transfer(
        kind=jobs.RESTORE,
        name=jobs.transfer_name(jobs.RESTORE, restore.snapshot.public_id, restore.pk, attempt=token_hash[:6]),
        service=_service(provisioner, restore.service),
        url=artifact_url(restore.snapshot),
        token=token,
        image=settings.MICROSTAX_IMAGE,
    )


def _check_downloaded(provisioner: Provisioner, restore: SnapshotRestore) -> None:
    restore.refresh_from_db()
    if restore.download_token_hash:
        reason = "the restore job finished without downloading the artifact"
        if _simulated(provisioner):
            reason += f"; {SIMULATED}"
        raise TransferFailed(reason)
    SnapshotRestore.objects.filter(pk=restore.pk).update(state=RestoreState.SUCCEEDED, finished_at=timezone.now())


def _restore(provisioner: Provisioner) -> None:
    operation = provisioner.operation
    restore = SnapshotRestore.objects.select_related("snapshot__team").get(pk=operation.params["restore"])
    if restore.state == RestoreState.SUCCEEDED:
        return
    _await_running(provisioner, f"the restore of {restore.snapshot.public_id}")
    with provisioner.step("prepare restore") as details:
        snapshot = restore.snapshot
        if snapshot.state != SnapshotState.READY:
            raise TransferFailed(f"{snapshot.public_id} is {snapshot.state}; it can no longer be restored")
        transfer = _restore_transfer(provisioner, restore)
        objects = jobs.render_transfer(provisioner.context(), provisioner.env.spec, transfer)
        details.update(snapshot=snapshot.public_id, service=restore.service)
    _run_job(provisioner, objects, "restore")
    with provisioner.step("check the restore") as details:
        _check_downloaded(provisioner, restore)
        details["restored"] = True


# --- restores at provisioning time ---------------------------------------------------------------


def needs_provisioning_restore(env) -> bool:
    """Whether provisioning ``env`` may involve a restore (cheap: one query at most)."""
    if env.spec.get("snapshot"):
        return True
    return env.restores.exclude(operation__kind=OperationKind.RESTORE).exists()


def provisioning_restore(provisioner: Provisioner) -> SnapshotRestore | None:
    """The restore this provisioning run must perform, created from the blueprint's ``snapshot:``
    section on the first run; None when there is none (or it already succeeded)."""
    env = provisioner.env
    if provisioner.operation.kind not in (OperationKind.CREATE, OperationKind.RETRY):
        return None
    restore = (
        SnapshotRestore.objects.select_related("snapshot__team")
        .filter(environment=env)
        .exclude(operation__kind=OperationKind.RESTORE)
        .first()
    )
    if restore is not None:
        return None if restore.state == RestoreState.SUCCEEDED else restore
    section = env.spec.get("snapshot")
    if not section:
        return None
    try:
        snapshot = actions.resolve_blueprint_snapshot(env, section)
        service = actions.resolve_service(env, section["service"])
    except DomainError as exc:
        raise TransferFailed(f"the blueprint's snapshot cannot be restored: {exc.message}") from None
    if snapshot.state != SnapshotState.READY:
        snapshot = await_capture(provisioner, snapshot)
    return SnapshotRestore.objects.create(
        snapshot=snapshot,
        environment=env,
        service=service["name"],
        requested_by=env.created_by,
        operation=provisioner.operation,
    )


def await_capture(provisioner: Provisioner, snapshot: Snapshot) -> Snapshot:
    """Wait, bounded, for the capture a blueprint's ``snapshot:`` section started (or found under
    way) in its source environment; then restore from it.

    When no worker has claimed the capture's Operation yet, this worker runs it itself (the claim is
    a conditional update, so it never runs twice): a single worker, or one busy with this very
    provisioning, cannot leave the two waiting on each other.
    """
    from environments import provisioning
    from environments.models import Operation

    started = time.monotonic()
    while True:
        snapshot.refresh_from_db()
        if snapshot.state not in (SnapshotState.PENDING, SnapshotState.CAPTURING):
            break
        if (
            snapshot.operation_id
            and Operation.objects.filter(pk=snapshot.operation_id, state=OperationState.QUEUED).exists()
        ):
            provisioning.run_operation(snapshot.operation_id)
            continue
        if time.monotonic() - started >= job_timeout():
            raise TransferFailed(
                f"the capture of {snapshot.public_id} for the blueprint's snapshot is still {snapshot.state} "
                f"after {int(job_timeout())} s"
            )
        Operation.objects.filter(pk=provisioner.operation.pk).update(heartbeat_at=timezone.now())
        provisioning._sleep(provisioning.WAKE_POLL_SECONDS)
    if snapshot.state != SnapshotState.READY:
        raise TransferFailed(
            f"the blueprint's snapshot cannot be restored: the capture {snapshot.public_id} of "
            f"{snapshot.environment.public_id} is {snapshot.state}: {snapshot.state_reason or 'no reason given'}"
        )
    return snapshot


def prepare_provisioning_restore(provisioner: Provisioner) -> jobs.Transfer | None:
    """Resolve, check and mint the provisioning restore; the renderer places its Job."""
    with provisioner.step("resolve snapshot") as details:
        restore = provisioning_restore(provisioner)
        if restore is None:
            details["restore"] = None
            return None
        snapshot = restore.snapshot
        try:
            actions._restorable(restore.requested_by, snapshot, provisioner.env)
        except DomainError as exc:
            actions.restore_failed(restore, exc.message)
            raise TransferFailed(f"the snapshot cannot be restored: {exc.message}") from None
        transfer = _restore_transfer(provisioner, restore)
        provisioner.provisioning_restore = restore
        details.update(snapshot=snapshot.public_id, service=restore.service)
        return transfer


def conclude_provisioning_restore(provisioner: Provisioner) -> None:
    """After the waves: the restore Job completed; did the artifact travel?"""
    restore = getattr(provisioner, "provisioning_restore", None)
    if restore is None:
        return
    with provisioner.step("check the restore") as details:
        details["snapshot"] = restore.snapshot.public_id
        try:
            _check_downloaded(provisioner, restore)
        except TransferFailed as exc:
            actions.restore_failed(restore, exc.reason)
            if not _simulated(provisioner):
                raise
            # On a simulated cluster the environment still comes up; the restore says why it has no data.
            details["warning"] = exc.reason
