"""``microstax env create|stop|resume|retry|delete|scale|extend|auto-shutdown``: changing environments.

Each command calls one mutation. Payload errors print as ``error: CODE (field): message`` (blueprint
problems first, located as ``file:line:col: CODE message [path]``) and exit 1. ``--wait`` follows
the operation to its end and exits 1 when it fails, leaves the environment failed or degraded, or
runs past ``--timeout``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from microstax.cli.commands._env_api import (
    PAYLOAD_FIELDS,
    TERMINAL_OPERATION_STATES,
    report_payload_errors,
    services_table,
    state_line,
    when,
)
from microstax.cli.commands._files import display_name, read_text
from microstax.cli.commands.env_wait import DEFAULT_TIMEOUT, Outcome, wait_for_operation
from microstax.cli.context import Context
from microstax.cli.output import render


def _mutation(name: str, input_type: str) -> str:
    return f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {PAYLOAD_FIELDS} }} }}"


CREATE = _mutation("createEnvironment", "CreateEnvironmentInput")
LIFECYCLE = {
    "stop": ("stopEnvironment", "stop the environment (scale to zero, keep volumes)"),
    "resume": ("resumeEnvironment", "start a stopped environment again"),
    "retry": ("retryEnvironment", "provision a failed environment again"),
    "delete": ("deleteEnvironment", "delete the environment and its namespace"),
}
SCALE = _mutation("scaleService", "ScaleServiceInput")
EXTEND = _mutation("extendEnvironment", "ExtendEnvironmentInput")
AUTO_SHUTDOWN = _mutation("setAutoShutdown", "SetAutoShutdownInput")


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    create = commands.add_parser(
        "create",
        parents=[common],
        help="create an environment from a blueprint file",
        description="Create an environment from blueprint YAML. Blueprint problems are printed as "
        "file:line:col: CODE message [path] and exit 1.",
    )
    create.add_argument("--file", "-f", required=True, help="blueprint YAML ('-' for standard input)")
    create.add_argument("--team", "-t", required=True, help="team id (team_…) or slug")
    create.add_argument("--name", "-n", help="environment name (default: the blueprint's name)")
    create.add_argument("--plan", "-p", help="apply this plan of the blueprint (e.g. production)")
    create.add_argument("--ttl", help="time to live, e.g. 48h or 7d (default: the blueprint's ttl)")
    create.add_argument("--cluster", help="cluster name or id (default: the default cluster)")
    _wait_options(create)
    create.set_defaults(handler=create_command)

    for command, (mutation, help_text) in LIFECYCLE.items():
        parser = commands.add_parser(command, parents=[common], help=help_text)
        parser.add_argument("id", help="environment id (env_…)")
        if command == "delete":
            parser.add_argument(
                "--force", action="store_true", help="also delete the overlays that derive from it (they go first)"
            )
        _wait_options(parser)
        parser.set_defaults(handler=_lifecycle_command(mutation))

    scale = commands.add_parser("scale", parents=[common], help="set the replicas of one service")
    scale.add_argument("id", help="environment id (env_…)")
    scale.add_argument("service", help="service name")
    scale.add_argument("replicas", type=_replicas, help="number of replicas (0-50)")
    _wait_options(scale)
    scale.set_defaults(handler=scale_command)

    extend = commands.add_parser("extend", parents=[common], help="make the environment expire TTL from now")
    extend.add_argument("id", help="environment id (env_…)")
    extend.add_argument("--ttl", required=True, help="time to live from now, e.g. 24h")
    extend.set_defaults(handler=extend_command)

    idle = commands.add_parser("auto-shutdown", parents=[common], help="stop the environment when idle, or not")
    idle.add_argument("id", help="environment id (env_…)")
    switch = idle.add_mutually_exclusive_group(required=True)
    switch.add_argument("--on", dest="enabled", action="store_true", help="stop it after --delay idle minutes")
    switch.add_argument("--off", dest="enabled", action="store_false", help="never stop it for idleness")
    idle.add_argument("--delay", type=int, metavar="MINUTES", help="idle minutes before stopping (5-10080)")
    idle.set_defaults(handler=auto_shutdown_command)


def _wait_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", "-w", action="store_true", help="follow the operation's steps until it ends")
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"give up waiting after this long (default {DEFAULT_TIMEOUT:g}); the operation goes on",
    )


def _replicas(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 50:
        raise argparse.ArgumentTypeError("must be between 0 and 50")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


# -- commands ----------------------------------------------------------------------------------


def create_command(args: argparse.Namespace, ctx: Context) -> int:
    text = read_text(args.file)
    variables = {
        "input": {
            "team": args.team,
            "yaml": text,
            "name": args.name,
            "plan": args.plan,
            "ttl": args.ttl,
            "cluster": args.cluster,
        }
    }
    payload = ctx.client().execute(CREATE, variables)["createEnvironment"]
    return _finish(args, ctx, payload, filename=display_name(args.file), verb="created")


def _lifecycle_command(mutation: str) -> Callable[[argparse.Namespace, Context], int]:
    def command(args: argparse.Namespace, ctx: Context) -> int:
        if mutation == "deleteEnvironment":
            query, variables = _mutation(mutation, "DeleteEnvironmentInput"), {"id": args.id, "force": args.force}
        else:
            query, variables = _mutation(mutation, "EnvironmentIdInput"), {"id": args.id}
        payload = ctx.client().execute(query, {"input": variables})
        return _finish(args, ctx, payload[mutation], verb=f"{args.command} requested")

    return command


def scale_command(args: argparse.Namespace, ctx: Context) -> int:
    variables = {"input": {"id": args.id, "service": args.service, "replicas": args.replicas}}
    payload = ctx.client().execute(SCALE, variables)["scaleService"]
    return _finish(args, ctx, payload, verb=f"scaling {args.service} to {args.replicas}")


def extend_command(args: argparse.Namespace, ctx: Context) -> int:
    payload = ctx.client().execute(EXTEND, {"input": {"id": args.id, "ttl": args.ttl}})["extendEnvironment"]
    if report_payload_errors(ctx, payload):
        return 1
    env = payload["environment"]
    expiry = when(env.get("expiresAt"))
    ctx.out(render(env, ctx.output, table=lambda e: f"{e['id']} expires {f'{expiry} UTC' if expiry else 'never'}"))
    return 0


def auto_shutdown_command(args: argparse.Namespace, ctx: Context) -> int:
    variables = {"input": {"id": args.id, "enabled": args.enabled, "delayMinutes": args.delay}}
    payload = ctx.client().execute(AUTO_SHUTDOWN, variables)["setAutoShutdown"]
    if report_payload_errors(ctx, payload):
        return 1
    env = payload["environment"]
    ctx.out(render(env, ctx.output, table=lambda e: f"{e['id']}: auto-shutdown {'on' if args.enabled else 'off'}"))
    return 0


# -- reporting ---------------------------------------------------------------------------------


def _finish(
    args: argparse.Namespace, ctx: Context, payload: dict[str, Any], *, verb: str, filename: str | None = None
) -> int:
    """Report a mutation's payload; with ``--wait``, follow its operation first."""
    if report_payload_errors(ctx, payload, filename):
        return 1
    env, operation = payload["environment"], payload.get("operation")
    if not args.wait:
        data = {"environment": env, "operation": operation}
        ctx.out(render(data, ctx.output, table=lambda d: _requested_text(d, verb)))
        return 0
    progress = ctx.stdout if ctx.output == "table" else ctx.stderr
    outcome = wait_for_operation(
        ctx, env["id"], operation["id"] if operation else None, timeout=args.timeout, stream=progress
    )
    data = {"environment": outcome.environment, "operation": outcome.operation, "timedOut": outcome.timed_out}
    ctx.out(render(data, ctx.output, table=lambda d: _summary(d["environment"], reason=outcome.ok)))
    if outcome.timed_out:
        running = outcome.operation or {}
        ctx.err(
            f"error: timed out after {args.timeout:g}s waiting for {running.get('kind', 'the operation')} "
            f"{running.get('id', '')} (environment is {outcome.environment['state']}); it goes on on the server"
        )
    elif not outcome.ok:
        _report_failure(ctx, outcome)
    return 0 if outcome.ok else 1


def _requested_text(data: dict[str, Any], verb: str) -> str:
    env, operation = data["environment"], data["operation"]
    text = f"{env['id']} {env['team']['slug']}/{env['name']}: {verb}; state {env['state']}"
    if operation:
        text += f" (operation {operation['id']} {operation['state']})"
        if operation["state"] not in TERMINAL_OPERATION_STATES:
            text += f"\nfollow it with: microstax env status {env['id']} (or --wait next time)"
    return text


def _summary(env: dict[str, Any], *, reason: bool) -> str:
    # A failure's reason goes to standard error with the error; the summary does not repeat it.
    lines = [state_line(env) if reason else f"{env['id']} {env['team']['slug']}/{env['name']}: {env['state']}"]
    if env.get("endpoints"):
        lines.append("endpoints: " + ", ".join(env["endpoints"]))
    if env.get("services") and env["state"] != "deleted":
        lines += ["", services_table(env["services"])]
    return "\n".join(lines)


def _report_failure(ctx: Context, outcome: Outcome) -> None:
    env, operation = outcome.environment, outcome.operation or {}
    reason = operation.get("error") or env.get("stateReason") or "no reason given"
    ctx.err(f"error: {env['id']} is {env['state']}: {reason}")
    for service in env.get("services") or []:
        if service.get("reason"):
            ctx.err(f"  {service['name']}: {service['status']}: {service['reason']}")
