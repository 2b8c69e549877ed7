"""``microstax env list|get|status|traces``: looking at environments (``logs`` is in :mod:`env_logs`)."""

from __future__ import annotations

import argparse
from typing import Any

from microstax.cli.commands import env_logs
from microstax.cli.commands._env_api import (
    can_encode,
    fetch_environment,
    parse_time,
    seconds,
    services_table,
    state_line,
    when,
)
from microstax.cli.context import CLIError, Context
from microstax.cli.output import format_table, render

LIST_QUERY = (
    "query List($team: ID, $state: String, $all: Boolean!, $after: String) {"
    " environments(team: $team, state: $state, includeDeleted: $all, after: $after) {"
    " pageInfo { hasNextPage endCursor } edges { node {"
    " id name team { slug } state stateReason mode planName cluster { name } expiresAt createdAt createdBy"
    " } } } }"
)

BAR_WIDTH = 30


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    listing = commands.add_parser("list", parents=[common], help="list the environments you can see")
    listing.add_argument("--team", "-t", help="only this team (id or slug)")
    listing.add_argument("--state", "-s", help="only this state (ready, failed, stopped, …)")
    listing.add_argument("--all", "-a", action="store_true", help="include deleted environments")
    listing.set_defaults(handler=list_command)

    get = commands.add_parser("get", parents=[common], help="show everything about one environment")
    get.add_argument("id", help="environment id (env_…)")
    get.set_defaults(handler=get_command)

    status = commands.add_parser("status", parents=[common], help="state and per-service status of one environment")
    status.add_argument("id", help="environment id (env_…)")
    status.set_defaults(handler=status_command)

    env_logs.register(commands, common)

    traces = commands.add_parser(
        "traces",
        parents=[common],
        help="the step timeline of an operation",
        description="Show the steps of the newest operation (or --operation) with their start offsets, "
        "durations and a bar chart of the timeline.",
    )
    traces.add_argument("id", help="environment id (env_…)")
    traces.add_argument("--operation", "--op", dest="operation", metavar="OP", help="operation id (op_…)")
    traces.set_defaults(handler=traces_command)


# -- list, get, status -------------------------------------------------------------------------


def list_command(args: argparse.Namespace, ctx: Context) -> int:
    nodes: list[dict[str, Any]] = []
    after = None
    variables = {"team": args.team, "state": args.state, "all": bool(args.all)}
    while True:
        page = ctx.client().execute(LIST_QUERY, {**variables, "after": after})["environments"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    ctx.out(render(nodes, ctx.output, table=_list_table))
    return 0


def _list_table(nodes: list[dict[str, Any]]) -> str:
    if not nodes:
        return "no environments"
    rows = [
        {
            "id": n["id"],
            "team": n["team"]["slug"],
            "name": n["name"],
            "state": n["state"],
            "mode": n["mode"],
            "cluster": n["cluster"]["name"],
            "expires": when(n.get("expiresAt")),
            "created": when(n.get("createdAt")),
            "by": n.get("createdBy"),
        }
        for n in nodes
    ]
    columns = [
        ("id", "ID"),
        ("team", "TEAM"),
        ("name", "NAME"),
        ("state", "STATE"),
        ("mode", "MODE"),
        ("cluster", "CLUSTER"),
        ("expires", "EXPIRES (UTC)"),
        ("created", "CREATED (UTC)"),
        ("by", "BY"),
    ]
    return format_table(rows, columns)


def get_command(args: argparse.Namespace, ctx: Context) -> int:
    env = fetch_environment(ctx, args.id, last=10)
    ctx.out(render(env, ctx.output, table=_describe))
    return 0


def _describe(env: dict[str, Any]) -> str:
    cluster = env["cluster"]["name"] + (" (simulated)" if env["cluster"].get("simulated") else "")
    idle = f"after {env['autoShutdownDelayMinutes']} idle minutes" if env.get("autoShutdownEnabled") else "off"
    fields = [
        ("ID", env["id"]),
        ("Name", env["name"]),
        ("Team", env["team"]["slug"]),
        ("State", env["state"] + (f" ({env['stateReason']})" if env.get("stateReason") else "")),
        ("State since", _utc(env.get("stateChangedAt"))),
        ("Mode", env["mode"]),
        *([("Derives from", env["parentId"])] if env.get("parentId") else []),
        *([("Overlay id", env["routingKey"])] if env["mode"] == "overlay" and env.get("routingKey") else []),
        ("Plan", env.get("planName") or "-"),
        ("Cluster", cluster),
        ("Namespace", env["namespace"]),
        ("Blueprint", env.get("blueprintVersion") or "inline YAML"),
        ("Spec hash", (env.get("specHash") or "")[:12] or "-"),
        ("Created", f"{_utc(env.get('createdAt'))} by {env.get('createdBy')}"),
        ("Expires", _utc(env.get("expiresAt"), "never")),
        ("Auto-shutdown", idle),
        ("Last activity", _utc(env.get("lastActivityAt"))),
    ]
    if env.get("deletedAt"):
        fields.append(("Deleted", _utc(env["deletedAt"])))
    width = max(len(label) for label, _ in fields) + 1
    lines = [f"{label + ':':<{width}} {value}" for label, value in fields]
    if env.get("endpoints"):
        lines += ["", "Endpoints:"] + [f"  {url}" for url in env["endpoints"]]
    images = {s["name"]: s.get("image", "") for s in (env.get("spec") or {}).get("services") or []}
    lines += ["", services_table(env.get("services") or [], images=images)]
    operations = env.get("operations") or []
    if operations:
        rows = [
            {
                "id": op["id"],
                "kind": op["kind"],
                "state": op["state"],
                "by": op.get("requestedBy"),
                "created": when(op.get("createdAt")),
                "duration": seconds(op.get("durationSeconds")) if op.get("durationSeconds") is not None else None,
                "error": op.get("error"),
            }
            for op in operations
        ]
        columns = [
            ("id", "OPERATION"),
            ("kind", "KIND"),
            ("state", "STATE"),
            ("by", "BY"),
            ("created", "CREATED (UTC)"),
            ("duration", "DURATION"),
            ("error", "ERROR"),
        ]
        lines += ["", format_table(rows, columns)]
    return "\n".join(lines)


def _utc(value: str | None, missing: str = "-") -> str:
    moment = when(value)
    return f"{moment} UTC" if moment else missing


def status_command(args: argparse.Namespace, ctx: Context) -> int:
    env = fetch_environment(ctx, args.id, last=1)
    data = {key: env.get(key) for key in ("id", "name", "state", "stateReason", "endpoints", "services")}
    data["team"] = env["team"]["slug"]
    data["operation"] = _without_steps((env.get("operations") or [None])[0])
    ctx.out(render(data, ctx.output, table=lambda _: _status_table(env)))
    return 0


def _without_steps(operation: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if operation is None else {k: v for k, v in operation.items() if k != "steps"}


def _status_table(env: dict[str, Any]) -> str:
    lines = [state_line(env)]
    operation = (env.get("operations") or [None])[0]
    if operation:
        took = f" in {seconds(operation['durationSeconds'])}" if operation.get("durationSeconds") is not None else ""
        error = f": {operation['error']}" if operation.get("error") else ""
        lines.append(f"last operation: {operation['kind']} {operation['id']} {operation['state']}{took}{error}")
    if env.get("endpoints"):
        lines.append("endpoints: " + ", ".join(env["endpoints"]))
    lines += ["", services_table(env.get("services") or [])]
    return "\n".join(lines)


# -- traces ------------------------------------------------------------------------------------


def traces_command(args: argparse.Namespace, ctx: Context) -> int:
    env = fetch_environment(ctx, args.id, last=100)
    operations = env.get("operations") or []
    if args.operation:
        operation = next((op for op in operations if op["id"] == args.operation), None)
        if operation is None:
            raise CLIError(f"NOT_FOUND (operation): {args.id} has no operation '{args.operation}' among its last 100")
    elif operations:
        operation = operations[0]
    else:
        raise CLIError(f"{args.id} has no operations yet")
    bar = "█" if can_encode(ctx.stdout, "█") else "#"
    ctx.out(render(trace_rows(operation), ctx.output, table=lambda rows: _trace_table(operation, rows, bar)))
    return 0


def trace_rows(operation: dict[str, Any]) -> dict[str, Any]:
    """The operation with each step's start offset (seconds since the operation started)."""
    steps = sorted(operation.get("steps") or [], key=lambda s: s["position"])
    starts = [parse_time(s.get("startedAt")) for s in steps]
    origin = parse_time(operation.get("startedAt")) or min((t for t in starts if t), default=None)
    rows = []
    for step, started in zip(steps, starts, strict=True):
        offset = (started - origin).total_seconds() if started and origin else None
        rows.append({**step, "offsetSeconds": None if offset is None else round(offset, 3)})
    return {**{k: v for k, v in operation.items() if k != "steps"}, "steps": rows}


def _trace_table(operation: dict[str, Any], trace: dict[str, Any], bar: str) -> str:
    steps = trace["steps"]
    took = f" in {seconds(operation['durationSeconds'])}" if operation.get("durationSeconds") is not None else ""
    header = f"{operation['kind']} {operation['id']}: {operation['state']}{took}"
    if operation.get("requestedBy"):
        header += f" (by {operation['requestedBy']}, attempt {operation.get('attempts', 1)})"
    if operation.get("traceId"):
        header += f"\ntrace id {operation['traceId']}"
    if not steps:
        return header + "\nno steps yet"
    ends = [(s["offsetSeconds"] or 0) + (s.get("durationSeconds") or 0) for s in steps]
    span = max(max(ends), 1e-6)
    rows = []
    for step in steps:
        offset, duration = step["offsetSeconds"] or 0.0, step.get("durationSeconds")
        lead = int(round(offset / span * BAR_WIDTH))
        size = max(1, int(round((duration or 0) / span * BAR_WIDTH)))
        mark = bar if duration is not None else "…"
        rows.append(
            {
                "position": step["position"],
                "name": step["name"],
                "outcome": step["outcome"],
                "start": f"+{offset:.2f}s",
                "duration": seconds(duration) if duration is not None else "running",
                "bar": (" " * min(lead, BAR_WIDTH - 1) + mark * size)[:BAR_WIDTH],
            }
        )
    columns = [
        ("position", "#"),
        ("name", "STEP"),
        ("outcome", "OUTCOME"),
        ("start", "START"),
        ("duration", "DURATION"),
        ("bar", "TIMELINE"),
    ]
    lines = [header, "", format_table(rows, columns)]
    if operation.get("error"):
        lines += ["", f"error: {operation['error']}"]
    return "\n".join(lines)
