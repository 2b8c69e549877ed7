"""Environment-app pages: the environment list, detail (status, services, logs, timeline, actions),
the create form, and clusters (the list for everyone, registration for admins).

Views resolve inputs, check visibility and call actions; the actions decide what is allowed. htmx
posts get their fragment back (with the outcome in it); plain posts get a redirect and a message.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from blueprints.actions import InvalidBlueprint
from blueprints.validation import validate_blueprint
from environments import actions
from environments.choices import STATE_ALIASES, EnvironmentState, ServiceStatus
from environments.forms import (
    CreateEnvironmentForm,
    ExtendTtlForm,
    IdlePolicyForm,
    ListFilterForm,
    RegisterClusterForm,
    ScaleForm,
)
from environments.graphql.schema import visible_environments
from environments.models import Cluster, Environment, ServiceInstance
from environments.svg import timeline_svg
from frontend.context_processors import current_team_from
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


def _current_team(request: HttpRequest):
    return current_team_from(request, list(permissions.teams_for(request.user).order_by("slug")))


def _http_links(urls) -> list[tuple[str, bool]]:
    """(url, linkable): only http(s) URLs become links, whatever a service reported."""
    return [(url, str(url).startswith(("http://", "https://"))) for url in urls]


# --- list ------------------------------------------------------------------------------------------


def _list_context(request: HttpRequest) -> dict:
    team = _current_team(request)
    params = request.GET.copy()
    if params.get("state", "").lower() in STATE_ALIASES:  # MicroStax's other spellings: running, error
        params["state"] = STATE_ALIASES[params["state"].lower()]
    filters = ListFilterForm(params)
    wanted = filters.cleaned_data if filters.is_valid() else {}
    environments: list[Environment] = []
    if team is not None:
        queryset = (
            Environment.objects.filter(team=team)
            .select_related("cluster")
            .prefetch_related(Prefetch("services", queryset=ServiceInstance.objects.order_by("name")))
            .order_by("-created_at", "-pk")
        )
        if wanted.get("state"):
            queryset = queryset.filter(state=wanted["state"])
        elif not wanted.get("deleted"):
            queryset = queryset.live()
        if wanted.get("mode"):
            queryset = queryset.filter(mode=wanted["mode"])
        environments = list(queryset[:LIST_LIMIT])
    for env in environments:
        services = list(env.services.all())
        env.services_total = len(services)
        env.services_ready = sum(1 for s in services if s.status in _READY_SERVICE)
        env.endpoint_links = _http_links(url for s in services for url in s.endpoints)
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


def _detail_context(request: HttpRequest, env: Environment, *, outcome: dict | None = None) -> dict:
    can_use = permissions.has_team_perm(request.user, env.team, TeamPermission.USE_ENVIRONMENTS)
    services = list(env.services.all())
    for service in services:
        service.endpoint_links = _http_links(service.endpoints)
    operations = list(env.operations.all())
    for operation in operations:
        operation.step_list = list(operation.steps.all())
    traced = next((op for op in operations if op.step_list), None)
    timeline = None
    if traced is not None:
        # A running operation's open step grows up to now; a finished one is drawn as it ended.
        now = timezone.now() if traced.finished_at is None else None
        timeline = mark_safe(timeline_svg(traced.step_list, now=now))  # noqa: S308 - svg.py escapes all text
    allowed = _allowed_actions(env, can_use)
    return {
        "env": env,
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
        actions.delete_environment(actor=user, env=env)
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


# --- create ----------------------------------------------------------------------------------------


@login_required
def environment_create(request: HttpRequest) -> HttpResponse:
    """Create from a published version of the team's blueprints or from pasted YAML."""
    team = _current_team(request)
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
