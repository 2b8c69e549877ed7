"""``microstax env …``: environments. ``validate`` works offline with the shared validator; the
commands that change environments live in :mod:`env_lifecycle`, those that look at them in
:mod:`env_observe`."""

from __future__ import annotations

import argparse

from blueprints.validation import validate_blueprint
from microstax.cli.commands import env_lifecycle, env_observe, env_snapshot, env_sparse
from microstax.cli.commands._files import display_name, read_text
from microstax.cli.context import Context
from microstax.cli.output import format_problems, plural, render


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    group = subparsers.add_parser("env", parents=[common], help="work with environments")
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    validate = commands.add_parser(
        "validate",
        parents=[common],
        help="check a blueprint file (offline)",
        description="Check a blueprint and print every problem as file:line:col: CODE message. "
        "Exits 1 when the blueprint has errors; lint warnings alone do not fail.",
    )
    validate.add_argument("--file", "-f", required=True, help="blueprint YAML file ('-' for standard input)")
    validate.add_argument("--plan", help="apply this plan of the blueprint (e.g. production)")
    validate.add_argument(
        "--base",
        metavar="ENV",
        help="validate as an overlay created on top of ENV (routing.baselineId is then not required)",
    )
    validate.set_defaults(handler=validate_command)
    env_lifecycle.register(commands, common)
    env_observe.register(commands, common)
    env_sparse.register(commands, common)
    env_snapshot.register(commands, common)


def validate_command(args: argparse.Namespace, ctx: Context) -> int:
    text = read_text(args.file)
    name = display_name(args.file)
    result = validate_blueprint(text, plan=args.plan, base_given=bool(args.base))
    if ctx.output in ("json", "yaml"):
        data = {"valid": result.valid, "problems": [p.to_dict() for p in result.problems], "hash": result.hash}
        ctx.out(render(data, ctx.output))
        return 0 if result.valid else 1
    for line in format_problems(result.problems, name):
        ctx.out(line)
    errors, warnings = len(result.errors), len(result.warnings)
    if result.valid:
        note = f" with {plural(warnings, 'warning')}" if warnings else ""
        ctx.out(f"{name}: valid{note} (sha256 {result.hash})")
        return 0
    note = f", {plural(warnings, 'warning')}" if warnings else ""
    ctx.out(f"{name}: invalid ({plural(errors, 'error')}{note})")
    return 1
