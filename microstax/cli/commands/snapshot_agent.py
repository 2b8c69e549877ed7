"""``microstax snapshot-agent …``: sanitized database capture and restore, as run inside Jobs.

These commands talk to a database, not to the MicroStax API: ``validate`` checks a policy against
a live schema, ``capture`` writes a sanitized artifact, ``restore`` loads one into an empty
database after verifying its checksum. The DSN may come from ``MICROSTAX_SNAPSHOT_DSN`` and the
policy salt from ``MICROSTAX_SNAPSHOT_SALT`` (both usually mounted from Secrets), so neither has
to appear on a command line.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from microstax.cli.context import CLIError, Context
from microstax.cli.output import to_json
from snapshots.agent import PolicyError, PolicyProblem, SnapshotAgentError, engine_for, parse_policy
from snapshots.agent.policy import Policy

DSN_ENV = "MICROSTAX_SNAPSHOT_DSN"
SALT_ENV = "MICROSTAX_SNAPSHOT_SALT"


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    # The API options (`common`) are not offered here: these commands never call the API, and
    # `capture --output FILE` would clash with the global `--output FORMAT`.
    group = subparsers.add_parser(
        "snapshot-agent",
        help="capture and restore sanitized database snapshots (runs in snapshot Jobs)",
        description="Sanitized snapshots of a PostgreSQL database, driven by a sanitization policy.",
    )
    commands = group.add_subparsers(dest="command", metavar="COMMAND")
    dsn_help = f"database URI, e.g. postgresql://user@host/db (env {DSN_ENV})"
    validate = commands.add_parser("validate", help="check a policy against a database's schema")
    validate.add_argument("--dsn", help=dsn_help)
    validate.add_argument("--policy", "-p", required=True, help="sanitization policy YAML")
    validate.set_defaults(handler=validate_command)
    capture = commands.add_parser(
        "capture",
        help="write a sanitized snapshot artifact",
        description="Capture a consistent, sanitized snapshot. Policy errors are reported before anything "
        "is read; the artifact and FILE.sha256 only appear once complete.",
    )
    capture.add_argument("--dsn", help=dsn_help)
    capture.add_argument("--policy", "-p", required=True, help="sanitization policy YAML")
    capture.add_argument("--output", dest="artifact", required=True, metavar="FILE", help="artifact to write")
    capture.add_argument("--json", action="store_true", help="print the result as JSON")
    capture.set_defaults(handler=capture_command)
    restore = commands.add_parser(
        "restore",
        help="load an artifact into an empty database",
        description="Verify the artifact's checksum, then load schema, data and constraints in one "
        "transaction: on any failure nothing is kept.",
    )
    restore.add_argument("--dsn", help=dsn_help)
    restore.add_argument("--input", dest="artifact", required=True, metavar="FILE", help="artifact to load")
    restore.add_argument("--json", action="store_true", help="print the result as JSON")
    restore.set_defaults(handler=restore_command)


def _dsn(args: argparse.Namespace) -> str:
    dsn = args.dsn or os.environ.get(DSN_ENV)
    if not dsn:
        raise CLIError(f"no database given: pass --dsn or set {DSN_ENV}")
    return dsn


def _policy(path: str) -> tuple[Policy, str]:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    policy, problems = parse_policy(text)
    if policy is None:
        raise PolicyError(problems, path)
    return policy.with_salt(os.environ.get(SALT_ENV)), text


def _report(problems: list[PolicyProblem], filename: str, ctx: Context) -> None:
    for problem in problems:
        ctx.err(problem.format(filename))


def _run(args: argparse.Namespace, ctx: Context, action: Callable[[], int]) -> int:
    """Run ``action``, turning the agent's errors into located problems and ``error:`` lines."""
    try:
        return action()
    except PolicyError as exc:
        _report(exc.problems, getattr(args, "policy", exc.filename), ctx)
        errors = sum(p.severity == "error" for p in exc.problems)
        raise CLIError(
            f"policy {getattr(args, 'policy', exc.filename)} has {errors} error(s); nothing was done"
        ) from None
    except SnapshotAgentError as exc:
        raise CLIError(str(exc)) from None


def validate_command(args: argparse.Namespace, ctx: Context) -> int:
    def action() -> int:
        policy, text = _policy(args.policy)
        problems = engine_for(_dsn(args)).validate(policy, policy_text=text)
        if ctx.output == "json":
            ctx.out(to_json([p.to_dict() for p in problems]))
        else:
            _report(problems, args.policy, ctx)
        errors = sum(p.severity == "error" for p in problems)
        if errors:
            ctx.err(f"error: {args.policy}: {errors} error(s)")
            return 1
        if ctx.output != "json":
            ctx.out(f"{args.policy}: policy {policy.name} can be applied ({len(problems)} warning(s))")
        return 0

    return _run(args, ctx, action)


def capture_command(args: argparse.Namespace, ctx: Context) -> int:
    def action() -> int:
        policy, text = _policy(args.policy)
        result = engine_for(_dsn(args)).capture(policy, args.artifact, policy_text=text)
        _report(result.warnings, args.policy, ctx)
        summary = {
            "artifact": result.path,
            "sha256": result.sha256,
            "bytes": result.bytes,
            "rows": result.rows,
            "seconds": round(result.seconds, 3),
        }
        if args.json or ctx.output == "json":
            ctx.out(to_json(summary))
        else:
            ctx.out(
                f"captured {len(result.rows)} table(s), {result.total_rows} row(s) to {result.path} "
                f"in {result.seconds:.1f}s (sha256 {result.sha256})"
            )
        return 0

    return _run(args, ctx, action)


def restore_command(args: argparse.Namespace, ctx: Context) -> int:
    def action() -> int:
        result = engine_for(_dsn(args)).restore(args.artifact)
        if args.json or ctx.output == "json":
            ctx.out(to_json({"rows": result.rows, "seconds": round(result.seconds, 3)}))
        else:
            ctx.out(f"restored {len(result.rows)} table(s), {result.total_rows} row(s) in {result.seconds:.1f}s")
        return 0

    return _run(args, ctx, action)
