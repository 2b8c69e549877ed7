"""Blueprint operations: create, publish a version, compare versions. Each checks the team
permission, validates with the one shared validator, writes in a transaction and records its
audit event; a refused or invalid call writes nothing."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from audit.actions import record
from blueprints.models import Blueprint, BlueprintVersion
from blueprints.normalize import diff_normalized
from blueprints.problems import Problem
from blueprints.validation import validate_blueprint
from microstax.lib.errors import Conflict, InvalidInput
from microstax.teams import permissions
from microstax.teams.choices import TeamPermission

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_MESSAGE = 500


class InvalidBlueprint(InvalidInput):
    """The YAML did not validate; ``problems`` says where and why."""

    code = "INVALID_BLUEPRINT"

    def __init__(self, problems: list[Problem]) -> None:
        errors = [p for p in problems if p.is_error]
        first = errors[0] if errors else None
        where = f" (line {first.line})" if first and first.line else ""
        super().__init__(
            f"the blueprint has {len(errors)} error(s); first: {first.message if first else '?'}{where}", field="yaml"
        )
        self.problems = problems


def _require(actor, team, perm: TeamPermission) -> None:
    permissions.require_team_perm(actor, team, perm, doing="publishing blueprints")


def _validated(source: str) -> dict[str, Any]:
    result = validate_blueprint(source or "")
    if not result.valid:
        raise InvalidBlueprint(result.problems)
    return {"normalized": result.normalized, "content_hash": result.hash}


def _clean_message(message: str) -> str:
    message = (message or "").strip()
    if len(message) > MAX_MESSAGE:
        raise InvalidInput(f"message must be at most {MAX_MESSAGE} characters", field="message")
    return message


def version_snapshot(version: BlueprintVersion) -> dict:
    return {
        "blueprint": version.blueprint.public_id,
        "name": version.blueprint.name,
        "version": version.number,
        "id": version.public_id,
        "hash": version.content_hash,
        "message": version.message,
    }


def create_blueprint(
    *, actor, team, name: str, source: str, message: str = "", description: str = ""
) -> tuple[Blueprint, BlueprintVersion]:
    """Create a named blueprint with its first version."""
    _require(actor, team, TeamPermission.MANAGE_BLUEPRINTS)
    name = (name or "").strip()
    if not _NAME.match(name):
        raise InvalidInput(
            "name must be 1-63 lowercase letters, digits or hyphens, starting and ending with a letter or digit",
            field="name",
        )
    message = _clean_message(message)
    content = _validated(source)
    try:
        with transaction.atomic():
            blueprint = Blueprint.objects.create(
                team=team, name=name, description=(description or "")[:2000], created_by=actor
            )
            version = BlueprintVersion.objects.create(
                blueprint=blueprint, number=1, source=source, author=actor, message=message, **content
            )
            record(
                action="blueprint.create",
                actor=actor,
                team=team,
                target_type="blueprint",
                target_id=blueprint.public_id,
                after=version_snapshot(version),
            )
    except IntegrityError:
        raise Conflict(f"team '{team.slug}' already has a blueprint named '{name}'", field="name") from None
    return blueprint, version


def publish_version(*, actor, blueprint: Blueprint, source: str, message: str = "") -> tuple[BlueprintVersion, bool]:
    """Publish new content. Content identical (once normalized) to an existing version returns that
    version and ``created=False``, writing nothing."""
    _require(actor, blueprint.team, TeamPermission.MANAGE_BLUEPRINTS)
    message = _clean_message(message)
    content = _validated(source)
    existing = BlueprintVersion.objects.filter(blueprint=blueprint, content_hash=content["content_hash"]).first()
    if existing is not None:
        return existing, False
    with transaction.atomic():
        # Lock the blueprint so two concurrent publishes get consecutive numbers.
        Blueprint.objects.select_for_update().filter(pk=blueprint.pk).first()
        existing = BlueprintVersion.objects.filter(blueprint=blueprint, content_hash=content["content_hash"]).first()
        if existing is not None:
            return existing, False
        number = (blueprint.versions.aggregate(n=Max("number"))["n"] or 0) + 1
        version = BlueprintVersion.objects.create(
            blueprint=blueprint, number=number, source=source, author=actor, message=message, **content
        )
        record(
            action="blueprint.publish",
            actor=actor,
            team=blueprint.team,
            target_type="blueprint",
            target_id=blueprint.public_id,
            after=version_snapshot(version),
        )
    return version, True


def diff_versions(older: BlueprintVersion, newer: BlueprintVersion) -> list[dict[str, Any]]:
    """Changes from one version to another, by service and field, from the normalized specs."""
    if older.blueprint_id != newer.blueprint_id:
        raise InvalidInput("both versions must belong to the same blueprint", field="to")
    return diff_normalized(older.normalized, newer.normalized)
