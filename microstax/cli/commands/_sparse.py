"""What the baseline, overlay and ``env plan|promote|lineage`` commands share: finding the base of
an overlay file, reporting conflicts, and turning a difference graph into a table people can read.

A plan (``planEnvironment`` / ``environment.plan``) is ``{services: [{name, status, provider,
reasons}], local, inherited, saving, conflicts}``; each reason is ``{code, …}`` as tabulated in
``environments.planner.codes``. :func:`why` summarizes a service's reasons in a few words.
"""

from __future__ import annotations

from typing import Any

import yaml

from microstax.cli.commands._files import display_name
from microstax.cli.context import CLIError, Context
from microstax.cli.output import format_table, plural

PLAN_FIELDS = "services { name status provider reasons } local inherited saving conflicts { code services message }"
CONFLICT_FIELDS = "conflicts { code services message }"
ERROR_FIELDS = (
    "errors { code field message problems { code severity path line column message } " + CONFLICT_FIELDS + " }"
)

# How many changed field names a WHY cell lists before it says "and N more".
MAX_FIELDS = 3


def baseline_from_file(text: str) -> str | None:
    """``routing.baselineId`` of a blueprint, read with the safe loader; None when absent or unreadable.

    An unreadable file is not an error here: the server reports its problems at their lines.
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    routing = data.get("routing") if isinstance(data, dict) else None
    value = routing.get("baselineId") if isinstance(routing, dict) else None
    if not isinstance(value, str):
        return None
    return value.strip() or None


def resolve_base(ctx: Context, given: str | None, text: str, path: str, *, required: bool) -> str | None:
    """The base an overlay derives from: the option, else ``routing.baselineId`` of the file.

    With ``required``, no base at all is a CLIError naming both ways to give one.
    """
    in_file = baseline_from_file(text)
    if given:
        if in_file and in_file != given:
            ctx.err(f"warning: --baseline {given} overrides routing.baselineId {in_file} of {display_name(path)}")
        return given
    if in_file is None and required:
        raise CLIError(f"no baseline: give --baseline ENV, or set routing.baselineId in {display_name(path)}")
    return in_file


# -- conflicts ---------------------------------------------------------------------------------


def conflict_line(conflict: dict[str, Any]) -> str:
    """``CODE services: message`` (``CODE: message`` when no service is involved)."""
    services = ", ".join(conflict.get("services") or [])
    return f"{conflict['code']}{' ' + services if services else ''}: {conflict['message']}"


def conflicts_report(conflicts: list[dict[str, Any]]) -> list[str]:
    return [conflict_line(c) for c in conflicts]


# -- plans -------------------------------------------------------------------------------------


def why(service: dict[str, Any]) -> str:
    """A readable summary of a service's reasons, e.g. ``image changed`` or ``inherited from env_…``."""
    status = service.get("status")
    parts: list[str] = []
    for reason in service.get("reasons") or []:
        text = _reason_text(reason if isinstance(reason, dict) else {"code": str(reason)}, status)
        if text and text not in parts:
            parts.append(text)
    if not parts:
        parts.append({"added": "new service", "removed": "removed"}.get(str(status), str(status or "-")))
    return "; ".join(parts)


def _reason_text(reason: dict[str, Any], status: str | None) -> str | None:
    code = reason.get("code")
    if code == "NEW_SERVICE":
        return "new service"
    if code == "FIELDS_CHANGED":
        return f"{_fields(reason.get('fields'))} changed"
    if code == "FIELDS_INHERITED":
        return None  # the merge filled unchanged fields from upstream: detail for --output json
    if code == "PORT_CONTRACT":
        callers = reason.get("callers") or []
        text = "port contract changed"
        return f"{text} (called by {', '.join(callers)})" if callers else text
    if code == "PROMOTED_BY":
        return "promoted: " + _promotion(reason)
    if code == "INHERITED":
        return f"inherited from {reason.get('from') or 'upstream'}"
    if code == "UNCHANGED_IN_OVERLAY":
        return "listed but unchanged" if status != "promoted" else None
    if code == "REMOVED_IN_OVERLAY":
        source = reason.get("from")
        return f"removed (was provided by {source})" if source else "removed"
    return str(code) if code else None


def _promotion(reason: dict[str, Any]) -> str:
    target, rule = reason.get("because") or "a local service", reason.get("rule")
    if rule == "no-header-propagation":
        return f"calls {target} and does not propagate the header"
    if rule == "provider-not-routed":
        return f"calls {target}, which its provider cannot reach through a header router"
    if rule == "port-contract":
        return f"calls {target}, whose ports changed"
    return str(reason.get("why") or f"calls {target}")


def _fields(fields: Any) -> str:
    names = [str(f) for f in fields or []] or ["something"]
    if len(names) <= MAX_FIELDS:
        return ", ".join(names)
    return f"{', '.join(names[:MAX_FIELDS])} and {len(names) - MAX_FIELDS} more"


def plan_table(plan: dict[str, Any]) -> str:
    rows = [
        {"name": s["name"], "status": s["status"], "provider": s.get("provider"), "why": why(s)}
        for s in plan.get("services") or []
    ]
    if not rows:
        return "no services"
    return format_table(rows, [("name", "SERVICE"), ("status", "STATUS"), ("provider", "PROVIDER"), ("why", "WHY")])


def plan_summary(plan: dict[str, Any], *, standalone: bool = False) -> str:
    """One line: what runs locally, how much is inherited, and the saving against a full clone."""
    local = list(plan.get("local") or [])
    inherited = plan.get("inherited") or {}
    saving = plan.get("saving") or {}
    full, own = saving.get("full_clone") or {}, saving.get("overlay") or {}
    names = f" ({', '.join(local)})" if local else ""
    head = f"{plural(len(local), 'local service')}{names}, {len(inherited)} inherited"
    if standalone:
        return f"{head}; stand-alone: {_footprint(full)}"
    percent = round(float(saving.get("ratio") or 0) * 100)
    return f"{head}; full clone {_footprint(full)} vs overlay {_footprint(own)}: {percent}% saved"


def _footprint(resources: dict[str, Any]) -> str:
    pods = int(resources.get("pods") or 0)
    cpu = int(resources.get("cpu_millicores") or 0)
    memory = float(resources.get("memory_mib") or 0)
    return f"{plural(pods, 'pod')}, {_cpu(cpu)} CPU, {_memory(memory)} memory"


def _cpu(millicores: int) -> str:
    return f"{millicores / 1000:g}" if millicores and millicores % 1000 == 0 else f"{millicores}m"


def _memory(mib: float) -> str:
    if mib >= 1024 and mib % 1024 == 0:
        return f"{mib / 1024:g}Gi"
    return f"{mib:g}Mi"
