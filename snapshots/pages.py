"""Snapshot pages: the team's snapshots, one snapshot with its lineage (restore, download, delete),
the team's sanitization policies (versions; publish from YAML with located problems; validate), and
the "Snapshots" section of an environment's page (take a snapshot).

Views resolve inputs, check visibility (what the user cannot see is a 404) and call
:mod:`snapshots.actions`, which decide what is allowed; buttons are hidden when the role would be
refused, and the actions check again. htmx posts get their fragment back with the outcome in it;
plain posts get a redirect and a message, or the page again with the error (status 400).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from environments.models import Environment
from frontend.context_processors import current_team
from microstax.lib.errors import DomainError, InvalidInput, NotFound, PermissionDenied
from microstax.teams import permissions
from microstax.teams.choices import TeamPermission
from snapshots import actions
from snapshots.agent import parse_policy
from snapshots.forms import ListFilterForm, PolicyForm, RestoreForm, TakeSnapshotForm
from snapshots.models import SanitizationPolicy, Snapshot, SnapshotRestore, SnapshotShare, SnapshotState
from snapshots.queries import redacted_source, snapshots_for, with_lineage
from snapshots.svg import Node, snapshot_lineage_svg

LIST_LIMIT = 200
TARGETS_LIMIT = 200
SECTION_LIMIT = 10
POLL_SECONDS = 3
TRANSITIONAL_STATES = frozenset({SnapshotState.PENDING, SnapshotState.CAPTURING})


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _snapshots(user, *, include_deleted: bool = False):
    return with_lineage(snapshots_for(user, include_deleted=include_deleted))


def _snapshot_or_404(request: HttpRequest, snap_id: str, *, include_deleted: bool = False) -> Snapshot:
    snapshot = _snapshots(request.user, include_deleted=include_deleted).filter(public_id=snap_id).first()
    if snapshot is None:
        raise Http404("snapshot not found")
    return snapshot


def _env_or_404(request: HttpRequest, env_id: str) -> Environment:
    env = (
        Environment.objects.filter(team__in=permissions.teams_for(request.user), public_id=env_id)
        .select_related("team")
        .first()
    )
    if env is None:
        raise Http404("environment not found")
    return env


def _outcome(exc: DomainError) -> dict:
    return {"ok": False, "message": exc.message, "code": exc.code, "field": exc.field}


# --- who may do what (to hide buttons; the actions check again) ---------------------------------


def abilities(user, snapshot: Snapshot) -> dict[str, bool]:
    """Which of restore, download and delete to offer ``user`` on ``snapshot``.

    The rules :mod:`snapshots.actions` enforce: restoring needs the environment role on a target's
    team (a raw snapshot: the owner role, and only into its own team); downloading needs the
    environment role in the snapshot's team (a raw one: the owner role); deleting needs the
    baseline role (owners and maintainers).
    """
    perms = permissions.team_perms(user, snapshot.team)
    restorable = snapshot.state == SnapshotState.READY and not _expired(snapshot)
    owner = TeamPermission.MANAGE_MEMBERS in perms
    use = TeamPermission.USE_ENVIRONMENTS in perms
    return {
        "restore": restorable and (snapshot.sanitized or owner),
        "download": restorable and use and (snapshot.sanitized or owner),
        "delete": snapshot.state != SnapshotState.DELETED and TeamPermission.MANAGE_BASELINES in perms,
    }


def _expired(snapshot: Snapshot) -> bool:
    return snapshot.expires_at is not None and snapshot.expires_at <= timezone.now()


def restore_targets(user, snapshot: Snapshot) -> list[Environment]:
    """Live environments the user may restore ``snapshot`` into (raw snapshots stay in their team)."""
    teams = permissions.teams_for(user, TeamPermission.USE_ENVIRONMENTS)
    queryset = Environment.objects.filter(team__in=teams, state__in=actions.OFFERED_STATES)
    if not snapshot.sanitized:
        queryset = queryset.filter(team=snapshot.team)
    return list(queryset.select_related("team").order_by("team__slug", "name")[:TARGETS_LIMIT])


# --- list --------------------------------------------------------------------------------------


def _list_context(request: HttpRequest) -> dict:
    team = current_team(request)
    filters = ListFilterForm(request.GET)
    wanted = filters.cleaned_data if filters.is_valid() else {}
    environment = None
    snapshots: list[Snapshot] = []
    if team is not None:
        # The team's own snapshots and the sanitized ones other teams shared with it.
        shared = SnapshotShare.objects.filter(team=team, snapshot__sanitized=True).values("snapshot_id")
        queryset = _snapshots(request.user).filter(Q(team=team) | Q(pk__in=shared)).order_by("-created_at", "-pk")
        if request.GET.get("environment"):
            environment = _env_or_404(request, request.GET["environment"])
            queryset = queryset.filter(environment=environment)
        queryset = queryset.filter(state=wanted["state"]) if wanted.get("state") else queryset.live()
        snapshots = list(queryset[:LIST_LIMIT])
    query = request.GET.urlencode()
    return {
        "team": team,
        "environment": environment,
        "snapshots": snapshots,
        "filters": filters,
        "now": timezone.now(),
        "polling": any(s.state in TRANSITIONAL_STATES for s in snapshots),
        "poll_seconds": POLL_SECONDS,
        "rows_url": reverse("snapshots:rows") + (f"?{query}" if query else ""),
    }


@login_required
def snapshot_list(request: HttpRequest) -> HttpResponse:
    """The current team's snapshots: state, size, sanitized or raw, policy, expiry."""
    return render(request, "snapshots/list.html", _list_context(request))


@login_required
def snapshot_rows(request: HttpRequest) -> HttpResponse:
    """The list's table alone: what the list polls while a capture runs."""
    return render(request, "snapshots/partials/snapshot_table.html", _list_context(request))


# --- detail ------------------------------------------------------------------------------------


def lineage_picture(snapshot: Snapshot, restores: Iterable[SnapshotRestore], visible_teams: frozenset[int]) -> str:
    env = snapshot.environment
    source = Node(
        env.public_id, f"{env.team.slug}/{env.name}", f"service {snapshot.service} · {snapshot.engine}", env.state
    )
    policy = (
        f"{snapshot.policy_name} v{snapshot.policy.version}"
        if snapshot.policy_id
        else (snapshot.policy_name or "no policy")
    )
    kind = "sanitized" if snapshot.sanitized else "RAW"
    middle = Node(snapshot.public_id, snapshot.public_id, f"{kind} · {policy}", snapshot.state)
    nodes = []
    for restore in restores:
        target = restore.environment
        shown = target.team_id in visible_teams or snapshot.team_id in visible_teams
        title = f"{target.team.slug}/{target.name}" if shown else "another team's environment"
        when = timezone.localtime(restore.created_at).strftime("%Y-%m-%d %H:%M")
        detail = f"{restore.service} · {restore.requested_by.username} · {when}"
        nodes.append(Node(target.public_id if shown else "hidden", title, detail, restore.state))
    return snapshot_lineage_svg(source, middle, nodes)


def _detail_context(request: HttpRequest, snapshot: Snapshot, *, outcome: dict | None = None, form=None) -> dict:
    can = abilities(request.user, snapshot)
    visible_teams = frozenset(permissions.teams_for(request.user).values_list("pk", flat=True))
    restores = list(snapshot.restores.all())
    if snapshot.team_id not in visible_teams:  # lineage beyond the caller's teams stays with its team
        restores = [r for r in restores if r.environment.team_id in visible_teams]
    targets = restore_targets(request.user, snapshot) if can["restore"] else []
    if form is None:
        form = RestoreForm(initial={"service": snapshot.service})
    form.offer(targets)
    return {
        "snapshot": snapshot,
        "restores": restores,
        "visible_team_ids": visible_teams,
        "lineage": mark_safe(lineage_picture(snapshot, restores, visible_teams)),  # noqa: S308 - svg.py escapes
        "can": can,
        "any_action": any(can.values()),
        "restore_form": form if targets else None,
        "outcome": outcome,
        "now": timezone.now(),
        "polling": snapshot.state in TRANSITIONAL_STATES,
        "poll_seconds": POLL_SECONDS,
    }


@login_required
def snapshot_detail(request: HttpRequest, snap_id: str) -> HttpResponse:
    """One snapshot (deleted ones too, as history) with its lineage and what the user may do."""
    snapshot = _snapshot_or_404(request, snap_id, include_deleted=True)
    template = "snapshots/partials/snapshot_detail.html" if _is_htmx(request) else "snapshots/detail.html"
    return render(request, template, _detail_context(request, snapshot))


def _after_post(request: HttpRequest, snapshot: Snapshot, outcome: dict, *, form=None) -> HttpResponse:
    if _is_htmx(request):
        fresh = _snapshot_or_404(request, snapshot.public_id, include_deleted=True)
        context = _detail_context(request, fresh, outcome=outcome, form=None if outcome["ok"] else form)
        return render(request, "snapshots/partials/snapshot_detail.html", context)
    if outcome["ok"]:
        messages.success(request, outcome["message"])
        return redirect("snapshots:detail", snap_id=snapshot.public_id)
    fresh = _snapshot_or_404(request, snapshot.public_id, include_deleted=True)
    context = _detail_context(request, fresh, outcome=outcome, form=form)
    return render(request, "snapshots/detail.html", context, status=400)


@login_required
@require_POST
def snapshot_restore(request: HttpRequest, snap_id: str) -> HttpResponse:
    snapshot = _snapshot_or_404(request, snap_id)
    form = RestoreForm(request.POST)
    try:
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            raise InvalidInput(" ".join(errors), field=field)
        target = Environment.objects.filter(
            team__in=permissions.teams_for(request.user), public_id=form.cleaned_data["environment"]
        ).first()
        if target is None:
            raise NotFound("environment not found", field="environment")
        restore = actions.restore_snapshot(
            actor=request.user, snapshot=snapshot, env=target, service=form.cleaned_data["service"] or None
        )
    except DomainError as exc:
        return _after_post(request, snapshot, _outcome(exc), form=form)
    message = f"Restoring into {target.name}/{restore.service}: {restore.get_state_display().lower()}."
    return _after_post(request, snapshot, {"ok": True, "message": message})


@login_required
@require_POST
def snapshot_delete(request: HttpRequest, snap_id: str) -> HttpResponse:
    snapshot = _snapshot_or_404(request, snap_id)
    try:
        actions.delete_snapshot(actor=request.user, snapshot=snapshot)
    except DomainError as exc:
        return _after_post(request, snapshot, _outcome(exc))
    return _after_post(request, snapshot, {"ok": True, "message": "Deleted: the artifact is gone; the record stays."})


@login_required
@require_GET
def snapshot_download(request: HttpRequest, snap_id: str) -> HttpResponse:
    """The artifact itself, streamed; the action checks the role and audits the download."""
    snapshot = _snapshot_or_404(request, snap_id)
    try:
        result = actions.download_snapshot(actor=request.user, snapshot=snapshot)
    except DomainError as exc:
        if isinstance(exc, NotFound):
            raise Http404(exc.message) from None
        status = 403 if isinstance(exc, PermissionDenied) else 409
        context = _detail_context(request, snapshot, outcome=_outcome(exc))
        return render(request, "snapshots/detail.html", context, status=status)
    return download_response(result)


def download_response(download: actions.SnapshotDownload) -> StreamingHttpResponse:
    """The artifact as an attachment, streamed in chunks (FileResponse closes the stream)."""
    response = FileResponse(
        download.stream, as_attachment=True, filename=download.filename, content_type="application/octet-stream"
    )
    if download.size is not None:
        response["Content-Length"] = str(download.size)
    if download.sha256:
        response["X-Checksum-SHA256"] = download.sha256
    return response


# --- policies ----------------------------------------------------------------------------------


def policy_check(source: str) -> dict:
    """What the policy page shows of a YAML: valid or not, located problems, the name and version."""
    problems = list(actions.validate_policy(source))
    policy, _ = parse_policy(source)
    errors = [p for p in problems if p.severity == "error"]
    return {
        "valid": not errors,
        "problems": problems,
        "errors": errors,
        "warnings": [p for p in problems if p.severity != "error"],
        "policy": policy if not errors else None,
    }


def _policies_context(request: HttpRequest, team, form: PolicyForm, **extra) -> dict:
    versions = []
    if team is not None:
        queryset = SanitizationPolicy.objects.filter(team=team).select_related("created_by")
        versions = list(queryset.order_by("name", "-version"))
    for policy in versions:
        policy.shown_source = redacted_source(policy.source)
    grouped: dict[str, list[SanitizationPolicy]] = {}
    for policy in versions:
        grouped.setdefault(policy.name, []).append(policy)
    can_publish = team is not None and permissions.has_team_perm(request.user, team, TeamPermission.MANAGE_BASELINES)
    return {"team": team, "policies": grouped, "form": form, "can_publish": can_publish, **extra}


@login_required
def policy_list(request: HttpRequest) -> HttpResponse:
    """The team's policies (every version) and the publish form; ``intent=validate`` only checks."""
    team = current_team(request)
    form = PolicyForm(request.POST or None)
    check, error, status = None, None, 200
    if request.method == "POST":
        if team is None:
            raise Http404("no team")
        source = request.POST.get("yaml", "")
        check = policy_check(source) if source.strip() else None
        if request.POST.get("intent") == "validate":
            pass  # only the check: nothing is published
        elif form.is_valid():
            data = form.cleaned_data
            try:
                policy = actions.create_policy(actor=request.user, team=team, name=data["name"], source=data["yaml"])
            except DomainError as exc:
                error = _outcome(exc)
                if exc.code == "INVALID_POLICY" and check is not None:
                    count = len(check["errors"])
                    error["message"] = (
                        f"The policy has {count} error{'' if count == 1 else 's'}; nothing was published."
                    )
                elif exc.field in form.fields:
                    form.add_error(exc.field, exc.message)
                status = 400
            else:
                messages.success(request, f"Published {policy.name} v{policy.version}.")
                return redirect("snapshots:policies")
        else:
            status = 400
    return render(
        request,
        "snapshots/policies.html",
        _policies_context(request, team, form, check=check, error=error),
        status=status,
    )


@login_required
@require_POST
def policy_validate(request: HttpRequest) -> HttpResponse:
    """The live check next to the textarea (htmx): the problems of the posted YAML at their lines."""
    source = request.POST.get("yaml", "")
    check = policy_check(source) if source.strip() else None
    return render(request, "snapshots/partials/policy_problems.html", {"check": check})


# --- the environment page's section --------------------------------------------------------------


def environment_section_context(
    user, env: Environment, *, outcome: dict | None = None, form=None, can_use: bool | None = None
) -> dict:
    """The "Snapshots" card of an environment page: its latest snapshots and "take snapshot".

    Two queries at most (the snapshots; the policy choices when the form shows): ``can_use`` is
    passed by a page that already knows the role. ``env`` is one the user may see (both callers
    checked), so every live snapshot of it is visible too: a snapshot belongs to its environment's
    team, and sharing only ever widens who sees it.
    """
    snapshots = list(
        Snapshot.objects.live()
        .filter(environment=env)
        .select_related("team", "environment", "policy", "created_by")
        .order_by("-created_at", "-pk")[: SECTION_LIMIT + 1]
    )
    if can_use is None:
        can_use = permissions.has_team_perm(user, env.team, TeamPermission.USE_ENVIRONMENTS)
    can_take = can_use and env.state in actions.OFFERED_STATES
    if can_take and form is None:
        form = TakeSnapshotForm(team=env.team)
    return {
        "env": env,
        "snapshots": snapshots[:SECTION_LIMIT],
        "more": len(snapshots) > SECTION_LIMIT,
        "can_take": can_take,
        "take_form": form if can_take else None,
        "outcome": outcome,
        "polling": any(s.state in TRANSITIONAL_STATES for s in snapshots),
        "poll_seconds": POLL_SECONDS,
    }


@login_required
def environment_snapshots(request: HttpRequest, env_id: str) -> HttpResponse:
    """GET: the section (polled while a capture runs). POST: take a snapshot."""
    env = _env_or_404(request, env_id)
    template = "snapshots/partials/environment_snapshots.html"
    if request.method != "POST":
        return render(request, template, environment_section_context(request.user, env))
    form = TakeSnapshotForm(request.POST, team=env.team)
    try:
        if not form.is_valid():
            field, errors = next(iter(form.errors.items()))
            raise InvalidInput(" ".join(errors), field=field)
        data = form.cleaned_data
        snapshot = actions.create_snapshot(
            actor=request.user, env=env, service=data["service"] or None, policy=data["policy"]
        )
    except DomainError as exc:
        outcome = _outcome(exc)
    else:
        outcome = {
            "ok": True,
            "message": f"Snapshot {snapshot.public_id} of {snapshot.service}: {snapshot.get_state_display().lower()}.",
        }
        form = None
    if _is_htmx(request):
        context = environment_section_context(request.user, env, outcome=outcome, form=form)
        return render(request, template, context, status=200)
    (messages.success if outcome["ok"] else messages.error)(request, outcome["message"])
    return redirect("environments:detail", env_id=env.public_id)
