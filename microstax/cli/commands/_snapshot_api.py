"""What the snapshot commands share: GraphQL documents, listing pages, and table formatting."""

from __future__ import annotations

import time
from typing import Any

from microstax.cli.commands._env_api import report_payload_errors, when
from microstax.cli.context import CLIError, Context
from microstax.cli.output import format_table

RESTORE_FIELDS = "service state stateReason requestedBy createdAt finishedAt environment { id name team }"
SNAPSHOT_FIELDS = (
    "id service engine state stateReason sanitized sizeBytes sha256 rowCounts policyName policyVersion"
    " policyNumber expiresAt createdAt completedAt deletedAt createdBy team { slug }"
    " environment { id name team } restores { " + RESTORE_FIELDS + " }"
)
ERROR_FIELDS = "errors { code field message problems { code severity path line column message } }"

LIST_QUERY = (
    "query Snapshots($environment: ID, $team: ID, $all: Boolean!, $after: String) {"
    " snapshots(environment: $environment, team: $team, includeDeleted: $all, after: $after) {"
    " pageInfo { hasNextPage endCursor } edges { node { " + SNAPSHOT_FIELDS + " } } } }"
)
GET_QUERY = "query Snapshot($id: ID!) { snapshot(id: $id) { " + SNAPSHOT_FIELDS + " } }"

TERMINAL_STATES = frozenset({"ready", "failed", "deleted"})
POLL_SECONDS = 1.0


def list_snapshots(ctx: Context, *, environment: str | None = None, team: str | None = None, all_: bool = False):
    nodes: list[dict[str, Any]] = []
    after = None
    variables = {"environment": environment, "team": team, "all": all_}
    while True:
        page = ctx.client().execute(LIST_QUERY, {**variables, "after": after})["snapshots"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    return nodes


def fetch_snapshot(ctx: Context, snapshot_id: str) -> dict[str, Any]:
    snapshot = ctx.client().execute(GET_QUERY, {"id": snapshot_id}).get("snapshot")
    if not isinstance(snapshot, dict):
        raise CLIError(f"NOT_FOUND (id): no snapshot '{snapshot_id}' visible to this API key")
    return snapshot


def wait_for_snapshot(ctx: Context, snapshot: dict[str, Any], timeout: float) -> tuple[dict[str, Any], bool]:
    """Poll until the snapshot is ready, failed or deleted; (snapshot, timed out)."""
    deadline = time.monotonic() + timeout
    while snapshot["state"] not in TERMINAL_STATES:
        if time.monotonic() >= deadline:
            return snapshot, True
        time.sleep(POLL_SECONDS)
        snapshot = fetch_snapshot(ctx, snapshot["id"])
    return snapshot, False


def payload_failed(ctx: Context, payload: dict[str, Any], filename: str | None = None) -> bool:
    """Print a payload's errors (policy problems located in ``filename``); True if any."""
    return report_payload_errors(ctx, payload, filename)


def size(value: float | None) -> str | None:
    if value is None:
        return None
    amount = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return None  # unreachable


def policy_label(snapshot: dict[str, Any]) -> str | None:
    if not snapshot.get("policyName"):
        return None
    number = snapshot.get("policyNumber")
    return f"{snapshot['policyName']} v{number}" if number else snapshot["policyName"]


def snapshots_table(nodes: list[dict[str, Any]]) -> str:
    if not nodes:
        return "no snapshots"
    rows = [
        {
            "id": s["id"],
            "source": f"{s['environment']['team']}/{s['environment']['name']}",
            "service": s["service"],
            "state": s["state"],
            "size": size(s.get("sizeBytes")),
            "sanitized": s["sanitized"],
            "policy": policy_label(s),
            "restores": len(s.get("restores") or []),
            "expires": when(s.get("expiresAt")),
            "created": when(s.get("createdAt")),
        }
        for s in nodes
    ]
    columns = [
        ("id", "ID"),
        ("source", "SOURCE"),
        ("service", "SERVICE"),
        ("state", "STATE"),
        ("size", "SIZE"),
        ("sanitized", "SANITIZED"),
        ("policy", "POLICY"),
        ("restores", "RESTORES"),
        ("expires", "EXPIRES"),
        ("created", "CREATED"),
    ]
    return format_table(rows, columns)


def snapshot_line(snapshot: dict[str, Any]) -> str:
    env = snapshot["environment"]
    reason = f" ({snapshot['stateReason']})" if snapshot.get("stateReason") else ""
    return f"{snapshot['id']} of {env['team']}/{env['name']} {snapshot['service']}: {snapshot['state']}{reason}"


def snapshot_details(snapshot: dict[str, Any]) -> str:
    env = snapshot["environment"]
    facts = [
        ("Snapshot", snapshot["id"]),
        ("State", snapshot["state"] + (f" ({snapshot['stateReason']})" if snapshot.get("stateReason") else "")),
        ("Source", f"{env['id']} {env['team']}/{env['name']}, service {snapshot['service']} ({snapshot['engine']})"),
        ("Sanitized", "yes" if snapshot["sanitized"] else "NO (raw data: owners only)"),
        ("Policy", policy_label(snapshot) or "-"),
        ("Policy version", snapshot.get("policyVersion") or "-"),
        ("Size", size(snapshot.get("sizeBytes")) or "-"),
        ("SHA-256", snapshot.get("sha256") or "-"),
        ("Created", f"{when(snapshot.get('createdAt'))} UTC by {snapshot['createdBy']}"),
        ("Expires", f"{when(snapshot['expiresAt'])} UTC" if snapshot.get("expiresAt") else "never"),
    ]
    width = max(len(label) for label, _ in facts) + 1
    lines = [f"{(label + ':').ljust(width)} {value}" for label, value in facts]
    counts = snapshot.get("rowCounts") or {}
    if counts:
        lines += [
            "",
            format_table([{"table": t, "rows": n} for t, n in counts.items()], [("table", "TABLE"), ("rows", "ROWS")]),
        ]
    restores = snapshot.get("restores") or []
    lines += ["", f"Restores ({len(restores)}):" if restores else "Restores: none"]
    if restores:
        rows = [
            {
                "target": f"{r['environment']['id']} {r['environment']['team']}/{r['environment']['name']}"
                if r.get("environment")
                else "(an environment you cannot see)",
                "service": r["service"],
                "state": r["state"],
                "by": r["requestedBy"],
                "when": when(r.get("createdAt")),
            }
            for r in restores
        ]
        lines.append(
            format_table(
                rows, [("target", "TARGET"), ("service", "SERVICE"), ("state", "STATE"), ("by", "BY"), ("when", "WHEN")]
            )
        )
    return "\n".join(lines)
