from __future__ import annotations

import strawberry
from django.db.models import Q
from strawberry.types import Info

from microstax.graphql.context import current_user
from microstax.graphql.pagination import Connection, paginate
from microstax.lib.errors import DomainError, NotVisible
from microstax.teams import actions, models, permissions
from microstax.teams.graphql.inputs import (
    CreateApiTokenInput,
    CreateTeamInput,
    RemoveTeamMemberInput,
    RenameTeamInput,
    RevokeApiTokenInput,
    TeamMemberInput,
)
from microstax.teams.graphql.types import (
    ApiToken,
    Member,
    Team,
    TeamError,
    TeamErrorCode,
    Viewer,
    memberships_prefetch,
)


def _error(exc: DomainError) -> TeamError:
    return TeamError(code=TeamErrorCode(exc.code), field=exc.field, message=exc.message)


def visible_teams(user):
    return permissions.teams_for(user).prefetch_related(memberships_prefetch()).order_by("slug")


def resolve_team(user, team_id: str) -> models.Team:
    """A team the user can see, by public id or slug; NOT_FOUND otherwise (existence not leaked)."""
    team = permissions.teams_for(user).filter(Q(public_id=team_id) | Q(slug=team_id)).first()
    if team is None:
        raise NotVisible("team not found", field="team")
    return team


@strawberry.type
class TeamPayload:
    team: Team | None = None
    errors: list[TeamError] = strawberry.field(default_factory=list)


@strawberry.type
class MemberPayload:
    member: Member | None = None
    errors: list[TeamError] = strawberry.field(default_factory=list)


@strawberry.type
class RemoveMemberPayload:
    ok: bool = False
    errors: list[TeamError] = strawberry.field(default_factory=list)


@strawberry.type
class CreateApiTokenPayload:
    token: ApiToken | None = None
    secret: str | None = strawberry.field(default=None, description="The token itself. Shown once; store it now.")
    errors: list[TeamError] = strawberry.field(default_factory=list)


@strawberry.type
class ApiTokenPayload:
    token: ApiToken | None = None
    errors: list[TeamError] = strawberry.field(default_factory=list)


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in user")
    def viewer(self, info: Info) -> Viewer:
        user = current_user(info)
        token = getattr(info.context.request, "api_token", None)
        return Viewer(
            username=user.username,
            full_name=user.get_full_name(),
            email=user.email,
            is_platform_admin=user.is_superuser,
            is_auditor=permissions.is_auditor(user),
            token_name=token.name if token else None,
        )

    @strawberry.field(description="Teams the caller can see")
    def teams(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[Team]:
        return paginate(visible_teams(current_user(info)), first=first, after=after)

    @strawberry.field(description="One team by id (team_…) or slug; null when absent or not visible")
    def team(self, info: Info, id: strawberry.ID) -> Team | None:
        return visible_teams(current_user(info)).filter(Q(public_id=id) | Q(slug=id)).first()

    @strawberry.field(description="The caller's own API tokens, newest first")
    def api_tokens(self, info: Info, first: int | None = None, after: str | None = None) -> Connection[ApiToken]:
        user = current_user(info)
        return paginate(
            models.ApiToken.objects.filter(user=user).order_by("-created_at", "-pk"), first=first, after=after
        )


def _team_mutation(info: Info, team_id: str, fn) -> TeamPayload:
    user = current_user(info)
    try:
        return TeamPayload(team=fn(user, resolve_team(user, team_id)))
    except DomainError as exc:
        return TeamPayload(errors=[_error(exc)])


@strawberry.type
class Mutation:
    @strawberry.mutation
    def create_team(self, info: Info, input: CreateTeamInput) -> TeamPayload:
        user = current_user(info)
        try:
            return TeamPayload(team=actions.create_team(actor=user, slug=input.slug, name=input.name))
        except DomainError as exc:
            return TeamPayload(errors=[_error(exc)])

    @strawberry.mutation
    def rename_team(self, info: Info, input: RenameTeamInput) -> TeamPayload:
        return _team_mutation(
            info, input.team, lambda user, team: actions.rename_team(actor=user, team=team, name=input.name)
        )

    @strawberry.mutation
    def add_team_member(self, info: Info, input: TeamMemberInput) -> MemberPayload:
        user = current_user(info)
        try:
            team = resolve_team(user, input.team)
            membership = actions.add_team_member(actor=user, team=team, username=input.username, role=input.role.value)
            return MemberPayload(member=membership)
        except DomainError as exc:
            return MemberPayload(errors=[_error(exc)])

    @strawberry.mutation
    def set_member_role(self, info: Info, input: TeamMemberInput) -> MemberPayload:
        user = current_user(info)
        try:
            team = resolve_team(user, input.team)
            membership = actions.set_member_role(actor=user, team=team, username=input.username, role=input.role.value)
            return MemberPayload(member=membership)
        except DomainError as exc:
            return MemberPayload(errors=[_error(exc)])

    @strawberry.mutation
    def remove_team_member(self, info: Info, input: RemoveTeamMemberInput) -> RemoveMemberPayload:
        user = current_user(info)
        try:
            actions.remove_team_member(actor=user, team=resolve_team(user, input.team), username=input.username)
            return RemoveMemberPayload(ok=True)
        except DomainError as exc:
            return RemoveMemberPayload(errors=[_error(exc)])

    @strawberry.mutation
    def create_api_token(self, info: Info, input: CreateApiTokenInput) -> CreateApiTokenPayload:
        user = current_user(info)
        try:
            token, secret = actions.create_api_token(actor=user, name=input.name, expires_in_days=input.expires_in_days)
            return CreateApiTokenPayload(token=token, secret=secret)
        except DomainError as exc:
            return CreateApiTokenPayload(errors=[_error(exc)])

    @strawberry.mutation
    def revoke_api_token(self, info: Info, input: RevokeApiTokenInput) -> ApiTokenPayload:
        user = current_user(info)
        try:
            token = models.ApiToken.objects.filter(public_id=input.id, user=user).first()
            if token is None and user.is_superuser:
                token = models.ApiToken.objects.filter(public_id=input.id).first()
            if token is None:
                raise NotVisible("token not found", field="id")
            return ApiTokenPayload(token=actions.revoke_api_token(actor=user, token=token))
        except DomainError as exc:
            return ApiTokenPayload(errors=[_error(exc)])
