"""``microstax auth …``: who the API key belongs to."""

from __future__ import annotations

import argparse
from typing import Any

from microstax.cli.context import CLIError, Context
from microstax.cli.output import render

VIEWER_QUERY = "query Viewer { viewer { username } }"


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    group = subparsers.add_parser("auth", parents=[common], help="check credentials")
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    verify = commands.add_parser("verify", parents=[common], help="show the API and the signed-in user")
    verify.set_defaults(handler=verify_command)


def verify_command(args: argparse.Namespace, ctx: Context) -> int:
    data = ctx.client().execute(VIEWER_QUERY)
    viewer = data.get("viewer")
    if not isinstance(viewer, dict) or not viewer.get("username"):
        hint = "set --api-key or MICROSTAX_API_KEY" if not ctx.api_key else "the API key was not accepted"
        raise CLIError(f"not signed in at {ctx.api_url}: {hint}")
    result = {"apiUrl": ctx.api_url, "username": viewer["username"]}
    ctx.out(render(result, ctx.output, table=_table))
    return 0


def _table(result: dict[str, Any]) -> str:
    return f"API:       {result['apiUrl']}\nSigned in: {result['username']}"
