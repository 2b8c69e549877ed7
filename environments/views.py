"""Environment-app pages: the environment list, detail (status, services, logs, timeline, actions;
lineage, difference graph, saving and overlays for baselines and overlays), the create form, the new
overlay page (plan, then create), and clusters (the list for everyone, registration for admins).

Views resolve inputs, check visibility and call actions; the actions decide what is allowed. htmx
posts get their fragment back (with the outcome in it); plain posts get a redirect and a message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from types import SimpleNamespace

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from blueprints.actions import InvalidBlueprint
from blueprints.validation import validate_blueprint
from environments import actions
from environments.choices import STATE_ALIASES, EnvironmentMode, EnvironmentState, ServiceStatus
from environments.forms import (
    CreateEnvironmentForm,
    ExtendTtlForm,
    IdlePolicyForm,
    ListFilterForm,
    OverlayForm,
    RegisterClusterForm,
    ScaleForm,
)
from environments.graphql.schema import visible_environments
from environments.graphql.types import OPERATIONS_MAX
from environments.models import Cluster, Environment, ServiceInstance
from environments.svg import LineageRow, lineage_svg, timeline_svg
from frontend.context_processors import current_team
from microstax import kube
from microstax.lib.errors import DomainError, InvalidInput
from microstax.teams import permissions
from microstax.teams.choices import TeamPermission

# States the list and detail pages poll in: something is about to change without anyone acting.
TRANSITIONAL_STATES = frozenset(
    {
        EnvironmentState.PENDING,
        EnvironmentState.PROVISIONING,
        EnvironmentState.STOPPING,
        EnvironmentState.RESUMING,
        EnvironmentState.DELETING,
    }
)
POLL_SECONDS = 3
LIST_LIMIT = 200
# Large columns the list never shows, of each row and its base: 200 rows would otherwise decode 400
# blueprints and difference graphs per page (and per poll).
_UNREAD_BY_LIST = ("source", "files", "spec", "drift", "difference_plan", "secrets_encrypted")
LOG_LINES_DEFAULT, LOG_LINES_MAX = 100, 1000
_READY_SERVICE = {ServiceStatus.READY, ServiceStatus.INHERITED}
# Action error fields (the API's names) → fields of the create form.
_CREATE_FIELDS = {
    "yaml": "yaml",
    "blueprintVersion": "blueprint_version",
    "name": "name",
    "plan": "plan",
    "ttl": "ttl",
    "cluster": "cluster",
}


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _http_links(urls) -> list[tuple[str, bool]]:
    """(url, linkable): only http(s) URLs become links, whatever a service reported."""
    return [(url, str(url).startswith(("http://", "https://"))) for url in urls]


# --- list ------------------------------------------------------------------------------------------


def _list_context(request: HttpRequest) -> dict:
    team = current_team(request)
    params = request.GET.copy()
    if params.get("state", "").lower() in STATE_ALIASES:  # MicroStax's other spellings: running, error
        params["state"] = STATE_ALIASES[params["state"].lower()]
    filters = ListFilterForm(params)
    wanted = filters.cleaned_data if filters.is_valid() else {}
    environments: list[Environment] = []
    if team is not None:
        queryset = (
            Environment.objects.filter(team=team)
            .select_related("cluster", "parent")
            .defer(*_UNREAD_BY_LIST, *(f"parent__{column}" for column in _UNREAD_BY_LIST))
            .order_by("-created_at", "-pk")
        )
        if wanted.get("state"):
            queryset = queryset.filter(state=wanted["state"])
        elif not wanted.get("deleted"):
            queryset = queryset.live()
        if wanted.get("mode"):
            queryset = queryset.filter(mode=wanted["mode"])
        environments = grouped_by_base(list(queryset[:LIST_LIMIT]))
    # Of the services, a row shows counts and endpoints: three columns, not 1,000 service objects.
    services = defaultdict(list)
    rows = ServiceInstance.objects.filter(environment__in=environments).order_by("name")
    for env_id, status, endpoints in rows.values_list("environment_id", "status", "endpoints"):
        services[env_id].append((status, endpoints))
    for env in environments:
        env.services_total = len(services[env.pk])
        env.services_ready = sum(1 for status, _ in services[env.pk] if status in _READY_SERVICE)
        env.endpoint_links = _http_links(url for _, endpoints in services[env.pk] for url in endpoints)
    query = request.GET.urlencode()
    return {
        "team": team,
        "environments": environments,
        "filters": filters,
        "now": timezone.now(),
        "polling": any(env.state in TRANSITIONAL_STATES for env in environments),
        "transitional": TRANSITIONAL_STATES,
        "poll_seconds": POLL_SECONDS,
        "rows_url": reverse("environments:rows") + (f"?{query}" if query else ""),
        "can_use": team is not None and permissions.has_team_perm(request.user, team, TeamPermission.USE_ENVIRONMENTS),
    }


def grouped_by_base(environments: Sequence[Environment]) -> list[Environment]:
    """The same environments, each overlay moved right after its base, with ``depth`` set.

    Order is kept otherwise (newest first among siblings). An overlay whose base is not in the
    list (filtered out, or past the limit) stays a top-level row.
    """
    present = {env.pk for env in environments}
    children: dict[int, list[Environment]] = {}
    roots = []
    for env in environments:
        if env.parent_id is not None and env.parent_id in present:
            children.setdefault(env.parent_id, []).append(env)
        else:
            roots.append(env)
    ordered: list[Environment] = []
    seen: set[int] = set()

    def visit(env: Environment, depth: int) -> None:
        if env.pk in seen:  # a corrupt parent cycle must not loop
            return
        seen.add(env.pk)
        env.depth = depth
        ordered.append(env)
        for child in children.get(env.pk, []):
            visit(child, depth + 1)

    for env in roots + list(environments):  # then whatever a cycle kept from being reached
        visit(env, 0)
    return ordered


@login_required
def environment_list(request: HttpRequest) -> HttpResponse:
    """The current team's environments, filtered by state and mode."""
    return render(request, "environments/list.html", _list_context(request))


@login_required
def environment_rows(request: HttpRequest) -> HttpResponse:
    """The list's table alone: what the list polls while something is in transition."""
    return render(request, "environments/partials/environment_table.html", _list_context(request))


# --- detail ----------------------------------------------------------------------------------------


def _visible_or_404(request: HttpRequest, env_id: str, *, full: bool = True) -> Environment:
    """The environment if the user's teams include its team; outsiders get 404, not 403."""
    if full:
        queryset = visible_environments(request.user)
    else:
        queryset = Environment.objects.filter(team__in=permissions.teams_for(request.user)).select_related(
            "team", "cluster"
        )
    env = queryset.filter(public_id=env_id).first()
    if env is None:
        raise Http404("environment not found")
    return env


def _allowed_actions(env: Environment, can_use: bool) -> dict[str, bool]:
    """Which buttons to show. The actions check again; this only hides what would be refused."""
    live = env.is_live
    return {
        "stop": can_use and env.can_transition(EnvironmentState.STOPPING),
        "resume": can_use and env.can_transition(EnvironmentState.RESUMING),
        "retry": can_use and env.state == EnvironmentState.FAILED,
        "delete": can_use and env.can_transition(EnvironmentState.DELETING),
        "scale": can_use and env.state in (EnvironmentState.READY, EnvironmentState.DEGRADED),
        "extend": can_use and live,
        "idle": can_use and live,
    }


# --- baselines and overlays: lineage, difference graph, saving ---------------------------------------

_PROMOTION_WORDS = {
    "no-header-propagation": "calls {because} and does not propagate the header",
    "provider-not-routed": "calls {because}, which the header cannot steer from its provider's namespace",
    "port-contract": "calls {because}, whose ports changed",
}


def _words(items: Sequence[str]) -> str:
    items = [str(item) for item in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _ports(ports: Sequence[Mapping]) -> str:
    return _words([str(p.get("name") or p.get("port")) for p in ports])


def reason_text(reason: Mapping, names: Mapping[str, str]) -> str:
    """One planner reason (:mod:`environments.planner.codes`) in plain words; ``names`` maps
    environment ids to the names to show."""
    code = reason.get("code")
    origin = names.get(reason.get("from") or "", reason.get("from") or "")
    if code == "NEW_SERVICE":
        return "new service"
    if code == "FIELDS_CHANGED":
        return f"{_words(reason.get('fields') or ['spec'])} changed"
    if code == "FIELDS_INHERITED":
        return f"keeps {_words(reason.get('fields') or [])} from {origin}"
    if code == "PORT_CONTRACT":
        parts = []
        if reason.get("changed"):
            parts.append(f"ports {_ports(reason['changed'])} changed")
        if reason.get("removed"):
            parts.append(f"ports {_ports(reason['removed'])} removed")
        text = "; ".join(parts) or "port contract changed"
        return text + (f" (called by {_words(reason['callers'])})" if reason.get("callers") else "")
    if code == "PROMOTED_BY":
        template = _PROMOTION_WORDS.get(reason.get("rule") or "")
        if template is None:
            return f"promoted: {reason.get('why') or 'depends on a changed service'}"
        return "promoted: " + template.format(because=reason.get("because", "?"))
    if code == "INHERITED":
        return f"inherited from {origin}"
    if code == "UNCHANGED_IN_OVERLAY":
        return "listed in the overlay but unchanged"
    if code == "REMOVED_IN_OVERLAY":
        return f"removed (was from {origin})" if origin else "removed"
    return str(code)


def _saving_rows(saving: Mapping) -> list[dict]:
    """Pods, CPU and memory: a full clone, this overlay, what is saved and the share saved."""
    full, overlay, saved = saving.get("full_clone") or {}, saving.get("overlay") or {}, saving.get("saved") or {}
    rows = []
    for key, label, unit in (("pods", "Pods", ""), ("cpu_millicores", "CPU", " m"), ("memory_mib", "Memory", " MiB")):
        whole, part, diff = full.get(key) or 0, overlay.get(key) or 0, saved.get(key) or 0
        rows.append(
            {
                "key": key,
                "label": label,
                "full": f"{whole:g}{unit}",
                "overlay": f"{part:g}{unit}",
                "saved": f"{diff:g}{unit}",
                "percent": round(100 * diff / whole) if whole else 0,
            }
        )
    return rows


def _plan_view(plan: Mapping, chain: Sequence, own_id: str) -> dict:
    """What the pages show of a plan (``Plan.to_dict()``): rows with plain reasons, saving, conflicts
    and the lineage picture of ``chain`` (whose last layer is the overlay, id ``own_id``)."""
    names = {layer.public_id: layer.name for layer in chain}
    names[own_id] = "this overlay"
    rows = [
        {
            "name": service["name"],
            "status": service["status"],
            "provider": "" if service["status"] == "removed" else service["provider"],
            "provider_name": "" if service["status"] == "removed" else names.get(service["provider"], "?"),
            "reasons": [reason_text(reason, names) for reason in service.get("reasons") or []],
        }
        for service in plan.get("services") or []
    ]
    lineage_rows = [LineageRow(row["name"], row["provider"], row["status"]) for row in rows]
    return {
        "rows": rows,
        "local": plan.get("local") or [],
        "saving": _saving_rows(plan.get("saving") or {}),
        "ratio": round(100 * ((plan.get("saving") or {}).get("ratio") or 0)),
        "conflicts": plan.get("conflicts") or [],
        "lineage": mark_safe(lineage_svg(chain, lineage_rows)),  # noqa: S308 - svg.py escapes all text
    }


def _sparse_context(env: Environment, services: Sequence[ServiceInstance]) -> dict | None:
    """Lineage, difference graph, saving and the overlays below, for baselines and overlays."""
    if env.mode not in (EnvironmentMode.BASELINE, EnvironmentMode.OVERLAY):
        return None
    chain = actions.chain_of(env)
    if env.mode == EnvironmentMode.OVERLAY and env.difference_plan:
        view = _plan_view(env.difference_plan, chain, env.public_id)
    else:  # a baseline runs all its services itself
        rows = [LineageRow(s.name, s.provided_by.public_id, "local") for s in services]
        view = {"rows": None, "lineage": mark_safe(lineage_svg(chain, rows))}  # noqa: S308 - escaped
    view["chain"] = chain
    view["overlays"] = list(
        Environment.objects.live().filter(parent=env).select_related("created_by").order_by("-created_at", "-pk")
    )
    return view


def _detail_context(request: HttpRequest, env: Environment, *, outcome: dict | None = None) -> dict:
    perms = permissions.team_perms(request.user, env.team)
    can_use = TeamPermission.USE_ENVIRONMENTS in perms
    services = list(env.services.all())
    for service in services:
        service.endpoint_links = _http_links(service.endpoints)
    operations = list(env.operations.select_related("actor").prefetch_related("steps")[:OPERATIONS_MAX])
    for operation in operations:
        operation.step_list = list(operation.steps.all())
    traced = next((op for op in operations if op.step_list), None)
    timeline = None
    if traced is not None:
        # A running operation's open step grows up to now; a finished one is drawn as it ended.
        now = timezone.now() if traced.finished_at is None else None
        timeline = mark_safe(timeline_svg(traced.step_list, now=now))  # noqa: S308 - svg.py escapes all text
    allowed = _allowed_actions(env, can_use)
    sparse = _sparse_context(env, services)
    # Promotion needs its own role (maintainers and owners).
    allowed["promote"] = (
        env.mode == EnvironmentMode.ISOLATED
        and env.state == EnvironmentState.READY
        and TeamPermission.MANAGE_BASELINES in perms
    )
    return {
        "env": env,
        "sparse": sparse,
        "live_overlays": len(sparse["overlays"]) if sparse else 0,
        "services": services,
        "operations": operations,
        "traced": traced,
        "timeline": timeline,
        "can_use": can_use,
        "allowed": allowed,
        "any_action": any(allowed.values()),
        "polling": env.state in TRANSITIONAL_STATES,
        "transitional": TRANSITIONAL_STATES,
        "poll_seconds": POLL_SECONDS,
        "now": timezone.now(),
        "outcome": outcome,
    }


@login_required
def environment_detail(request: HttpRequest, env_id: str) -> HttpResponse:
    env = _visible_or_404(request, env_id)
    actions.touch_activity(env)  # someone is looking: push back idle shutdown
    context = _detail_context(request, env)
    context["log_lines_default"] = LOG_LINES_DEFAULT
    return render(request, "environments/detail.html", context)


@login_required
def environment_status(request: HttpRequest, env_id: str) -> HttpResponse:
    """The detail page's live part alone, polled while the environment is in transition."""
    env = _visible_or_404(request, env_id)
    actions.touch_activity(env)  # polled only while in transition, so an idle open tab keeps nothing awake
    return render(request, "environments/partials/detail_status.html", _detail_context(request, env))


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@login_required
def environment_logs(request: HttpRequest, env_id: str) -> HttpResponse:
    """The last N log lines of one service, merged across its pods."""
    env = _visible_or_404(request, env_id, full=False)
    service = request.GET.get("service", "")
    tail_lines = min(max(_int(request.GET.get("lines"), LOG_LINES_DEFAULT), 1), LOG_LINES_MAX)
    lines, error = [], None
    if not env.services.filter(name=service).exists():
        error = "Pick a service of this environment."
    elif env.state == EnvironmentState.STOPPED:
        error = "This environment is stopped: its pods are gone, and with them their logs. Resume it to see new ones."
    else:
        actions.touch_activity(env)
        try:
            lines = _tail(env, service, tail_lines)
        except kube.KubeError as exc:
            error = f"Logs are not available: {exc}"
    context = {"env": env, "service": service, "lines": lines, "error": error, "tail_lines": tail_lines}
    return render(request, "environments/partials/logs.html", context)


def _tail(env: Environment, service: str, tail_lines: int) -> list:
    return kube.tail(
        actions.cluster_config(env.cluster),
        env.namespace,
        service,
        environment_id=env.public_id,
        tail_lines=tail_lines,
    )


def _form_input(form: forms.Form) -> dict:
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        raise InvalidInput(f"{field}: {' '.join(errors)}", field=field)
    return form.cleaned_data


def _perform(request: HttpRequest, env: Environment, action: str) -> str:
    """Call the action behind a button; returns the success message, raises DomainError."""
    user = request.user
    if action == "stop":
        actions.stop_environment(actor=user, env=env)
        return "Stopping: every service scales to zero; volumes stay."
    if action == "resume":
        actions.resume_environment(actor=user, env=env)
        return "Resuming."
    if action == "retry":
        actions.retry_environment(actor=user, env=env)
        return "Provisioning again."
    if action == "delete":
        force = request.POST.get("force") in ("on", "true", "1")
        actions.delete_environment(actor=user, env=env, force=force)
        if force:
            return "Deleting, with every overlay derived from it: the namespaces go; the records stay as history."
        return "Deleting: the namespace goes; the record stays as history."
    if action == "scale":
        data = _form_input(ScaleForm(request.POST))
        actions.scale_service(actor=user, env=env, service=data["service"], replicas=data["replicas"])
        return f"Scaling {data['service']} to {data['replicas']} replica{'' if data['replicas'] == 1 else 's'}."
    if action == "extend":
        data = _form_input(ExtendTtlForm(request.POST))
        env = actions.extend_ttl(actor=user, env=env, ttl=data["ttl"])
        return f"Expires {timezone.localtime(env.expires_at):%Y-%m-%d %H:%M}."
    if action == "idle":
        data = _form_input(IdlePolicyForm(request.POST))
        env = actions.set_idle_policy(actor=user, env=env, enabled=data["enabled"], delay_minutes=data["delay_minutes"])
        if not env.auto_shutdown_enabled:
            return "Idle shutdown is off."
        return f"Stops after {env.auto_shutdown_delay_minutes} idle minutes."
    raise Http404("no such action")


ACTIONS = ("stop", "resume", "retry", "delete", "scale", "extend", "idle")


@login_required
@require_POST
def environment_action(request: HttpRequest, env_id: str, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise Http404("no such action")
    env = _visible_or_404(request, env_id, full=False)
    try:
        outcome = {"ok": True, "message": _perform(request, env, action)}
    except DomainError as exc:
        outcome = {"ok": False, "message": exc.message, "code": exc.code}
    if _is_htmx(request):
        fresh = _visible_or_404(request, env_id)
        return render(
            request, "environments/partials/detail_status.html", _detail_context(request, fresh, outcome=outcome)
        )
    (messages.success if outcome["ok"] else messages.error)(request, outcome["message"])
    return redirect("environments:detail", env_id=env.public_id)


@login_required
@require_POST
def environment_promote(request: HttpRequest, env_id: str) -> HttpResponse:
    """Turn a ready isolated environment into a baseline (the action checks the role and the images)."""
    env = _visible_or_404(request, env_id, full=False)
    try:
        actions.promote_environment(actor=request.user, env=env)
        outcome = {"ok": True, "message": f"'{env.name}' is a baseline now: overlays can derive from it."}
    except DomainError as exc:
        outcome = {"ok": False, "message": exc.message, "code": exc.code}
    if _is_htmx(request):
        fresh = _visible_or_404(request, env_id)
        return render(
            request, "environments/partials/detail_status.html", _detail_context(request, fresh, outcome=outcome)
        )
    (messages.success if outcome["ok"] else messages.error)(request, outcome["message"])
    return redirect("environments:detail", env_id=env.public_id)


# --- new overlay -----------------------------------------------------------------------------------


# The environment id ``plan_overlay`` gives an overlay that does not exist yet.
NEW_OVERLAY_ID = "(new overlay)"


def _overlay_preview(request: HttpRequest, base: Environment, data: Mapping) -> dict:
    """The dry run behind the Plan button: the difference graph, saving, conflicts, or why not."""
    try:
        _, plan = actions.plan_overlay(actor=request.user, base=base, source=data["yaml"], name=data["name"] or None)
    except InvalidBlueprint as exc:
        errors = [p for p in exc.problems if p.is_error]
        result = SimpleNamespace(valid=False, problems=exc.problems, errors=errors, hash="")
        return {"error": {"code": exc.code, "message": exc.message}, "result": result}
    except DomainError as exc:
        return {"error": {"code": exc.code, "message": exc.message}}
    name = (data["name"] or plan.effective_spec.get("name") or "new overlay").strip().lower()
    proposed = SimpleNamespace(
        public_id=NEW_OVERLAY_ID,
        name=name,
        mode=EnvironmentMode.OVERLAY,
        state="planned",
        routing_key=plan.effective_spec.get("routing", {}).get("overlayId") or name,
    )
    chain = [*actions.chain_of(base), proposed]
    return {"plan": _plan_view(plan.to_dict(), chain, NEW_OVERLAY_ID), "blocked": plan.blocked}


@login_required
def overlay_create(request: HttpRequest, env_id: str) -> HttpResponse:
    """An overlay of this baseline (or overlay) from pasted YAML: Plan is a dry run, Create creates.

    Plan (``intent=plan``) answers htmx with the preview fragment alone; a refused create shows the
    conflict report or the problems with the plan, and creates nothing.
    """
    base = _visible_or_404(request, env_id, full=False)
    form = OverlayForm(request.POST or None)
    can_use = permissions.has_team_perm(request.user, base.team, TeamPermission.USE_ENVIRONMENTS)
    preview, status = None, 200
    planning = request.POST.get("intent") == "plan"
    if request.method == "POST":
        if not form.is_valid():
            if planning and _is_htmx(request):  # htmx swaps only 2xx answers: say it in the fragment
                preview = {"error": {"code": "INVALID", "message": "Paste the overlay's YAML to plan it."}}
                return render(request, "environments/partials/overlay_plan.html", {"preview": preview, "base": base})
            status = 400
        elif planning:
            preview = _overlay_preview(request, base, form.cleaned_data)
            if _is_htmx(request):
                return render(request, "environments/partials/overlay_plan.html", {"preview": preview, "base": base})
        else:
            data = form.cleaned_data
            try:
                overlay = actions.create_overlay(
                    actor=request.user,
                    base=base,
                    source=data["yaml"],
                    name=data["name"] or None,
                    ttl=data["ttl"] or None,
                )
            except DomainError as exc:
                status = 400
                if isinstance(exc, (actions.OverlayConflict, InvalidBlueprint)):
                    preview = _overlay_preview(request, base, data)
                else:
                    preview = {}
                if isinstance(exc, actions.OverlayConflict):  # the report the action refused with
                    preview.setdefault("plan", {})["conflicts"] = [c.to_dict() for c in exc.conflicts]
                    preview["blocked"] = True
                preview["error"] = {"code": exc.code, "message": exc.message}
            else:
                messages.success(request, f"Overlay '{overlay.name}' of {base.name} is being created.")
                return redirect("environments:detail", env_id=overlay.public_id)
    context = {"base": base, "form": form, "can_use": can_use, "preview": preview}
    return render(request, "environments/overlay_create.html", context, status=status)


# --- create ----------------------------------------------------------------------------------------


@login_required
def environment_create(request: HttpRequest) -> HttpResponse:
    """Create from a published version of the team's blueprints or from pasted YAML."""
    team = current_team(request)
    if team is None:
        return redirect("frontend:team-create")
    form = CreateEnvironmentForm(request.POST or None, team=team)
    error_code = None
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            env = actions.create_environment(
                actor=request.user,
                team=team,
                source=data["yaml"] or None,
                blueprint_version=data["blueprint_version"],
                name=data["name"] or None,
                plan=data["plan"] or None,
                ttl=data["ttl"] or None,
                cluster=data["cluster"],
            )
        except DomainError as exc:
            error_code = exc.code
            field = _CREATE_FIELDS.get(exc.field or "")
            form.add_error(field if not isinstance(exc, InvalidBlueprint) or data["yaml"] else None, exc.message)
        else:
            messages.success(request, f"Environment '{env.name}' is being created on {env.cluster.name}.")
            return redirect("environments:detail", env_id=env.public_id)
    source = form.data.get("yaml", "") if form.is_bound else ""
    return render(
        request,
        "environments/create.html",
        {
            "team": team,
            "form": form,
            "error_code": error_code,
            "can_use": permissions.has_team_perm(request.user, team, TeamPermission.USE_ENVIRONMENTS),
            "result": validate_blueprint(source, plan=form.data.get("plan") or None) if source.strip() else None,
        },
        status=400 if form.errors else 200,
    )


# --- clusters --------------------------------------------------------------------------------------


@login_required
def cluster_list(request: HttpRequest) -> HttpResponse:
    form = RegisterClusterForm(request.POST or None) if request.user.is_superuser else None
    if request.method == "POST" and form is not None and form.is_valid():
        data = form.cleaned_data
        try:
            cluster = actions.register_cluster(
                actor=request.user,
                **{**data, "context": data["context"] or None, "routing_provider": data["routing_provider"] or None},
            )
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Cluster '{cluster.name}' registered: {cluster.get_health_display()}.")
            return redirect("environments:clusters")
    status = 400 if form is not None and form.errors else 200
    return render(
        request,
        "environments/clusters.html",
        {"clusters": Cluster.objects.order_by("name"), "form": form},
        status=status,
    )
