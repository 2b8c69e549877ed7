"""``microstax env logs``: recent log lines of an environment's services, optionally followed by polling."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable

from microstax.cli.commands._env_api import fetch_environment
from microstax.cli.context import CLIError, Context
from microstax.cli.output import render

SERVICES_QUERY = "query Services($id: ID!) { environment(id: $id) { id services { name } } }"
LOGS_QUERY = (
    "query Logs($id: ID!, $service: String!, $tail: Int!) {"
    " environmentLogs(id: $id, service: $service, tailLines: $tail) { pod line } }"
)
FOLLOW_INTERVAL = 1.0
FOLLOW_TAIL = 1000  # lines asked for on each follow poll; far more than a second's worth
_sleep = time.sleep  # tests replace it


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    logs = commands.add_parser(
        "logs",
        parents=[common],
        help="recent log lines of an environment's services",
        description="Print recent log lines. Without --service every service's lines are printed, each "
        "prefixed with [service/pod]. --follow polls the API about once a second and prints only lines "
        "not seen before, until Ctrl-C (it is polling, not a stream: very chatty pods can outrun it).",
    )
    logs.add_argument("id", help="environment id (env_…)")
    logs.add_argument("--service", "-s", help="only this service")
    logs.add_argument(
        "--tail", "-n", type=_tail, default=100, metavar="N", help="lines per service (1-5000, default 100)"
    )
    logs.add_argument("--follow", "-f", action="store_true", help="keep polling for new lines until Ctrl-C")
    logs.set_defaults(handler=logs_command)


def _tail(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= 5000:
        raise argparse.ArgumentTypeError("must be between 1 and 5000")
    return value


class LogDedupe:
    """Which lines of a poll were not printed before.

    Each poll returns the tail of every pod's log; a pod's new lines are what follows the longest
    overlap between the end of what was seen and the start of what came back. Comparing sequences
    (not single lines) keeps repeated identical lines: ``[a, a]`` then ``[a, a, a]`` is one new ``a``.
    """

    def __init__(self, keep: int = 5000) -> None:
        self.keep = keep
        self.seen: dict[str, list[str]] = {}

    def fresh(self, lines: Iterable[dict[str, str]]) -> list[dict[str, str]]:
        lines = list(lines)
        by_pod: dict[str, list[int]] = {}
        for index, item in enumerate(lines):
            by_pod.setdefault(item["pod"], []).append(index)
        new_indexes: set[int] = set()
        for pod, indexes in by_pod.items():
            texts = [lines[i]["line"] for i in indexes]
            seen = self.seen.get(pod, [])
            overlap = _overlap(seen, texts)
            new_indexes.update(indexes[overlap:])
            self.seen[pod] = (seen + texts[overlap:])[-self.keep :]
        return [item for index, item in enumerate(lines) if index in new_indexes]


def _overlap(seen: list[str], texts: list[str], anchor: int = 3) -> int:
    """How many leading ``texts`` were already seen.

    Normally the largest k with ``seen[-k:] == texts[:k]`` (a log only grows at its end and loses
    lines at its start). When the log also lost lines in the middle (kubesim keeps a container's
    first lines and drops old heartbeats) nothing overlaps; then the last few seen lines are looked
    for in ``texts`` and what follows them is new.
    """
    for k in range(min(len(seen), len(texts)), 0, -1):
        if seen[-k:] == texts[:k]:
            return k
    for size in range(min(anchor, len(seen)), 0, -1):
        tail = seen[-size:]
        for start in range(len(texts) - size, -1, -1):
            if texts[start : start + size] == tail:
                return start + size
    return 0


def logs_command(args: argparse.Namespace, ctx: Context) -> int:
    if args.service:
        services = [args.service]
    else:
        env = fetch_environment(ctx, args.id, query=SERVICES_QUERY)
        services = [s["name"] for s in env.get("services") or []]
        if not services:
            raise CLIError(f"{args.id} has no services")
    dedupe = {service: LogDedupe() for service in services}
    prefix_service = not args.service
    tail = args.tail
    try:
        while True:
            batch = []
            for service in services:
                lines = ctx.client().execute(LOGS_QUERY, {"id": args.id, "service": service, "tail": tail})
                fresh = dedupe[service].fresh(lines["environmentLogs"])
                batch += [{"service": service, **item} for item in fresh]
            _print_logs(ctx, batch, prefix_service=prefix_service, stream=args.follow)
            if not args.follow:
                return 0
            tail = max(args.tail, FOLLOW_TAIL)
            _sleep(FOLLOW_INTERVAL)
    except KeyboardInterrupt:
        return 0  # Ctrl-C is how --follow ends


def _print_logs(ctx: Context, batch: list[dict[str, str]], *, prefix_service: bool, stream: bool) -> None:
    if ctx.output in ("json", "yaml"):
        if not stream:
            ctx.out(render(batch, ctx.output))
        elif ctx.output == "json":
            # Following: one JSON object per line (JSON Lines), so a script can read lines as they come.
            for item in batch:
                ctx.out(json.dumps(item, ensure_ascii=False))
        elif batch:
            ctx.out("---\n" + render(batch, "yaml"))
        ctx.stdout.flush()
        return
    for item in batch:
        where = f"{item['service']}/{item['pod']}" if prefix_service else item["pod"]
        ctx.out(f"[{where}] {item['line']}")
    ctx.stdout.flush()
