"""``microstax snapshot-agent …``: sanitized database capture and restore, as run inside Jobs.

These commands talk to a database, not to the MicroStax API: ``validate`` checks a policy against
a live schema, ``capture`` writes a sanitized artifact, ``restore`` loads one into an empty
database after verifying its checksum. The DSN may come from ``MICROSTAX_SNAPSHOT_DSN`` and the
policy salt from ``MICROSTAX_SNAPSHOT_SALT`` (both usually mounted from Secrets), so neither has
to appear on a command line; without either, libpq's ``PGHOST``/``PGPORT``/``PGUSER``/
``PGDATABASE``/``PGPASSWORD`` are used, as a seed Job's client does.

In snapshot Jobs the artifact travels over HTTP to and from the control plane: ``capture
--upload URL`` streams it there with a PUT, ``restore --input URL`` downloads it to a temporary
file first. Both authenticate with the single-use token in ``MICROSTAX_SNAPSHOT_TOKEN``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from microstax.cli.context import CLIError, Context
from microstax.cli.output import to_json
from snapshots.agent import PolicyError, PolicyProblem, SnapshotAgentError, engine_for, parse_policy
from snapshots.agent.policy import Policy

DSN_ENV = "MICROSTAX_SNAPSHOT_DSN"
SALT_ENV = "MICROSTAX_SNAPSHOT_SALT"
TOKEN_ENV = "MICROSTAX_SNAPSHOT_TOKEN"
TOKEN_HEADER = "X-Microstax-Snapshot-Token"
SHA256_HEADER = "X-Microstax-Sha256"
TRANSFER_TIMEOUT = 300
_LIBPQ_ENV = (("PGHOST", "host"), ("PGPORT", "port"), ("PGUSER", "user"), ("PGDATABASE", "dbname"))


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
    capture.add_argument("--output", dest="artifact", metavar="FILE", help="artifact to write")
    capture.add_argument(
        "--upload", metavar="URL", help=f"PUT the artifact to this control-plane URL (token from env {TOKEN_ENV})"
    )
    capture.add_argument("--json", action="store_true", help="print the result as JSON")
    capture.set_defaults(handler=capture_command)
    restore = commands.add_parser(
        "restore",
        help="load an artifact into an empty database",
        description="Verify the artifact's checksum, then load schema, data and constraints in one "
        "transaction: on any failure nothing is kept.",
    )
    restore.add_argument("--dsn", help=dsn_help)
    restore.add_argument(
        "--input",
        dest="artifact",
        required=True,
        metavar="FILE|URL",
        help=f"artifact to load: a file, or a control-plane URL to download it from (token from env {TOKEN_ENV})",
    )
    restore.add_argument("--json", action="store_true", help="print the result as JSON")
    restore.set_defaults(handler=restore_command)


def _dsn(args: argparse.Namespace) -> str:
    dsn = args.dsn or os.environ.get(DSN_ENV)
    if not dsn:
        # A Job gets libpq's variables (PGPASSWORD stays in the environment, where libpq reads it).
        parts = [f"{key}={os.environ[name]}" for name, key in _LIBPQ_ENV if os.environ.get(name)]
        if any(part.startswith(("host=", "dbname=")) for part in parts):
            return " ".join(parts)
        raise CLIError(f"no database given: pass --dsn, set {DSN_ENV}, or set PGHOST/PGDATABASE")
    return dsn


def _token() -> str:
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise CLIError(f"transfers to the control plane need a token in {TOKEN_ENV}")
    return token


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def _http_error(what: str, url: str, exc: Exception) -> CLIError:
    if isinstance(exc, urllib.error.HTTPError):
        detail = exc.read(2000).decode("utf-8", "replace").strip()
        return CLIError(f"{what} {url} was refused: HTTP {exc.code} {detail}")
    return CLIError(f"{what} {url} failed: {getattr(exc, 'reason', None) or exc}")


def upload(path: str, url: str, token: str) -> dict:
    """PUT the artifact at ``path`` to ``url``, streamed from the file (never read into memory)."""
    import json

    size = Path(path).stat().st_size
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    with open(path, "rb") as handle:
        request = urllib.request.Request(url, data=handle, method="PUT")
        # An explicit length keeps http.client from chunking the body, and lets the server refuse early.
        request.add_header("Content-Length", str(size))
        request.add_header("Content-Type", "application/octet-stream")
        request.add_header(TOKEN_HEADER, token)
        request.add_header(SHA256_HEADER, digest.hexdigest())
        try:
            with urllib.request.urlopen(request, timeout=TRANSFER_TIMEOUT) as response:  # noqa: S310 - http(s) only
                body = response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise _http_error("upload to", url, exc) from None
    try:
        return json.loads(body or b"{}")
    except ValueError:
        return {}


def download(url: str, token: str, target: Path) -> str:
    """GET the artifact at ``url`` into ``target`` in chunks; returns its sha256."""
    request = urllib.request.Request(url, method="GET")
    request.add_header(TOKEN_HEADER, token)
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=TRANSFER_TIMEOUT) as response, target.open("wb") as out:  # noqa: S310
            expected = response.headers.get(SHA256_HEADER)
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                digest.update(block)
    except (urllib.error.URLError, OSError) as exc:
        raise _http_error("download from", url, exc) from None
    if expected and expected != digest.hexdigest():
        raise CLIError(f"the download from {url} does not match its checksum; nothing was restored")
    return digest.hexdigest()


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
    if not args.artifact and not args.upload:
        raise CLIError("give --output FILE, --upload URL, or both")
    if not args.artifact:
        with tempfile.TemporaryDirectory(prefix="msx-capture-") as tmp:
            args.artifact = str(Path(tmp) / "snapshot.msxsnap")
            return _capture(args, ctx)
    return _capture(args, ctx)


def _capture(args: argparse.Namespace, ctx: Context) -> int:
    def action() -> int:
        policy, text = _policy(args.policy)
        token = _token() if args.upload else ""
        result = engine_for(_dsn(args)).capture(policy, args.artifact, policy_text=text)
        _report(result.warnings, args.policy, ctx)
        if args.upload:
            upload(result.path, args.upload, token)
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
    if _is_url(args.artifact):
        url, token = args.artifact, _token()
        with tempfile.TemporaryDirectory(prefix="msx-restore-") as tmp:
            args.artifact = str(Path(tmp) / "snapshot.msxsnap")
            download(url, token, Path(args.artifact))
            return _restore(args, ctx)
    return _restore(args, ctx)


def _restore(args: argparse.Namespace, ctx: Context) -> int:
    def action() -> int:
        result = engine_for(_dsn(args)).restore(args.artifact)
        if args.json or ctx.output == "json":
            ctx.out(to_json({"rows": result.rows, "seconds": round(result.seconds, 3)}))
        else:
            ctx.out(f"restored {len(result.rows)} table(s), {result.total_rows} row(s) in {result.seconds:.1f}s")
        return 0

    return _run(args, ctx, action)
