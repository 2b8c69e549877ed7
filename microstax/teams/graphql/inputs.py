from __future__ import annotations

import strawberry

from microstax.teams.graphql.types import Role


@strawberry.input
class CreateTeamInput:
    slug: str
    name: str


@strawberry.input
class RenameTeamInput:
    team: strawberry.ID
    name: str


@strawberry.input
class TeamMemberInput:
    team: strawberry.ID
    username: str
    role: Role


@strawberry.input
class RemoveTeamMemberInput:
    team: strawberry.ID
    username: str


@strawberry.input
class CreateApiTokenInput:
    name: str
    expires_in_days: int | None = None


@strawberry.input
class RevokeApiTokenInput:
    id: strawberry.ID
