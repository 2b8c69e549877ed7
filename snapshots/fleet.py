"""The fleet sweep's snapshot policy: purge snapshots past their expiry.

A snapshot's ``expires_at`` is set when it is requested, from its team's
``TeamPolicy.snapshot_retention_days``. Purging deletes the stored artifact and marks the row
deleted (it stays as lineage), audited as ``system``. Rows are read in primary-key batches on the
indexed ``expires_at``, like the environment policies of ``environments.fleet``.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db.models import Q

from microstax.lib.errors import Conflict
from snapshots.actions import purge_snapshot
from snapshots.models import Snapshot, SnapshotState

logger = logging.getLogger(__name__)
DEFAULT_BATCH_SIZE = 200


def purge_expired(*, now: datetime, dry_run: bool = False, batch_size: int = DEFAULT_BATCH_SIZE) -> list[dict]:
    """Delete every live snapshot whose ``expires_at`` has passed; one finding per snapshot.

    Each finding is ``{"id", "team", "expires_at", "outcome"}`` with outcome ``purged``,
    ``would purge`` (dry run), ``skipped`` (deleted meanwhile) or ``error: …``. A failure on one
    snapshot never stops the others.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    expired = (
        Snapshot.objects.filter(expires_at__lte=now)
        .filter(~Q(state=SnapshotState.DELETED))
        .select_related("team", "environment", "policy")
    )
    findings: list[dict] = []
    last = 0
    while True:
        batch = list(expired.filter(pk__gt=last).order_by("pk")[:batch_size])
        for snapshot in batch:
            finding = {
                "id": snapshot.public_id,
                "team": snapshot.team.slug,
                "expires_at": snapshot.expires_at.isoformat(),
                "outcome": "would purge" if dry_run else "purged",
            }
            if not dry_run:
                try:
                    purge_snapshot(snapshot, reason=f"expired at {snapshot.expires_at.isoformat()}")
                except Conflict:
                    finding["outcome"] = "skipped"
                except Exception as exc:  # one broken artifact must not stop the sweep
                    logger.exception("fleet sweep: purging %s failed", snapshot.public_id)
                    finding["outcome"] = f"error: {type(exc).__name__}: {exc}"
            findings.append(finding)
        if len(batch) < batch_size:
            return findings
        last = batch[-1].pk
