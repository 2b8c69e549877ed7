"""``microstax blueprint …``: offline tools (Compose import, JSON Schema) and the team's blueprints on
the server (create, publish, list)."""

from __future__ import annotations

import argparse

from blueprints.compose import import_compose
from blueprints.schema import blueprint_json_schema
from microstax.cli.commands._files import display_name, read_text
from microstax.cli.context import Context
from microstax.cli.output import format_problems, format_table, render, to_json


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    group = subparsers.add_parser(
        "blueprint", parents=[common], help="blueprints: import, schema, create, publish, cost"
    )
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    imp = commands.add_parser(
        "import",
        parents=[common],
        help="convert a Docker Compose file into a blueprint",
        description="Print a blueprint made from a Compose file. What cannot be carried over is "
        "reported on standard error as file:line:col: CODE message.",
    )
    imp.add_argument("--compose", "-c", required=True, help="Compose YAML file ('-' for standard input)")
    imp.add_argument("--name", help="name of the blueprint (default: the Compose project name)")
    imp.set_defaults(handler=import_command)
    schema = commands.add_parser("schema", parents=[common], help="print the blueprint JSON Schema")
    schema.set_defaults(handler=schema_command)
    create = commands.add_parser("create", parents=[common], help="create a team's blueprint from a file")
    create.add_argument("--team", "-t", required=True, help="team id (team_…) or slug")
    create.add_argument("--name", "-n", required=True, help="blueprint name (a DNS label)")
    create.add_argument("--file", "-f", required=True, help="blueprint YAML ('-' for standard input)")
    create.add_argument("--message", "-m", default="", help="what this version is")
    create.set_defaults(handler=create_command)
    publish = commands.add_parser("publish", parents=[common], help="publish a new version of a blueprint")
    publish.add_argument("blueprint", help="blueprint id (bp_…)")
    publish.add_argument("--file", "-f", required=True, help="blueprint YAML ('-' for standard input)")
    publish.add_argument("--message", "-m", default="", help="what changed")
    publish.set_defaults(handler=publish_command)
    listing = commands.add_parser("list", parents=[common], help="list the blueprints you can see")
    listing.add_argument("--team", "-t", help="only this team (id or slug)")
    listing.set_defaults(handler=list_command)
    cost = commands.add_parser(
        "cost",
        parents=[common],
        help="estimate what a blueprint would cost before creating it",
        description="Price a blueprint's requests with the server's price table: per service and in total, "
        "an hour running, an hour stopped (volumes only) and a month running.",
    )
    cost.add_argument("--file", "-f", required=True, help="blueprint YAML ('-' for standard input)")
    cost.add_argument("--plan", "-p", help="a plan of the blueprint, e.g. small")
    cost.set_defaults(handler=cost_command)


def import_command(args: argparse.Namespace, ctx: Context) -> int:
    text = read_text(args.compose)
    name = display_name(args.compose)
    result = import_compose(text, name=args.name)
    for line in format_problems([*result.problems, *result.warnings], name):
        ctx.err(line)
    if not result.ok:
        ctx.err(f"error: {name} could not be imported")
        return 1
    if ctx.output == "json":
        ctx.out(to_json(result.to_dict()))
    else:
        ctx.out(result.yaml)
    return 0


def schema_command(args: argparse.Namespace, ctx: Context) -> int:
    ctx.out(render(blueprint_json_schema(), "yaml" if ctx.output == "yaml" else "json"))
    return 0


_PAYLOAD = (
    "blueprint { id name team { slug } } version { number hash } created"
    " errors { code field message problems { code severity path line column message } }"
)
CREATE_MUTATION = (
    "mutation Create($team: ID!, $name: String!, $yaml: String!, $message: String!) {"
    " createBlueprint(input: {team: $team, name: $name, yaml: $yaml, message: $message}) { " + _PAYLOAD + " } }"
)
PUBLISH_MUTATION = (
    "mutation Publish($blueprint: ID!, $yaml: String!, $message: String!) {"
    " publishBlueprintVersion(input: {blueprint: $blueprint, yaml: $yaml, message: $message}) { " + _PAYLOAD + " } }"
)
LIST_QUERY = (
    "query List($team: ID, $after: String) { blueprints(team: $team, first: 100, after: $after) {"
    " pageInfo { hasNextPage endCursor } edges { node { id name team { slug } latestVersion { number hash author"
    " createdAt } } } } }"
)


def _published(payload: dict, filename: str, ctx: Context) -> int:
    """Report a create/publish payload: problems located in the file, or the version made."""
    errors = payload.get("errors") or []
    if errors:
        for error in errors:
            for problem in error.get("problems") or []:
                where = f"{filename}:{problem['line']}:{problem['column']}" if problem.get("line") else filename
                ctx.err(f"{where}: {problem['code']} {problem['message']} [{problem['path']}]")
            field = f" ({error['field']})" if error.get("field") else ""
            ctx.err(f"error: {error['code']}{field}: {error['message']}")
        return 1
    result = {
        "id": payload["blueprint"]["id"],
        "name": payload["blueprint"]["name"],
        "team": payload["blueprint"]["team"]["slug"],
        "version": payload["version"]["number"],
        "hash": payload["version"]["hash"],
        "created": payload["created"],
    }
    ctx.out(render(result, ctx.output, table=_version_line))
    return 0


def _version_line(result: dict) -> str:
    if not result["created"]:
        return f"{result['id']} unchanged: identical to v{result['version']} ({result['hash'][:12]})"
    return f"{result['id']} {result['team']}/{result['name']} v{result['version']} ({result['hash'][:12]})"


def create_command(args: argparse.Namespace, ctx: Context) -> int:
    text = read_text(args.file)
    variables = {"team": args.team, "name": args.name, "yaml": text, "message": args.message}
    data = ctx.client().execute(CREATE_MUTATION, variables)
    return _published(data["createBlueprint"], display_name(args.file), ctx)


def publish_command(args: argparse.Namespace, ctx: Context) -> int:
    text = read_text(args.file)
    variables = {"blueprint": args.blueprint, "yaml": text, "message": args.message}
    data = ctx.client().execute(PUBLISH_MUTATION, variables)
    return _published(data["publishBlueprintVersion"], display_name(args.file), ctx)


def list_command(args: argparse.Namespace, ctx: Context) -> int:
    rows, after = [], None
    while True:
        page = ctx.client().execute(LIST_QUERY, {"team": args.team, "after": after})["blueprints"]
        for edge in page["edges"]:
            node, latest = edge["node"], edge["node"]["latestVersion"] or {}
            rows.append(
                {
                    "id": node["id"],
                    "team": node["team"]["slug"],
                    "name": node["name"],
                    "version": latest.get("number"),
                    "hash": (latest.get("hash") or "")[:12],
                    "author": latest.get("author"),
                    "published": latest.get("createdAt"),
                }
            )
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    columns = [
        ("id", "ID"),
        ("team", "TEAM"),
        ("name", "NAME"),
        ("version", "VERSION"),
        ("hash", "HASH"),
        ("author", "AUTHOR"),
        ("published", "PUBLISHED"),
    ]
    ctx.out(render(rows, ctx.output, table=lambda data: format_table(data, columns) if data else "no blueprints"))
    return 0


_RATE = "rate { hourly stoppedHourly monthly }"
COST_QUERY = (
    "query Cost($yaml: String!, $plan: String) { estimateCost(yaml: $yaml, plan: $plan) {"
    " estimate { currency cpuMillicores memoryMib storageGib " + _RATE + ""
    " services { name cpuMillicores memoryMib storageGib " + _RATE + " }"
    " prices { cpuHour gibHour storageGibMonth } }"
    " errors { code field message problems { code severity path line column message } } } }"
)


def cost_command(args: argparse.Namespace, ctx: Context) -> int:
    text = read_text(args.file)
    payload = ctx.client().execute(COST_QUERY, {"yaml": text, "plan": args.plan})["estimateCost"]
    if payload.get("errors"):
        return _report_errors(payload["errors"], display_name(args.file), ctx)
    ctx.out(render(payload["estimate"], ctx.output, table=_cost_table))
    return 0


def _report_errors(errors: list[dict], filename: str, ctx: Context) -> int:
    for error in errors:
        for problem in error.get("problems") or []:
            where = f"{filename}:{problem['line']}:{problem['column']}" if problem.get("line") else filename
            ctx.err(f"{where}: {problem['code']} {problem['message']} [{problem['path']}]")
        field = f" ({error['field']})" if error.get("field") else ""
        ctx.err(f"error: {error['code']}{field}: {error['message']}")
    return 1


def _cost_table(estimate: dict) -> str:
    currency = estimate["currency"]
    rows = [
        {
            "service": s["name"],
            "cpu": f"{s['cpuMillicores']:g}m",
            "memory": f"{s['memoryMib']:g}Mi",
            "storage": f"{s['storageGib']:g}Gi",
            "hourly": f"{s['rate']['hourly']:.4f}",
            "stopped": f"{s['rate']['stoppedHourly']:.4f}",
            "monthly": f"{s['rate']['monthly']:.2f}",
        }
        for s in estimate["services"]
    ]
    rate = estimate["rate"]
    rows.append(
        {
            "service": "TOTAL",
            "cpu": f"{estimate['cpuMillicores']:g}m",
            "memory": f"{estimate['memoryMib']:g}Mi",
            "storage": f"{estimate['storageGib']:g}Gi",
            "hourly": f"{rate['hourly']:.4f}",
            "stopped": f"{rate['stoppedHourly']:.4f}",
            "monthly": f"{rate['monthly']:.2f}",
        }
    )
    columns = [
        ("service", "SERVICE"),
        ("cpu", "CPU"),
        ("memory", "MEMORY"),
        ("storage", "STORAGE"),
        ("hourly", f"{currency}/HOUR"),
        ("stopped", f"{currency}/HOUR STOPPED"),
        ("monthly", f"{currency}/MONTH"),
    ]
    prices = estimate["prices"]
    footer = (
        f"prices: {prices['cpuHour']:g} {currency} per vCPU-hour, {prices['gibHour']:g} per GiB-hour, "
        f"{prices['storageGibMonth']:g} per GiB-month of volumes; a month is 730 hours"
    )
    return format_table(rows, columns) + "\n" + footer
