"""``microstax env plan|promote|lineage|overlay create``: the sparse side of environments.

``plan`` is a dry run of ``planEnvironment``: a table per service (SERVICE, STATUS, PROVIDER, WHY)
and a summary line (local services, inherited count, saving against a full clone); conflicts are
printed as ``CODE services: message`` and exit 1. Without a base (``--baseline`` or
``routing.baselineId``) the blueprint is planned as a stand-alone environment: every service is
``added``. ``overlay create`` is the older spelling of ``microstax overlay create``.
"""

from __future__ import annotations

import argparse
from typing import Any

from microstax.cli.commands import overlay
from microstax.cli.commands._env_api import ENV_FIELDS, fetch_environment, report_payload_errors
from microstax.cli.commands._files import display_name, read_text
from microstax.cli.commands._sparse import (
    ERROR_FIELDS,
    PLAN_FIELDS,
    conflicts_report,
    plan_summary,
    plan_table,
    resolve_base,
    why,
)
from microstax.cli.context import CLIError, Context
from microstax.cli.output import format_table, render

PLAN_QUERY = (
    "query Plan($input: PlanEnvironmentInput!) { planEnvironment(input: $input) {"
    f" plan {{ {PLAN_FIELDS} }} {ERROR_FIELDS} }} }}"
)
PROMOTE = (
    "mutation($input: EnvironmentIdInput!) { promoteEnvironment(input: $input) {"
    f" environment {{ {ENV_FIELDS} }} {ERROR_FIELDS} }} }}"
)
LINEAGE_QUERY = (
    "query Lineage($id: ID!) { environment(id: $id) { id name mode state parentId routingKey team { slug }"
    " lineage { chain { id name mode state routingKey }"
    " services { name providedBy providedByName status why } }"
    " plan { services { name status provider reasons } } } }"
)


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    plan = commands.add_parser(
        "plan",
        parents=[common],
        help="dry run: what an overlay would run locally, inherit, and save",
        description="Plan a blueprint without creating anything: per service its status (added, changed, "
        "unchanged, removed, promoted), the environment that would run it and why, then what runs locally, "
        "what is inherited and the saving against a full clone. The base is --baseline, else "
        "routing.baselineId of the file; without one the blueprint is planned as a stand-alone environment. "
        "Exits 1 when the plan has conflicts (it would be blocked) or the blueprint is invalid.",
    )
    plan.add_argument("--file", "-f", required=True, help="blueprint YAML ('-' for standard input)")
    plan.add_argument("--baseline", "--base", "-b", dest="baseline", metavar="ENV", help="plan as an overlay of ENV")
    plan.add_argument("--name", "-n", help="overlay name (default: the blueprint's name)")
    plan.set_defaults(handler=plan_command)

    promote = commands.add_parser(
        "promote",
        parents=[common],
        help="turn a ready environment into a baseline",
        description="Promote a ready isolated environment to a baseline overlays can derive from. "
        "Needs the team's baseline role and pinned images (no :latest).",
    )
    promote.add_argument("id", help="environment id (env_…)")
    promote.set_defaults(handler=promote_command)

    lineage = commands.add_parser(
        "lineage", parents=[common], help="the chain from the baseline, and who provides each service"
    )
    lineage.add_argument("id", help="environment id (env_…)")
    lineage.set_defaults(handler=lineage_command)

    older = commands.add_parser("overlay", parents=[common], help="overlays (older spelling of `microstax overlay`)")
    older.set_defaults(handler=_usage(older))
    older_commands = older.add_subparsers(dest="subcommand", metavar="COMMAND")
    create = older_commands.add_parser(
        "create",
        parents=[common],
        help="create an overlay (same as `microstax overlay create`)",
        description=overlay.CREATE_DESCRIPTION,
    )
    overlay.add_create_options(create, base=("--base", "--baseline"), file=("--blueprint", "--file", "-f"))


def _usage(parser: argparse.ArgumentParser):
    def show(args: argparse.Namespace, ctx: Context) -> int:
        parser.print_help(ctx.stderr)
        return 2

    return show


# -- plan --------------------------------------------------------------------------------------


def plan_command(args: argparse.Namespace, ctx: Context) -> int:
    text = read_text(args.file)
    base = resolve_base(ctx, args.baseline, text, args.file, required=False)
    variables = {"input": {"yaml": text, "base": base, "name": args.name}}
    payload = ctx.client().execute(PLAN_QUERY, variables)["planEnvironment"]
    plan = payload.get("plan")
    if ctx.output in ("json", "yaml"):
        ctx.out(render({"base": base, **payload}, ctx.output))
        return 1 if payload.get("errors") or (plan or {}).get("conflicts") else 0
    if report_payload_errors(ctx, payload, display_name(args.file)):
        return 1
    if plan is None:
        raise CLIError("the API answered with neither a plan nor errors")
    heading = f"plan of {display_name(args.file)} " + (
        f"as an overlay of {base}" if base else "as a stand-alone environment"
    )
    lines = [heading, "", plan_table(plan), "", plan_summary(plan, standalone=base is None)]
    conflicts = plan.get("conflicts") or []
    if conflicts:
        lines += ["", f"blocked by {len(conflicts)} conflict{'' if len(conflicts) == 1 else 's'}:"]
        lines += [f"  {line}" for line in conflicts_report(conflicts)]
    ctx.out("\n".join(lines))
    return 1 if conflicts else 0


# -- promote -----------------------------------------------------------------------------------


def promote_command(args: argparse.Namespace, ctx: Context) -> int:
    payload = ctx.client().execute(PROMOTE, {"input": {"id": args.id}})["promoteEnvironment"]
    if report_payload_errors(ctx, payload):
        return 1
    env = payload["environment"]
    ctx.out(
        render(
            env, ctx.output, table=lambda e: f"{e['id']} {e['team']['slug']}/{e['name']}: promoted; mode {e['mode']}"
        )
    )
    return 0


# -- lineage -----------------------------------------------------------------------------------


def lineage_command(args: argparse.Namespace, ctx: Context) -> int:
    env = fetch_environment(ctx, args.id, query=LINEAGE_QUERY)
    ctx.out(render(env, ctx.output, table=_lineage_text))
    return 0


def _lineage_text(env: dict[str, Any]) -> str:
    lineage = env.get("lineage") or {}
    chain = lineage.get("chain") or []
    lines = [f"{env['id']} {env['team']['slug']}/{env['name']}: {env['mode']}, {env['state']}", "", "chain:"]
    for depth, layer in enumerate(chain):
        key = f", overlay id {layer['routingKey']}" if layer.get("routingKey") and layer["mode"] == "overlay" else ""
        lines.append(f"  {'  ' * depth}{layer['id']} {layer['name']} ({layer['mode']}, {layer['state']}{key})")
    # An overlay keeps the plan it was provisioned from: its reasons say more than the status alone.
    planned = {s["name"]: s for s in (env.get("plan") or {}).get("services") or []}
    rows = [
        {
            "name": s["name"],
            "status": s["status"],
            "provider": f"{s['providedBy']} ({s['providedByName']})",
            "why": why(planned[s["name"]]) if s["name"] in planned else s["why"],
        }
        for s in lineage.get("services") or []
    ]
    columns = [("name", "SERVICE"), ("status", "STATUS"), ("provider", "PROVIDED BY"), ("why", "WHY")]
    lines += ["", format_table(rows, columns) if rows else "no services"]
    return "\n".join(lines)
