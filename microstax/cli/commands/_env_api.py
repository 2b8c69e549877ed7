"""What the ``env`` commands share: GraphQL documents, fetching one environment, reporting mutation
payload errors, and small formatting helpers (times, durations, replica counts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TextIO

from microstax.cli.commands._sparse import conflict_line
from microstax.cli.context import CLIError, Context
from microstax.cli.output import format_table

STEP_FIELDS = "position name outcome startedAt finishedAt durationSeconds details"
OPERATION_FIELDS = (
    "id kind state error attempts requestedBy createdAt startedAt finishedAt durationSeconds traceId"
    " steps { " + STEP_FIELDS + " }"
)
SERVICE_FIELDS = "name status reason readyReplicas desiredReplicas endpoints providedBy"
ENV_FIELDS = (
    "id name mode state stateReason stateChangedAt namespace planName expiresAt createdAt createdBy deletedAt"
    " team { slug } cluster { name simulated } endpoints services { " + SERVICE_FIELDS + " }"
)

ENVIRONMENT_QUERY = (
    "query Env($id: ID!, $last: Int!) { environment(id: $id) { " + ENV_FIELDS + " specHash routingKey parentId"
    " autoShutdownEnabled autoShutdownDelayMinutes lastActivityAt blueprintVersion spec"
    " operations(last: $last) { " + OPERATION_FIELDS + " } } }"
)
# Polled while waiting: no spec, only the few newest operations.
PROGRESS_QUERY = (
    "query Progress($id: ID!) { environment(id: $id) { "
    + ENV_FIELDS
    + " operations(last: 3) { "
    + OPERATION_FIELDS
    + " } } }"
)

PAYLOAD_FIELDS = (
    "environment { " + ENV_FIELDS + " } operation { id kind state }"
    " errors { code field message problems { code severity path line column message }"
    " conflicts { code services message } }"
)

TERMINAL_OPERATION_STATES = frozenset({"succeeded", "failed", "superseded"})
BAD_ENVIRONMENT_STATES = frozenset({"failed", "degraded"})


def fetch_environment(ctx: Context, env_id: str, *, last: int = 20, query: str = ENVIRONMENT_QUERY) -> dict[str, Any]:
    """The environment, or CLIError NOT_FOUND when it does not exist or is not visible to the key."""
    variables: dict[str, Any] = {"id": env_id}
    if "$last" in query:
        variables["last"] = last
    env = ctx.client().execute(query, variables).get("environment")
    if not isinstance(env, dict):
        raise CLIError(f"NOT_FOUND (id): no environment '{env_id}' visible to this API key")
    return env


def report_payload_errors(ctx: Context, payload: dict[str, Any], filename: str | None = None) -> bool:
    """Print a mutation payload's errors (blueprint problems located in ``filename``); True if any."""
    errors = payload.get("errors") or []
    for error in errors:
        for problem in error.get("problems") or []:
            where = filename or "<blueprint>"
            if problem.get("line"):
                where = f"{where}:{problem['line']}:{problem.get('column') or 1}"
            path = f" [{problem['path']}]" if problem.get("path") else ""
            ctx.err(f"{where}: {problem['code']} {problem['message']}{path}")
        conflicts = error.get("conflicts") or []
        for conflict in conflicts:
            ctx.err(conflict_line(conflict))
        field = f" ({error['field']})" if error.get("field") else ""
        # The message of a conflict error repeats every conflict; the report above already has them.
        message = _conflicts_summary(error["message"], len(conflicts)) if conflicts else error["message"]
        ctx.err(f"error: {error['code']}{field}: {message}")
    return bool(errors)


def _conflicts_summary(message: str, count: int) -> str:
    head = message.split(":", 1)[0].strip() or "blocked"
    return f"{head} ({count} conflict{'' if count == 1 else 's'}); blocked before anything was provisioned"


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def when(value: str | None) -> str | None:
    """An API timestamp as ``YYYY-MM-DD HH:MM:SS`` (UTC), for tables."""
    moment = parse_time(value)
    return None if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.2f}s"
    minutes, rest = divmod(int(round(value)), 60)
    return f"{minutes}m{rest:02d}s"


def replicas(service: dict[str, Any]) -> str:
    return f"{service.get('readyReplicas', 0)}/{service.get('desiredReplicas', 0)}"


def services_table(services: list[dict[str, Any]], *, images: dict[str, str] | None = None) -> str:
    rows = [_service_row(s, images or {}) for s in services]
    columns = [("name", "SERVICE"), ("status", "STATUS"), ("ready", "READY")]
    if images is not None:
        columns.append(("image", "IMAGE"))
    columns += [("endpoints", "ENDPOINTS"), ("reason", "REASON")]
    return format_table(rows, columns) if rows else "no services"


def _service_row(service: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    # An overlay's inherited services run in their provider: they have no replicas of their own.
    bridged = service.get("status") == "inherited"
    reason = service.get("reason")
    if not reason and bridged and service.get("providedBy"):
        reason = f"provided by {service['providedBy']}"
    return {
        "name": service["name"],
        "status": service["status"],
        "ready": None if bridged else replicas(service),
        "image": images.get(service["name"]),
        "reason": reason,
        "endpoints": ", ".join(service.get("endpoints") or []),
    }


def state_line(env: dict[str, Any]) -> str:
    reason = f" ({env['stateReason']})" if env.get("stateReason") else ""
    return f"{env['id']} {env['team']['slug']}/{env['name']}: {env['state']}{reason}"


def can_encode(stream: TextIO, text: str) -> bool:
    """Whether ``stream`` can print ``text`` (a C locale cannot print ✓)."""
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeEncodeError, LookupError):
        return False
    return True
