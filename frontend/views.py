"""Dashboard pages. Each view resolves its inputs, checks permission through the shared helpers and
calls an action; forms post with htmx and get their fragment back (or a redirect without JS)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from audit.models import AuditEvent
from environments.actions import policies
from environments.forms import TeamPolicyForm
from environments.models import TeamPolicy
from frontend.context_processors import current_team
from frontend.forms import MemberForm, RenameTeamForm, RoleForm, TeamForm, TokenForm
from microstax.lib.errors import DomainError
from microstax.lib.errors import PermissionDenied as DomainPermissionDenied
from microstax.teams import actions, permissions, throttle
from microstax.teams.choices import Role, TeamPermission
from microstax.teams.graphql.types import memberships_prefetch
from microstax.teams.models import ApiToken, Team

SECTIONS = {
    "snapshots": ("Snapshots", "Sanitized data snapshots captured from environments."),
}


class LoginView(auth_views.LoginView):
    """Password sign-in, throttled per client IP and per username (see ``microstax.teams.throttle``)."""

    template_name = "frontend/login.html"
    redirect_authenticated_user = True

    def _limits(self) -> tuple[throttle.Limit, throttle.Limit]:
        return throttle.ip_limit(self.request), throttle.user_limit(self.request.POST.get("username", ""))

    def post(self, request, *args, **kwargs):
        # Refused before the password is checked: a locked-out guess learns nothing.
        wait = throttle.retry_after(*self._limits())
        if wait:
            # An unbound form: validating the bound one would check the password after all.
            form = self.get_form_class()(request, initial={"username": request.POST.get("username", "")})
            throttled = f"Too many failed sign-ins. Try again in {wait} seconds."
            response = self.render_to_response(self.get_context_data(form=form, throttled=throttled), status=429)
            response["Retry-After"] = str(wait)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        throttle.record_failure(*self._limits())
        actions.record_authentication_failure(
            username=form.data.get("username", ""), method="login", reason="invalid username or password"
        )
        return super().form_invalid(form)

    def form_valid(self, form):
        throttle.reset(self._limits()[1])
        return super().form_valid(form)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("frontend:login")


def _visible_team(request: HttpRequest, team_id: str) -> Team:
    team = (
        permissions.teams_for(request.user)
        .prefetch_related(memberships_prefetch())
        .filter(Q(public_id=team_id) | Q(slug=team_id))
        .first()
    )
    if team is None:
        raise Http404("team not found")
    return team


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@login_required
def home(request: HttpRequest) -> HttpResponse:
    team = current_team(request)
    context = {"team": None}
    if team is not None:
        team = _visible_team(request, team.public_id)
        context = {
            "team": team,
            "role": permissions.role_of(request.user, team),
            "recent_events": AuditEvent.objects.filter(team=team).order_by("-sequence")[:10],
        }
    return render(request, "frontend/home.html", context)


@login_required
def section(request: HttpRequest, section: str) -> HttpResponse:
    title, description = SECTIONS[section]
    return render(request, "frontend/section.html", {"title": title, "description": description, "section": section})


@login_required
@require_POST
def switch_team(request: HttpRequest) -> HttpResponse:
    team = _visible_team(request, request.POST.get("team", ""))
    request.session["team"] = team.public_id
    return redirect(request.POST.get("next") or "frontend:home") if _safe_next(request) else redirect("frontend:home")


def _safe_next(request: HttpRequest) -> bool:
    target = request.POST.get("next", "")
    return target.startswith("/") and not target.startswith("//")


@login_required
def create_team(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = actions.create_team(actor=request.user, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            request.session["team"] = team.public_id
            messages.success(request, f"Team '{team.slug}' created. You are its owner.")
            return redirect("frontend:team", team_id=team.public_id)
    return render(request, "frontend/team_create.html", {"form": form}, status=400 if form.errors else 200)


def _team_page_context(request: HttpRequest, team: Team) -> dict:
    can_manage = permissions.has_team_perm(request.user, team, TeamPermission.MANAGE_MEMBERS)
    return {
        "team": team,
        "members": list(team.memberships.all()),
        "role": permissions.role_of(request.user, team),
        "can_manage": can_manage,
        "can_rename": permissions.has_team_perm(request.user, team, TeamPermission.CHANGE),
        "roles": Role.choices,
        "member_form": MemberForm(),
        "tokens": ApiToken.objects.filter(user=request.user).order_by("-created_at"),
        "token_form": TokenForm(),
    }


@login_required
def team_detail(request: HttpRequest, team_id: str) -> HttpResponse:
    team = _visible_team(request, team_id)
    context = _team_page_context(request, team)
    return render(request, "frontend/team.html", {**context, **_policy_context(team, can_edit=context["can_manage"])})


def _policy_context(team: Team, *, can_edit: bool, form: TeamPolicyForm | None = None, saved: bool = False) -> dict:
    """The team's environment policy, its usage and the platform ceilings; the form for owners."""
    policy = TeamPolicy.for_team(team)
    return {
        "policy": policy,
        "policy_usage": policies.team_usage(team),
        "ceilings": policies.Ceilings.from_settings(),
        "can_edit_policy": can_edit,
        "policy_form": form or TeamPolicyForm(initial=policies.policy_snapshot(policy), auto_id="policy_%s"),
        "policy_saved": saved,
    }


# The action names fields as the API does (camelCase); the form's fields are snake_case.
_POLICY_FIELDS = {"".join(w if i == 0 else w.title() for i, w in enumerate(n.split("_"))): n for n in policies.EDITABLE}


@login_required
@require_POST
def team_policy(request: HttpRequest, team_id: str) -> HttpResponse:
    """Owners change the team's policy; refusals are shown next to the field they concern."""
    team = _visible_team(request, team_id)
    can_edit = permissions.has_team_perm(request.user, team, policies.POLICY_PERMISSION)
    form = TeamPolicyForm(request.POST, auto_id="policy_%s")
    status = 400
    if form.is_valid():
        try:
            policies.update_team_policy(actor=request.user, team=team, **form.cleaned_data)
        except DomainError as exc:
            form.add_error(_POLICY_FIELDS.get(exc.field or ""), exc.message)
            status = 403 if isinstance(exc, DomainPermissionDenied) else 400
        else:
            if not _is_htmx(request):
                messages.success(request, "Team policy saved.")
                return redirect("frontend:team", team_id=team.public_id)
            context = _policy_context(team, can_edit=can_edit, saved=True)
            return render(request, "frontend/partials/policy.html", {"team": team, **context})
    context = _policy_context(team, can_edit=can_edit, form=form)
    if _is_htmx(request):  # htmx swaps only successful responses: the errors come back in a 200 fragment
        return render(request, "frontend/partials/policy.html", {"team": team, **context})
    return render(request, "frontend/team.html", {**_team_page_context(request, team), **context}, status=status)


def _members_response(request: HttpRequest, team: Team, *, error: str | None = None) -> HttpResponse:
    if _is_htmx(request):
        team = (
            _visible_team(request, team.public_id)
            if permissions.has_team_perm(request.user, team, TeamPermission.VIEW)
            else None
        )
        if team is None:
            response = HttpResponse(status=204)
            response["HX-Redirect"] = reverse("frontend:home")
            return response
        context = {**_team_page_context(request, team), "members_error": error}
        return render(request, "frontend/partials/members.html", context)
    if error:
        messages.error(request, error)
    if not permissions.has_team_perm(request.user, team, TeamPermission.VIEW):
        return redirect("frontend:home")
    return redirect("frontend:team", team_id=team.public_id)


def _run(request: HttpRequest, team: Team, fn) -> HttpResponse:
    try:
        fn()
    except DomainError as exc:
        return _members_response(request, team, error=exc.message)
    return _members_response(request, team)


@login_required
@require_POST
def rename_team(request: HttpRequest, team_id: str) -> HttpResponse:
    team = _visible_team(request, team_id)
    form = RenameTeamForm(request.POST)
    if not form.is_valid():
        return _members_response(request, team, error="name: " + "; ".join(form.errors.get("name", [])))
    return _run(request, team, lambda: actions.rename_team(actor=request.user, team=team, **form.cleaned_data))


@login_required
@require_POST
def add_member(request: HttpRequest, team_id: str) -> HttpResponse:
    team = _visible_team(request, team_id)
    form = MemberForm(request.POST)
    if not form.is_valid():
        return _members_response(request, team, error=_form_error(form))
    return _run(request, team, lambda: actions.add_team_member(actor=request.user, team=team, **form.cleaned_data))


@login_required
@require_POST
def set_role(request: HttpRequest, team_id: str, username: str) -> HttpResponse:
    team = _visible_team(request, team_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _members_response(request, team, error=_form_error(form))
    return _run(
        request,
        team,
        lambda: actions.set_member_role(
            actor=request.user, team=team, username=username, role=form.cleaned_data["role"]
        ),
    )


@login_required
@require_POST
def remove_member(request: HttpRequest, team_id: str, username: str) -> HttpResponse:
    team = _visible_team(request, team_id)
    return _run(request, team, lambda: actions.remove_team_member(actor=request.user, team=team, username=username))


def _form_error(form) -> str:
    return "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())


def _tokens_response(request: HttpRequest, *, secret: str | None = None, error: str | None = None) -> HttpResponse:
    if _is_htmx(request):
        tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at")
        return render(
            request,
            "frontend/partials/tokens.html",
            {"tokens": tokens, "new_secret": secret, "token_error": error, "token_form": TokenForm()},
        )
    if error:
        messages.error(request, error)
    if secret:
        messages.success(request, f"New token (shown once, copy it now): {secret}")
    return redirect(request.POST.get("next") if _safe_next(request) else "frontend:home")


@login_required
@require_POST
def create_token(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _tokens_response(request, error=_form_error(form))
    try:
        _, secret = actions.create_api_token(
            actor=request.user, name=form.cleaned_data["name"], expires_in_days=form.cleaned_data["expires_in_days"]
        )
    except DomainError as exc:
        return _tokens_response(request, error=exc.message)
    return _tokens_response(request, secret=secret)


@login_required
@require_POST
def revoke_token(request: HttpRequest, token_id: str) -> HttpResponse:
    token = ApiToken.objects.filter(public_id=token_id, user=request.user).first()
    if token is None:
        raise Http404("token not found")
    actions.revoke_api_token(actor=request.user, token=token)
    return _tokens_response(request)
