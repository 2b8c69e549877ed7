"""``microstax overlay create|list``: overlays, which run only what they change on top of a base.

The base of ``create`` is ``--baseline`` (a baseline or another overlay), else ``routing.baselineId``
of the file. A conflicting overlay is refused before anything is provisioned; its conflicts print
one a line as ``CODE services: message`` and the command exits 1. The older spelling ``microstax env
overlay create --base ID --blueprint FILE`` runs the same handler (see :func:`add_create_options`).
"""

from __future__ import annotations

import argparse
from typing import Any

from microstax.cli.commands._env_api import PAYLOAD_FIELDS, when
from microstax.cli.commands._files import display_name, read_text
from microstax.cli.commands._sparse import resolve_base
from microstax.cli.commands.env_lifecycle import _finish, _wait_options
from microstax.cli.context import Context
from microstax.cli.output import format_table, render

CREATE = f"mutation($input: CreateOverlayInput!) {{ createOverlay(input: $input) {{ {PAYLOAD_FIELDS} }} }}"
LIST_QUERY = (
    "query Overlays($baseline: ID!, $after: String) { overlays(baseline: $baseline, after: $after) {"
    " pageInfo { hasNextPage endCursor } edges { node {"
    " id name team { slug } state stateReason mode parentId routingKey expiresAt createdAt createdBy"
    " plan { local } } } } }"
)

CREATE_DESCRIPTION = (
    "Create an overlay from blueprint YAML holding only what changes (replaced, added or removed services); "
    "the rest is inherited from the base. The base is --baseline, else routing.baselineId of the file. "
    "Conflicts are printed as 'CODE services: message' and exit 1; nothing is provisioned then."
)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    group = subparsers.add_parser("overlay", parents=[common], help="overlays: run only what changes on a baseline")
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    create = commands.add_parser(
        "create",
        parents=[common],
        help="create an overlay of a baseline (or of another overlay)",
        description=CREATE_DESCRIPTION,
    )
    add_create_options(create, base=("--baseline", "--base"), file=("--file", "-f", "--blueprint"))
    listing = commands.add_parser(
        "list", parents=[common], help="list the overlays of a baseline (directly or through other overlays)"
    )
    listing.add_argument("--baseline", "--base", "-b", dest="baseline", required=True, metavar="ENV", help="env_…")
    listing.set_defaults(handler=list_command)


def add_create_options(parser: argparse.ArgumentParser, *, base: tuple[str, ...], file: tuple[str, ...]) -> None:
    """The options of ``overlay create``; ``base`` and ``file`` are the option spellings, first preferred."""
    parser.add_argument(
        *base,
        dest="baseline",
        metavar="ENV",
        help="the baseline or overlay to derive from (default: routing.baselineId)",
    )
    parser.add_argument(*file, dest="file", required=True, help="overlay blueprint YAML ('-' for standard input)")
    parser.add_argument("--name", "-n", help="overlay name (default: the blueprint's name)")
    parser.add_argument("--ttl", help="time to live, e.g. 8h (default 24h)")
    _wait_options(parser)
    parser.set_defaults(handler=create_command)


def create_command(args: argparse.Namespace, ctx: Context) -> int:
    text = read_text(args.file)
    base = resolve_base(ctx, args.baseline, text, args.file, required=True)
    variables = {"input": {"base": base, "yaml": text, "name": args.name, "ttl": args.ttl}}
    payload = ctx.client().execute(CREATE, variables)["createOverlay"]
    return _finish(args, ctx, payload, filename=display_name(args.file), verb=f"overlay of {base} created")


def list_command(args: argparse.Namespace, ctx: Context) -> int:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = ctx.client().execute(LIST_QUERY, {"baseline": args.baseline, "after": after})["overlays"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    ctx.out(render(nodes, ctx.output, table=_list_table))
    return 0


def _list_table(nodes: list[dict[str, Any]]) -> str:
    if not nodes:
        return "no overlays"
    rows = [
        {
            "id": n["id"],
            "name": n["name"],
            "state": n["state"],
            "parent": n.get("parentId"),
            "key": n.get("routingKey"),
            "local": ", ".join((n.get("plan") or {}).get("local") or []),
            "expires": when(n.get("expiresAt")),
            "by": n.get("createdBy"),
        }
        for n in nodes
    ]
    columns = [
        ("id", "ID"),
        ("name", "NAME"),
        ("state", "STATE"),
        ("parent", "PARENT"),
        ("key", "OVERLAY ID"),
        ("local", "RUNS LOCALLY"),
        ("expires", "EXPIRES (UTC)"),
        ("by", "BY"),
    ]
    return format_table(rows, columns)
