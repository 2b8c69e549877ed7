"""``microstax snapshot list|get|restore|delete``: snapshots across environments.

``restore`` puts a snapshot's data into a service of an environment (the target team's role is
checked, and only sanitized snapshots cross teams); ``delete`` removes the artifact and keeps the
record as history. The capture itself is ``microstax env snapshot create``.
"""

from __future__ import annotations

import argparse
from typing import Any

from microstax.cli.commands._snapshot_api import (
    ERROR_FIELDS,
    RESTORE_FIELDS,
    SNAPSHOT_FIELDS,
    fetch_snapshot,
    list_snapshots,
    payload_failed,
    snapshot_details,
    snapshot_line,
    snapshots_table,
)
from microstax.cli.context import Context
from microstax.cli.output import render

RESTORE = (
    "mutation($input: RestoreSnapshotInput!) { restoreSnapshot(input: $input) {"
    " restore { " + RESTORE_FIELDS + " } snapshot { id } operation { id kind state } " + ERROR_FIELDS + " } }"
)
SHARE = (
    "mutation($input: ShareSnapshotInput!) { shareSnapshot(input: $input) {"
    " snapshot { id sharedWith { slug } } " + ERROR_FIELDS + " } }"
)
DELETE = (
    "mutation($input: SnapshotIdInput!) { deleteSnapshot(input: $input) {"
    " snapshot { " + SNAPSHOT_FIELDS + " } " + ERROR_FIELDS + " } }"
)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    group = subparsers.add_parser("snapshot", parents=[common], help="list, restore and delete data snapshots")
    commands = group.add_subparsers(dest="command", metavar="COMMAND")

    listing = commands.add_parser("list", parents=[common], help="list the snapshots you can see")
    listing.add_argument("--team", "-t", help="only this team's (id or slug)")
    listing.add_argument("--env", "-e", dest="environment", metavar="ENV", help="only those of this environment")
    listing.add_argument("--all", "-a", action="store_true", help="include deleted snapshots")
    listing.set_defaults(handler=list_command)

    get = commands.add_parser("get", parents=[common], help="one snapshot with its lineage (where it was restored)")
    get.add_argument("id", help="snapshot id (snap_…)")
    get.set_defaults(handler=get_command)

    restore = commands.add_parser(
        "restore",
        parents=[common],
        help="restore a snapshot into an environment",
        description="Restore SNAP into a service of the environment --env (the checksum is verified first). "
        "Only sanitized snapshots can be restored into another team's environment.",
    )
    restore.add_argument("id", metavar="SNAP", help="snapshot id (snap_…)")
    restore.add_argument("--env", "-e", dest="environment", required=True, metavar="ENV", help="target environment id")
    restore.add_argument("--service", "-s", help="target service (default: the snapshot's service)")
    restore.set_defaults(handler=restore_command)

    share = commands.add_parser(
        "share",
        parents=[common],
        help="share a sanitized snapshot with another team",
        description="Let team --team see SNAP and restore it into its own environments (maintainers and "
        "owners of the snapshot's team; sanitized snapshots only). --revoke withdraws the share.",
    )
    share.add_argument("id", metavar="SNAP", help="snapshot id (snap_…)")
    share.add_argument("--team", "-t", required=True, metavar="TEAM", help="the team to share with (id or slug)")
    share.add_argument("--revoke", action="store_true", help="withdraw the share instead")
    share.set_defaults(handler=share_command)

    delete = commands.add_parser("delete", parents=[common], help="delete a snapshot's artifact (the record stays)")
    delete.add_argument("id", metavar="SNAP", help="snapshot id (snap_…)")
    delete.set_defaults(handler=delete_command)


def list_command(args: argparse.Namespace, ctx: Context) -> int:
    nodes = list_snapshots(ctx, environment=args.environment, team=args.team, all_=bool(args.all))
    ctx.out(render(nodes, ctx.output, table=snapshots_table))
    return 0


def get_command(args: argparse.Namespace, ctx: Context) -> int:
    ctx.out(render(fetch_snapshot(ctx, args.id), ctx.output, table=snapshot_details))
    return 0


def restore_command(args: argparse.Namespace, ctx: Context) -> int:
    variables = {"input": {"snapshot": args.id, "environment": args.environment, "service": args.service}}
    payload = ctx.client().execute(RESTORE, variables)["restoreSnapshot"]
    if payload_failed(ctx, payload):
        return 1
    data = {"restore": payload["restore"], "operation": payload.get("operation")}
    ctx.out(render(data, ctx.output, table=lambda d: _restore_text(args.id, d)))
    restore = payload["restore"]
    if restore["state"] == "failed":
        ctx.err(f"error: the restore failed: {restore.get('stateReason') or 'no reason given'}")
        return 1
    return 0


def _restore_text(snapshot_id: str, data: dict[str, Any]) -> str:
    restore, operation = data["restore"], data.get("operation")
    env = restore["environment"] or {"id": "?", "team": "?", "name": "?"}
    reason = f" ({restore['stateReason']})" if restore.get("stateReason") else ""
    text = f"{snapshot_id} → {env['id']} {env['team']}/{env['name']} {restore['service']}: {restore['state']}{reason}"
    if operation:
        text += f" (operation {operation['id']} {operation['state']})"
    return text


def delete_command(args: argparse.Namespace, ctx: Context) -> int:
    payload = ctx.client().execute(DELETE, {"input": {"id": args.id}})["deleteSnapshot"]
    if payload_failed(ctx, payload):
        return 1
    ctx.out(render(payload["snapshot"], ctx.output, table=snapshot_line))
    return 0


def share_command(args: argparse.Namespace, ctx: Context) -> int:
    variables = {"input": {"snapshot": args.id, "team": args.team, "revoke": bool(args.revoke)}}
    payload = ctx.client().execute(SHARE, variables)["shareSnapshot"]
    if payload_failed(ctx, payload):
        return 1
    snapshot = payload["snapshot"]
    teams = [team["slug"] for team in snapshot.get("sharedWith") or []]
    data = {"id": snapshot["id"], "sharedWith": teams}
    ctx.out(
        render(data, ctx.output, table=lambda d: f"{d['id']} is shared with: {', '.join(d['sharedWith']) or 'no team'}")
    )
    return 0
