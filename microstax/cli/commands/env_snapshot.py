"""``microstax env snapshot create|list`` and ``microstax env replay``: data of one environment.

``snapshot create`` captures (and sanitizes) a service's database through ``createSnapshot``;
``--wait`` follows it until it is ready or failed. ``replay`` re-creates the environment from its
recorded blueprint version through ``replayEnvironment``, restoring a snapshot when one is named.
"""

from __future__ import annotations

import argparse

from microstax.cli.commands._env_api import ENV_FIELDS
from microstax.cli.commands._snapshot_api import (
    ERROR_FIELDS,
    SNAPSHOT_FIELDS,
    list_snapshots,
    payload_failed,
    snapshot_line,
    snapshots_table,
    wait_for_snapshot,
)
from microstax.cli.commands.env_lifecycle import _finish, _positive_seconds
from microstax.cli.context import Context
from microstax.cli.output import render

CREATE = (
    "mutation($input: CreateSnapshotInput!) { createSnapshot(input: $input) {"
    " snapshot { " + SNAPSHOT_FIELDS + " } operation { id kind state } " + ERROR_FIELDS + " } }"
)
# The replay payload carries the same environment fields as every env mutation, so `_finish`
# (and --wait) work on it unchanged; its errors have no conflicts, which `_finish` tolerates.
REPLAY = (
    "mutation($input: ReplayEnvironmentInput!) { replayEnvironment(input: $input) {"
    " environment { " + ENV_FIELDS + " } operation { id kind state } " + ERROR_FIELDS + " } }"
)
DEFAULT_TIMEOUT = 600.0


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    group = commands.add_parser("snapshot", parents=[common], help="snapshots of an environment's data")
    snapshot_commands = group.add_subparsers(dest="snapshot_command", metavar="COMMAND")
    create = snapshot_commands.add_parser(
        "create",
        parents=[common],
        help="capture a sanitized snapshot of a service's database",
        description="Capture a service's database as a snapshot, sanitized by the policy (a policy id "
        "pol_… or a policy name of the environment's team: its latest version). A stopped environment "
        "is resumed first, and the capture runs once it is ready.",
    )
    create.add_argument("id", help="environment id (env_…)")
    create.add_argument("--service", "-s", help="the database service (default: the environment's)")
    create.add_argument("--policy", "-p", help="sanitization policy id (pol_…) or name")
    create.add_argument("--wait", "-w", action="store_true", help="wait until the snapshot is ready or failed")
    create.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up waiting after this long (default {DEFAULT_TIMEOUT:g}); the capture goes on",
    )
    create.set_defaults(handler=create_command)

    listing = snapshot_commands.add_parser("list", parents=[common], help="list the snapshots of an environment")
    listing.add_argument("id", help="environment id (env_…)")
    listing.add_argument("--all", "-a", action="store_true", help="include deleted snapshots")
    listing.set_defaults(handler=list_command)

    replay = commands.add_parser(
        "replay",
        parents=[common],
        help="re-create an environment, optionally restoring a snapshot",
        description="Create a new environment from the blueprint version ENV was recorded with; with SNAP, "
        "restore that snapshot into it before its dependants start.",
    )
    replay.add_argument("id", help="environment id (env_…) to replay")
    replay.add_argument("snapshot", nargs="?", help="snapshot id (snap_…) to restore")
    replay.add_argument("--name", "-n", help="name of the new environment (default: derived from ENV's)")
    replay.add_argument("--wait", "-w", action="store_true", help="follow the operation's steps until it ends")
    replay.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up waiting after this long (default {DEFAULT_TIMEOUT:g}); the operation goes on",
    )
    replay.set_defaults(handler=replay_command)


def create_command(args: argparse.Namespace, ctx: Context) -> int:
    variables = {"input": {"environment": args.id, "service": args.service, "policy": args.policy}}
    payload = ctx.client().execute(CREATE, variables)["createSnapshot"]
    if payload_failed(ctx, payload):
        return 1
    snapshot, timed_out = payload["snapshot"], False
    if args.wait:
        snapshot, timed_out = wait_for_snapshot(ctx, snapshot, args.timeout)
    data = {"snapshot": snapshot, "operation": payload.get("operation")}
    ctx.out(render(data, ctx.output, table=lambda d: _created_text(d, waited=args.wait)))
    if timed_out:
        ctx.err(f"error: timed out after {args.timeout:g}s; {snapshot['id']} is {snapshot['state']}, it goes on")
        return 1
    if args.wait and snapshot["state"] != "ready":
        ctx.err(f"error: {snapshot['id']} is {snapshot['state']}: {snapshot.get('stateReason') or 'no reason given'}")
        return 1
    return 0


def _created_text(data: dict, *, waited: bool) -> str:
    snapshot, operation = data["snapshot"], data.get("operation")
    text = snapshot_line(snapshot)
    if operation:
        text += f" (operation {operation['id']} {operation['state']})"
    if not waited and snapshot["state"] not in ("ready", "failed"):
        text += f"\nfollow it with: microstax snapshot get {snapshot['id']} (or --wait next time)"
    return text


def list_command(args: argparse.Namespace, ctx: Context) -> int:
    nodes = list_snapshots(ctx, environment=args.id, all_=bool(args.all))
    ctx.out(render(nodes, ctx.output, table=snapshots_table))
    return 0


def replay_command(args: argparse.Namespace, ctx: Context) -> int:
    variables = {"input": {"environment": args.id, "snapshot": args.snapshot, "name": args.name}}
    payload = ctx.client().execute(REPLAY, variables)["replayEnvironment"]
    verb = f"replayed from {args.id}" + (f" with {args.snapshot}" if args.snapshot else "")
    return _finish(args, ctx, payload, verb=verb)
