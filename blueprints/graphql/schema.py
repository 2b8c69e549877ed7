from __future__ import annotations

import strawberry
from django.db.models import Prefetch, Q
from strawberry.types import Info

from blueprints import actions, models
from blueprints.compose import import_compose
from blueprints.graphql.types import (
    Blueprint,
    BlueprintError,
    BlueprintErrorCode,
    BlueprintValidation,
    BlueprintVersion,
    ComposeImport,
    Problem,
)
from blueprints.validation import validate_blueprint
from microstax.graphql.context import current_user
from microstax.graphql.pagination import Connection, paginate
from microstax.lib.errors import DomainError, NotVisible
from microstax.teams import permissions
from microstax.teams.graphql.schema import resolve_team


def _error(exc: DomainError) -> BlueprintError:
    problems = [Problem.from_data(p) for p in getattr(exc, "problems", [])]
    return BlueprintError(code=BlueprintErrorCode(exc.code), field=exc.field, message=exc.message, problems=problems)


def visible_blueprints(user):
    return (
        models.Blueprint.objects.filter(team__in=permissions.teams_for(user))
        .select_related("team")
        .prefetch_related(Prefetch("versions", queryset=models.BlueprintVersion.objects.select_related("author")))
        .order_by("team__slug", "name")
    )


def resolve_blueprint(user, blueprint_id: str) -> models.Blueprint:
    blueprint = visible_blueprints(user).filter(public_id=blueprint_id).first()
    if blueprint is None:
        raise NotVisible("blueprint not found", field="blueprint")
    return blueprint


@strawberry.input
class CreateBlueprintInput:
    team: strawberry.ID
    name: str
    yaml: str
    message: str = ""
    description: str = ""


@strawberry.input
class PublishBlueprintVersionInput:
    blueprint: strawberry.ID
    yaml: str
    message: str = ""


@strawberry.type
class BlueprintPayload:
    blueprint: Blueprint | None = None
    version: BlueprintVersion | None = None
    created: bool = strawberry.field(
        default=False, description="False when identical content returned an existing version"
    )
    errors: list[BlueprintError] = strawberry.field(default_factory=list)


@strawberry.type
class Query:
    @strawberry.field(description="Validate blueprint YAML without side effects")
    def validate_blueprint(self, info: Info, yaml: str, plan: str | None = None) -> BlueprintValidation:
        current_user(info)
        result = validate_blueprint(yaml, plan=plan)
        return BlueprintValidation(
            valid=result.valid,
            problems=[Problem.from_data(p) for p in result.problems],
            normalized=result.normalized,
            hash=result.hash,
        )

    @strawberry.field(description="Convert a docker-compose file into blueprint YAML, without side effects")
    def import_compose(self, info: Info, yaml: str, name: str | None = None) -> ComposeImport:
        current_user(info)
        result = import_compose(yaml, name=name)
        return ComposeImport(
            ok=result.ok,
            yaml=result.yaml,
            warnings=[Problem.from_data(p) for p in result.warnings],
            problems=[Problem.from_data(p) for p in result.problems],
        )

    @strawberry.field(description="Blueprints the caller can see, optionally of one team (id or slug)")
    def blueprints(
        self, info: Info, team: strawberry.ID | None = None, first: int | None = None, after: str | None = None
    ) -> Connection[Blueprint]:
        user = current_user(info)
        queryset = visible_blueprints(user)
        if team is not None:
            queryset = queryset.filter(Q(team__public_id=team) | Q(team__slug=team))
        return paginate(queryset, first=first, after=after)

    @strawberry.field(description="One blueprint by id (bp_…); null when absent or not visible")
    def blueprint(self, info: Info, id: strawberry.ID) -> Blueprint | None:
        return visible_blueprints(current_user(info)).filter(public_id=id).first()


@strawberry.type
class Mutation:
    @strawberry.mutation
    def create_blueprint(self, info: Info, input: CreateBlueprintInput) -> BlueprintPayload:
        user = current_user(info)
        try:
            blueprint, version = actions.create_blueprint(
                actor=user,
                team=resolve_team(user, input.team),
                name=input.name,
                source=input.yaml,
                message=input.message,
                description=input.description,
            )
        except DomainError as exc:
            return BlueprintPayload(errors=[_error(exc)])
        return BlueprintPayload(blueprint=blueprint, version=version, created=True)

    @strawberry.mutation
    def publish_blueprint_version(self, info: Info, input: PublishBlueprintVersionInput) -> BlueprintPayload:
        user = current_user(info)
        try:
            blueprint = resolve_blueprint(user, input.blueprint)
            version, created = actions.publish_version(
                actor=user, blueprint=blueprint, source=input.yaml, message=input.message
            )
        except DomainError as exc:
            return BlueprintPayload(errors=[_error(exc)])
        return BlueprintPayload(
            blueprint=resolve_blueprint(user, blueprint.public_id), version=version, created=created
        )
