"""Every GraphQL mutation runs as one ``audit.denials.attempt``: a refused mutation writes one ``denied`` event.

``MUTATION_AUDIT`` names, per mutation, the audit action its successful call records and where its
input names the target; the denied event of a refused call carries the same action, so a reviewer
filtering on ``environment.stop`` sees the stops and the refused stops together. The coverage test
(tests/audit/test_coverage.py) checks this table against what each mutation really records.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from graphql import OperationType
from strawberry.extensions import SchemaExtension

from audit import denials
from microstax.graphql.context import user_of


class Audited(NamedTuple):
    # The action, or a function of the raw input naming it (one mutation, two actions).
    action: str | Callable[[dict], str]
    target_type: str = ""
    # The input field naming the target (an id given by the caller, never other input values).
    target_field: str = ""


MUTATION_AUDIT: dict[str, Audited] = {
    "createTeam": Audited("team.create", "team", "slug"),
    "renameTeam": Audited("team.rename", "team", "team"),
    "addTeamMember": Audited("team.member.add", "team", "team"),
    "setMemberRole": Audited("team.member.role", "team", "team"),
    "removeTeamMember": Audited("team.member.remove", "team", "team"),
    "createApiToken": Audited("token.create", "api_token"),
    "revokeApiToken": Audited("token.revoke", "api_token", "id"),
    "createBlueprint": Audited("blueprint.create", "team", "team"),
    "publishBlueprintVersion": Audited("blueprint.publish", "blueprint", "blueprint"),
    "registerCluster": Audited("cluster.register", "cluster", "name"),
    "createEnvironment": Audited("environment.create", "team", "team"),
    "createBaseline": Audited("environment.create", "team", "team"),
    "createOverlay": Audited("environment.overlay.create", "environment", "base"),
    "updateEnvironment": Audited("environment.update", "environment", "id"),
    "promoteEnvironment": Audited("environment.promote", "environment", "id"),
    "stopEnvironment": Audited("environment.stop", "environment", "id"),
    "resumeEnvironment": Audited("environment.resume", "environment", "id"),
    "retryEnvironment": Audited("environment.retry", "environment", "id"),
    "deleteEnvironment": Audited("environment.delete", "environment", "id"),
    "scaleService": Audited("environment.scale", "environment", "id"),
    "extendEnvironment": Audited("environment.ttl", "environment", "id"),
    "setAutoShutdown": Audited("environment.idle_policy", "environment", "id"),
    "updateTeamPolicy": Audited("team.policy.update", "team", "team"),
    "createSnapshot": Audited("snapshot.create", "environment", "environment"),
    "restoreSnapshot": Audited("snapshot.restore", "snapshot", "snapshot"),
    "replayEnvironment": Audited("environment.replay", "environment", "environment"),
    "deleteSnapshot": Audited("snapshot.delete", "snapshot", "id"),
    "createSanitizationPolicy": Audited("snapshot_policy.create", "team", "team"),
    "shareSnapshot": Audited(
        lambda given: "snapshot.unshare" if given.get("revoke") else "snapshot.share", "snapshot", "snapshot"
    ),
}

# Mutations that change nothing (a static check), so they write no event, refused or not.
READ_ONLY_MUTATIONS = frozenset({"validateSanitizationPolicy"})


def _target_id(kwargs: dict, field: str) -> str:
    if not field:
        return ""
    given = kwargs.get("input")
    # The raw arguments (a dict, keyed by the schema's names) before strawberry converts them.
    value = given.get(field) if isinstance(given, dict) else getattr(given, field, None)
    return value if isinstance(value, str) else ""


class AuditDeniedMutations(SchemaExtension):
    """Wraps each root mutation field in an attempt; a refusal that ends in the payload's errors is recorded."""

    def resolve(self, _next, root, info, *args, **kwargs):
        top_level = info.operation.operation == OperationType.MUTATION and info.path.prev is None
        if not top_level or info.field_name in READ_ONLY_MUTATIONS:
            return _next(root, info, *args, **kwargs)
        audited = MUTATION_AUDIT.get(info.field_name) or Audited(f"graphql.{info.field_name}")
        action = audited.action
        if callable(action):
            given = kwargs.get("input")
            action = action(given if isinstance(given, dict) else {})
        actor = user_of(info)
        with denials.attempt(
            action,
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            target_type=audited.target_type,
            target_id=_target_id(kwargs, audited.target_field),
        ) as scope:
            result = _next(root, info, *args, **kwargs)
            if not getattr(result, "errors", None):
                # The mutation ended well (a refusal met on the way was handled): nothing was refused.
                scope.trail.clear()
        return result
