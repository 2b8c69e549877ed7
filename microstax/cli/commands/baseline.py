"""``microstax baseline create|list``: baselines, the full stacks that overlays derive from.

``create`` is ``env create`` through ``createBaseline`` (it needs the team's baseline role);
``list`` shows the live baselines the API key can see.
"""

from __future__ import annotations

import argparse
from typing import Any

from microstax.cli.commands._env_api import PAYLOAD_FIELDS
from microstax.cli.commands._files import display_name, read_text
from microstax.cli.commands.env_lifecycle import _finish, _wait_options
from microstax.cli.commands.env_observe import _list_table
from microstax.cli.context import Context
from microstax.cli.output import render

CREATE = f"mutation($input: CreateEnvironmentInput!) {{ createBaseline(input: $input) {{ {PAYLOAD_FIELDS} }} }}"
LIST_QUERY = (
    "query Baselines($team: ID, $after: String) { baselines(team: $team, after: $after) {"
    " pageInfo { hasNextPage endCursor } edges { node {"
    " id name team { slug } state stateReason mode planName cluster { name } expiresAt createdAt createdBy"
    " } } } }"
)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    group = subparsers.add_parser("baseline", parents=[common], help="baselines that overlays derive from")
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    create = commands.add_parser(
        "create",
        parents=[common],
        help="create a baseline from a blueprint file",
        description="Create a baseline (a full, shared stack that overlays derive from) from blueprint YAML. "
        "Needs the team's baseline role. Blueprint problems are printed as file:line:col: CODE message [path] "
        "and exit 1.",
    )
    create.add_argument("--file", "-f", required=True, help="blueprint YAML ('-' for standard input)")
    create.add_argument("--team", "-t", required=True, help="team id (team_…) or slug")
    create.add_argument("--name", "-n", help="baseline name (default: the blueprint's name)")
    create.add_argument("--plan", "-p", help="apply this plan of the blueprint (e.g. production)")
    create.add_argument("--ttl", help="time to live, e.g. 720h (default: the blueprint's ttl)")
    create.add_argument("--cluster", help="cluster name or id (default: the default cluster)")
    _wait_options(create)
    create.set_defaults(handler=create_command)

    listing = commands.add_parser("list", parents=[common], help="list the baselines you can see")
    listing.add_argument("--team", "-t", help="only this team (id or slug)")
    listing.set_defaults(handler=list_command)


def create_command(args: argparse.Namespace, ctx: Context) -> int:
    variables = {
        "input": {
            "team": args.team,
            "yaml": read_text(args.file),
            "name": args.name,
            "plan": args.plan,
            "ttl": args.ttl,
            "cluster": args.cluster,
        }
    }
    payload = ctx.client().execute(CREATE, variables)["createBaseline"]
    return _finish(args, ctx, payload, filename=display_name(args.file), verb="baseline created")


def list_command(args: argparse.Namespace, ctx: Context) -> int:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = ctx.client().execute(LIST_QUERY, {"team": args.team, "after": after})["baselines"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    ctx.out(render(nodes, ctx.output, table=lambda rows: _list_table(rows) if rows else "no baselines"))
    return 0
