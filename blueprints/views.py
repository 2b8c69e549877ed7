"""Blueprint pages: list, detail with versions and diffs, an editor that validates as you type,
and the JSON Schema for editors."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from blueprints import actions
from blueprints.graphql.schema import resolve_blueprint, visible_blueprints
from blueprints.schema import blueprint_json_schema
from blueprints.validation import validate_blueprint
from frontend.context_processors import current_team
from microstax.lib.errors import DomainError, NotFound
from microstax.teams import permissions
from microstax.teams.choices import TeamPermission

STARTER = """name: my-stack
services:
  - name: api
    image: ghcr.io/example/api:1.0.0
    ports: ["8080"]
    expose: true
"""


def schema_json(request: HttpRequest) -> JsonResponse:
    """Public, like any JSON Schema an editor fetches by URL."""
    return JsonResponse(blueprint_json_schema(), json_dumps_params={"indent": 2})


@login_required
def blueprint_list(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    blueprints = visible_blueprints(request.user).filter(team=team) if team else []
    can_publish = bool(team) and permissions.has_team_perm(request.user, team, TeamPermission.MANAGE_BLUEPRINTS)
    return render(request, "blueprints/list.html", {"blueprints": blueprints, "team": team, "can_publish": can_publish})


def _blueprint_or_404(request: HttpRequest, blueprint_id: str):
    try:
        return resolve_blueprint(request.user, blueprint_id)
    except NotFound:
        raise Http404("blueprint not found") from None


@login_required
def blueprint_detail(request: HttpRequest, blueprint_id: str) -> HttpResponse:
    blueprint = _blueprint_or_404(request, blueprint_id)
    versions = list(blueprint.versions.all())
    numbers = [v.number for v in versions]
    to_number = _int(request.GET.get("to"), numbers[0] if numbers else 0)
    from_number = _int(request.GET.get("from"), to_number - 1 if to_number > 1 else to_number)
    by_number = {v.number: v for v in versions}
    changes = None
    if from_number in by_number and to_number in by_number and from_number != to_number:
        changes = actions.diff_versions(by_number[from_number], by_number[to_number])
    shown = by_number.get(to_number)
    return render(
        request,
        "blueprints/detail.html",
        {
            "blueprint": blueprint,
            "versions": versions,
            "shown": shown,
            "changes": changes,
            "from_number": from_number,
            "to_number": to_number,
            "can_publish": permissions.has_team_perm(request.user, blueprint.team, TeamPermission.MANAGE_BLUEPRINTS),
        },
    )


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@login_required
def editor(request: HttpRequest, blueprint_id: str | None = None) -> HttpResponse:
    """New blueprint (no id) or a new version of an existing one."""
    blueprint = _blueprint_or_404(request, blueprint_id) if blueprint_id else None
    team = blueprint.team if blueprint else current_team(request)
    if team is None:
        return redirect("frontend:team-create")
    source = (
        request.POST.get("yaml")
        if request.method == "POST"
        else (blueprint.versions.all()[0].source if blueprint else STARTER)
    )
    context = {
        "blueprint": blueprint,
        "team": team,
        "source": source,
        "name": request.POST.get("name", ""),
        "message": request.POST.get("message", ""),
        "error": None,
    }
    if request.method == "POST":
        try:
            if blueprint is None:
                blueprint, _ = actions.create_blueprint(
                    actor=request.user, team=team, name=context["name"], source=source, message=context["message"]
                )
            else:
                actions.publish_version(
                    actor=request.user, blueprint=blueprint, source=source, message=context["message"]
                )
        except DomainError as exc:
            context["error"] = exc.message
        else:
            return redirect("blueprints:detail", blueprint_id=blueprint.public_id)
    context["result"] = validate_blueprint(source or "")
    return render(request, "blueprints/editor.html", context, status=400 if context["error"] else 200)


@login_required
@require_POST
def validate_fragment(request: HttpRequest) -> HttpResponse:
    """The editor's live check: problems of the posted YAML, shown at their lines."""
    source = request.POST.get("yaml", "")
    return render(
        request,
        "blueprints/partials/problems.html",
        {"result": validate_blueprint(source), "lines": source.splitlines()},
    )
