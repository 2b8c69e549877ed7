"""The ``microstax`` command: argument parsing, global options and error handling.

Exit status: 0 success, 1 failure or invalid input, 2 usage error. Errors are printed to
standard error as ``error: …``; no traceback is ever shown.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import metadata

from microstax.cli.client import ApiError
from microstax.cli.commands import GROUPS
from microstax.cli.context import DEFAULT_API_URL, OUTPUT_FORMATS, CLIError, Context


def _version() -> str:
    try:
        return metadata.version("microstax")
    except metadata.PackageNotFoundError:
        return "unknown"


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # On subcommands the defaults are suppressed so an option given before the command is not
    # overwritten by the subcommand's default.
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument(
        "--api-url",
        default=default,
        help=f"MicroStax API base URL (env MICROSTAX_API_URL, default {DEFAULT_API_URL})",
    )
    parser.add_argument("--api-key", default=default, help="API token msx_… (env MICROSTAX_API_KEY)")
    parser.add_argument(
        "--output", "-o", choices=OUTPUT_FORMATS, default=default, help="output format (default: table)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="microstax",
        description="MicroStax: on-demand developer environments on Kubernetes.",
        epilog="Exit status: 0 success, 1 failure or invalid input, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"microstax {_version()}")
    _global_options(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _global_options(common, suppress=True)
    groups = parser.add_subparsers(dest="group", metavar="GROUP")
    for group in GROUPS:
        group.register(groups, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: the process arguments) and return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
    handler = getattr(args, "handler", None)
    if handler is None:
        # A group without a command (``microstax env``): show what it offers.
        name = getattr(args, "group", None)
        target = parser if name is None else _group_parser(parser, name)
        target.print_help(sys.stderr)
        return 2
    ctx = Context.from_options(args)
    try:
        return int(handler(args, ctx))
    except (CLIError, ApiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); nothing more to say.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - the promise is: never a traceback
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _group_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._subparsers._group_actions if parser._subparsers else []:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction) and name in action.choices:
            return action.choices[name]
    return parser


if __name__ == "__main__":
    sys.exit(main())
