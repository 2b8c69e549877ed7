"""``microstax governance logs|verify``: read and verify the audit trail (auditors and team owners)."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from microstax.cli.commands._env_api import when
from microstax.cli.context import CLIError, Context
from microstax.cli.output import format_table, render

LOGS_QUERY = (
    "query Logs($filters: AuditEventFilter, $first: Int, $after: String) {"
    " auditEvents(filters: $filters, first: $first, after: $after) {"
    " pageInfo { hasNextPage endCursor } edges { node {"
    " id createdAt actorName tokenName teamSlug action outcome targetType targetId requestId reason"
    " } } } }"
)
VERIFY_QUERY = (
    "query Verify($since: Date, $event: ID) { verifyAudit(since: $since, event: $event) {"
    " status ok checked brokenSequence kind problem firstSequence lastSequence checkpointsChecked startedFrom } }"
)
PAGE_SIZE = 100
_RELATIVE = re.compile(r"^(\d+)d$")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    group = subparsers.add_parser("governance", parents=[common], help="the audit trail: read and verify it")
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    logs = commands.add_parser(
        "logs",
        parents=[common],
        help="audit events, newest first",
        description="List audit events you may read (auditors: all; team owners: their teams'), newest first.",
    )
    logs.add_argument("--team", "-t", help="only this team (slug)")
    logs.add_argument("--since", help="from this UTC day: YYYY-MM-DD, or Nd for N days ago")
    logs.add_argument("--until", help="up to this UTC day (inclusive): YYYY-MM-DD or Nd")
    logs.add_argument("--action", "-a", help="an action, or a prefix ending in '.' or '*' (environment.*)")
    logs.add_argument("--actor", help="a username or API token name")
    logs.add_argument("--target", help="a target id (env_…) or type")
    logs.add_argument("--outcome", choices=("success", "failure", "denied"), help="only this outcome")
    logs.add_argument("--limit", "-n", type=int, default=100, help="at most this many events (default 100)")
    logs.set_defaults(handler=logs_command)

    verify = commands.add_parser(
        "verify",
        parents=[common],
        help="verify the audit trail's integrity",
        description="Verify hashes, links, signatures and checkpoints of the whole trail, from the last "
        "checkpoint before --since, or one event (and the chain up to it). Exit 0 verified, 1 broken.",
    )
    verify.add_argument("event_id", nargs="?", metavar="EVENT_ID", help="an event's number (from governance logs)")
    verify.add_argument("--since", help="verify from the last checkpoint before this UTC day (YYYY-MM-DD or Nd)")
    verify.set_defaults(handler=verify_command)


def _day(value: str | None, option: str) -> str | None:
    if not value:
        return None
    relative = _RELATIVE.match(value.strip())
    if relative:
        return (datetime.now(UTC).date() - timedelta(days=int(relative.group(1)))).isoformat()
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise CLIError(f"{option}: {value!r} is not a day (YYYY-MM-DD) or a number of days ago (7d)") from None


def logs_command(args: argparse.Namespace, ctx: Context) -> int:
    if args.limit < 1:
        raise CLIError("--limit must be at least 1")
    filters = {
        "team": args.team,
        "since": _day(args.since, "--since"),
        "until": _day(args.until, "--until"),
        "action": args.action,
        "actor": args.actor,
        "target": args.target,
        "outcome": args.outcome,
    }
    filters = {key: value for key, value in filters.items() if value}
    events: list[dict[str, Any]] = []
    after = None
    while len(events) < args.limit:
        first = min(PAGE_SIZE, args.limit - len(events))
        page = ctx.client().execute(LOGS_QUERY, {"filters": filters, "first": first, "after": after})["auditEvents"]
        events += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    ctx.out(render(events, ctx.output, table=_logs_table))
    return 0


def _logs_table(events: list[dict[str, Any]]) -> str:
    if not events:
        return "no audit events match"
    rows = [
        {
            **event,
            "createdAt": when(event["createdAt"]),
            "actor": event["actorName"] + (f" (token {event['tokenName']})" if event["tokenName"] else ""),
            "target": " ".join(part for part in (event["targetType"], event["targetId"]) if part),
        }
        for event in events
    ]
    columns = [
        ("id", "#"),
        ("createdAt", "TIME (UTC)"),
        ("actor", "ACTOR"),
        ("teamSlug", "TEAM"),
        ("action", "ACTION"),
        ("target", "TARGET"),
        ("outcome", "OUTCOME"),
        ("requestId", "REQUEST"),
    ]
    return format_table(rows, columns)


def verify_command(args: argparse.Namespace, ctx: Context) -> int:
    if args.event_id is not None and not args.event_id.lstrip("#").isdigit():
        raise CLIError(f"EVENT_ID must be an event number, got {args.event_id!r}")
    variables = {"since": _day(args.since, "--since"), "event": args.event_id.lstrip("#") if args.event_id else None}
    result = ctx.client().execute(VERIFY_QUERY, variables)["verifyAudit"]
    ctx.out(render(result, ctx.output, table=_verify_text))
    return 0 if result["ok"] else 1


def _verify_text(result: dict[str, Any]) -> str:
    if result["ok"]:
        span = f" (#{result['firstSequence']}–#{result['lastSequence']})" if result["checked"] else ""
        return (
            f"verified: {result['checked']} events{span} from {result['startedFrom']}; hashes, links, "
            f"signatures and {result['checkpointsChecked']} checkpoints intact"
        )
    return (
        f"BROKEN at event #{result['brokenSequence']} ({result['kind']}): {result['problem']}\n"
        f"{result['checked']} events verified before it, from {result['startedFrom']}"
    )
