"""``microstax policy validate|create|list``: sanitization policies.

``validate`` works offline: it parses the file with the snapshot agent's own parser, so what it
accepts is what the agent accepts (checks against a live schema are ``snapshot-agent validate``).
``create`` publishes the file as the next version of the team's named policy; unchanged content
returns the existing version. Problems print as ``file:line:col: CODE message [path]``.
"""

from __future__ import annotations

import argparse
from typing import Any

from microstax.cli.commands._env_api import when
from microstax.cli.commands._files import display_name, read_text
from microstax.cli.commands._snapshot_api import ERROR_FIELDS, payload_failed
from microstax.cli.context import Context
from microstax.cli.output import format_table, plural, render
from snapshots.agent import parse_policy

POLICY_FIELDS = "id name version strict keepUnsanitized contentHash createdAt createdBy team { slug }"
CREATE = (
    "mutation($input: CreateSanitizationPolicyInput!) { createSanitizationPolicy(input: $input) {"
    " policy { " + POLICY_FIELDS + " } " + ERROR_FIELDS + " } }"
)
LIST_QUERY = (
    "query Policies($team: ID, $name: String) { sanitizationPolicies(team: $team, name: $name) { "
    + POLICY_FIELDS
    + " } }"
)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    group = subparsers.add_parser("policy", parents=[common], help="sanitization policies for snapshots")
    commands = group.add_subparsers(dest="command", metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        parents=[common],
        help="check a policy file (offline)",
        description="Check a sanitization policy's YAML and print every problem as file:line:col: CODE message. "
        "Exits 1 when it has errors.",
    )
    validate.add_argument("--file", "-f", required=True, help="policy YAML ('-' for standard input)")
    validate.set_defaults(handler=validate_command)

    create = commands.add_parser(
        "create",
        parents=[common],
        help="publish a policy file as a new version",
        description="Publish the policy as the next version of the team's policy NAME (unchanged content "
        "returns the current version). Problems print at their lines and exit 1.",
    )
    create.add_argument("--team", "-t", required=True, help="team id (team_…) or slug")
    create.add_argument("--name", "-n", required=True, help="policy name (a slug)")
    create.add_argument("--file", "-f", required=True, help="policy YAML ('-' for standard input)")
    create.set_defaults(handler=create_command)

    listing = commands.add_parser("list", parents=[common], help="list policy versions")
    listing.add_argument("--team", "-t", help="only this team's (id or slug)")
    listing.add_argument("--name", "-n", help="only this policy's versions")
    listing.set_defaults(handler=list_command)


def validate_command(args: argparse.Namespace, ctx: Context) -> int:
    name = display_name(args.file)
    policy, problems = parse_policy(read_text(args.file))
    valid = policy is not None and not any(p.severity == "error" for p in problems)
    if ctx.output in ("json", "yaml"):
        data = {
            "valid": valid,
            "problems": [p.to_dict() for p in problems],
            "name": policy.name if policy else None,
            "version": policy.version if policy else None,
        }
        ctx.out(render(data, ctx.output))
        return 0 if valid else 1
    for problem in problems:
        ctx.out(problem.format(name))
    errors = sum(p.severity == "error" for p in problems)
    if not valid:
        ctx.out(f"{name}: invalid ({plural(errors, 'error')})")
        return 1
    details = plural(len(policy.rules), "rule") + (", strict" if policy.strict else "")
    ctx.out(f"{name}: valid policy {policy.name} ({details}; version {policy.version[:12]})")
    return 0


def create_command(args: argparse.Namespace, ctx: Context) -> int:
    filename = display_name(args.file)
    variables = {"input": {"team": args.team, "name": args.name, "yaml": read_text(args.file)}}
    payload = ctx.client().execute(CREATE, variables)["createSanitizationPolicy"]
    if payload_failed(ctx, payload, filename):
        return 1
    policy = payload["policy"]
    ctx.out(render(policy, ctx.output, table=lambda p: f"{p['id']} {p['team']['slug']}/{p['name']} v{p['version']}"))
    return 0


def list_command(args: argparse.Namespace, ctx: Context) -> int:
    policies = ctx.client().execute(LIST_QUERY, {"team": args.team, "name": args.name})["sanitizationPolicies"]
    ctx.out(render(policies, ctx.output, table=_table))
    return 0


def _table(policies: list[dict[str, Any]]) -> str:
    if not policies:
        return "no policies"
    rows = [
        {
            "id": p["id"],
            "policy": f"{p['team']['slug']}/{p['name']}",
            "version": p["version"],
            "strict": p["strict"],
            "by": p["createdBy"],
            "created": when(p["createdAt"]),
        }
        for p in policies
    ]
    columns = [
        ("id", "ID"),
        ("policy", "POLICY"),
        ("version", "VERSION"),
        ("strict", "STRICT"),
        ("by", "BY"),
        ("created", "CREATED"),
    ]
    return format_table(rows, columns)
