"""Read helpers the snapshot interfaces share (GraphQL and pages): which snapshots a user sees.

:func:`snapshots.actions.visible_snapshots` is the rule for live snapshots; deleted ones stay as
history (their lineage remains readable) under the same team rule, filtered in SQL.
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from blueprints.parsing import parse_yaml
from snapshots.actions import visible_filter, visible_snapshots
from snapshots.agent import parse_policy
from snapshots.models import Snapshot, SnapshotRestore, SnapshotShare


def snapshots_for(user, *, include_deleted: bool = False) -> QuerySet[Snapshot]:
    """Live snapshots ``user`` can see; with ``include_deleted``, deleted ones of the same teams too."""
    if not include_deleted:
        return visible_snapshots(user)
    return Snapshot.objects.filter(visible_filter(user))


def with_lineage(queryset: QuerySet[Snapshot]) -> QuerySet[Snapshot]:
    """Everything a snapshot's page or API type reads, in a fixed number of queries."""
    restores = SnapshotRestore.objects.select_related("environment__team", "requested_by", "operation__actor")
    return queryset.select_related(
        "team", "environment__team", "created_by", "policy__team", "policy__created_by", "operation__actor"
    ).prefetch_related(
        Prefetch("restores", queryset=restores.order_by("-created_at", "-pk")),
        "restores__operation__steps",
        "operation__steps",
        Prefetch("shares", queryset=SnapshotShare.objects.select_related("team").order_by("team__slug")),
    )


def redacted_source(source: str) -> str:
    """A policy's YAML as the interfaces show it: with its salt replaced.

    The salt keys the deterministic hashes; whoever knows it can test guesses against hashed
    values of a sanitized snapshot, so it never leaves the server (the capture Job gets it from a
    Secret). A salt this cannot cut out cleanly hides the whole text rather than risk showing it.
    """
    policy, _ = parse_policy(source)
    if policy is None or not policy.salt:
        return source
    line, column = parse_yaml(source).positions.locate(("salt",))
    lines = source.splitlines(keepends=True)
    if line and column and 1 <= line <= len(lines):
        text = lines[line - 1]
        rest = text[column - 1 :]
        # The scalar as written: plain, or quoted without escapes; anything else is hidden below.
        for written in (policy.salt, f"'{policy.salt}'", f'"{policy.salt}"'):
            if rest.startswith(written) and (rest[len(written) :][:1] in ("", " ", ",", "}", "\r", "\n", "#")):
                lines[line - 1] = text[: column - 1] + REDACTED + rest[len(written) :]
                break
    shown = "".join(lines)
    return shown if policy.salt not in shown else HIDDEN


REDACTED = "'<redacted>'"
HIDDEN = "# This policy's text is hidden: it carries the policy's salt.\n"
