from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry
import strawberry_django
from strawberry.scalars import JSON
from strawberry.types import Info

from blueprints import models
from blueprints.problems import Problem as ProblemData
from microstax.teams import permissions
from microstax.teams.graphql.types import Team


@strawberry.enum(description="Stable codes of blueprint errors")
class BlueprintErrorCode(Enum):
    INVALID = "INVALID"
    INVALID_BLUEPRINT = "INVALID_BLUEPRINT"
    NOT_FOUND = "NOT_FOUND"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    CONFLICT = "CONFLICT"


@strawberry.type(description="One finding about a blueprint, located in its YAML")
class Problem:
    code: str = strawberry.field(description="MSX-E… for errors, MSX-L… for lint warnings")
    severity: str
    path: str
    line: int | None
    column: int | None
    message: str

    @classmethod
    def from_data(cls, problem: ProblemData) -> Problem:
        return cls(
            code=problem.code,
            severity=problem.severity,
            path=problem.path,
            line=problem.line,
            column=problem.column,
            message=problem.message,
        )


@strawberry.type
class BlueprintError:
    code: BlueprintErrorCode
    field: str | None
    message: str
    problems: list[Problem] = strawberry.field(default_factory=list)


@strawberry.type
class BlueprintValidation:
    valid: bool
    problems: list[Problem]
    normalized: JSON | None
    hash: str | None


@strawberry.type
class ComposeImport:
    ok: bool
    yaml: str = strawberry.field(description="The blueprint YAML (empty when the compose file was unusable)")
    warnings: list[Problem] = strawberry.field(description="What could not be carried over, by service and key")
    problems: list[Problem] = strawberry.field(description="Why the compose file could not be imported")


@strawberry.type(description="One change between two versions, by service and field")
class BlueprintChange:
    service: str | None
    field: str | None
    change: str = strawberry.field(description="added, removed or changed")
    before: JSON | None
    after: JSON | None


@strawberry_django.type(models.BlueprintVersion)
class BlueprintVersion:
    id: strawberry.ID = strawberry_django.field(field_name="public_id")
    number: int
    source: str = strawberry_django.field(description="The YAML exactly as submitted")
    normalized: JSON
    content_hash: str = strawberry_django.field(name="hash")
    message: str
    created_at: datetime

    @strawberry.field
    def author(self, root: models.BlueprintVersion) -> str:
        return root.author.username


@strawberry_django.type(models.Blueprint)
class Blueprint:
    id: strawberry.ID = strawberry_django.field(field_name="public_id")
    name: str
    description: str
    created_at: datetime
    team: Team

    @strawberry.field(description="Versions, newest first")
    def versions(self, root: models.Blueprint) -> list[BlueprintVersion]:
        return list(root.versions.all())

    @strawberry.field
    def latest_version(self, root: models.Blueprint) -> BlueprintVersion | None:
        versions = list(root.versions.all())
        return versions[0] if versions else None

    @strawberry.field(description="Changes from version number `from` to version number `to`")
    def diff(
        self, root: models.Blueprint, from_: Annotated[int, strawberry.argument(name="from")], to: int = 0
    ) -> list[BlueprintChange]:
        from blueprints.actions import diff_versions
        from microstax.graphql.errors import bad_input

        by_number = {v.number: v for v in root.versions.all()}
        to = to or max(by_number, default=0)
        if from_ not in by_number or to not in by_number:
            raise bad_input(f"versions are numbered 1 to {max(by_number, default=0)}", field="from")
        return [BlueprintChange(**change) for change in diff_versions(by_number[from_], by_number[to])]

    @classmethod
    def get_queryset(cls, queryset, info: Info, **kwargs):
        return queryset.filter(team__in=permissions.teams_for(info.context.request.user))
