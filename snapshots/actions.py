"""Snapshot actions: capture, restore, replay, delete, download, and sanitization policies.

Each action checks permission first (outsiders get NOT_FOUND, as for environments), validates,
then changes the database in one transaction with exactly one audit event, and — for captures and
restores — an Operation on the environment whose Job does the work, enqueued after commit. The
Jobs run in :mod:`snapshots.runner`; artifacts arrive and leave through :mod:`snapshots.views`.

Governance (DESIGN §6): only sanitized snapshots leave their team. An unsanitized snapshot exists
only when its policy says ``keepUnsanitized: true``, and only the owning team's owners may restore
or download it; deleting is for owners and maintainers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.actions import record
from environments.actions.lifecycle import SYSTEM
from environments.choices import EnvironmentState, OperationKind
from environments.models import Environment, Operation, TeamPolicy
from environments.render.seeds import image_engine
from microstax.lib.errors import Conflict, InvalidInput, NotFound, NotVisible, PermissionDenied
from microstax.teams import permissions
from microstax.teams.choices import TeamPermission
from snapshots.agent import Policy, PolicyProblem, parse_policy
from snapshots.models import (
    RestoreState,
    SanitizationPolicy,
    Snapshot,
    SnapshotRestore,
    SnapshotShare,
    SnapshotState,
)
from snapshots.storage import get_storage

SNAPSHOT_STATES = (EnvironmentState.READY, EnvironmentState.DEGRADED)
# On its way up: a capture or restore is queued and its Operation waits for the environment to run.
WAKING_STATES = (EnvironmentState.PENDING, EnvironmentState.PROVISIONING, EnvironmentState.RESUMING)
# What the dashboard offers to snapshot or restore into: running, or stopped (it is resumed first).
OFFERED_STATES = (*SNAPSHOT_STATES, EnvironmentState.STOPPED)
_POLICY_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Without a team policy a capture is strict: PII-looking columns without a rule refuse it.
DEFAULT_POLICY_SOURCE = "name: default\nstrict: true\n"


# --- permission helpers ------------------------------------------------------------------------


def _require_visible(actor, snapshot: Snapshot) -> None:
    """Outsiders of the snapshot's team get NOT_FOUND, so its existence is not leaked — unless it is
    a sanitized snapshot shared with one of their teams."""
    if actor is None or not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise PermissionDenied("authentication required")
    if not can_see(actor, snapshot):
        raise NotVisible("snapshot not found", field="snapshot", team=snapshot.team)


def can_see(user, snapshot: Snapshot) -> bool:
    """The visibility rule of one snapshot (``visible_filter`` is the same rule in SQL)."""
    if permissions.has_team_perm(user, snapshot.team, TeamPermission.VIEW):
        return True
    return snapshot.sanitized and snapshot.shares.filter(team__in=permissions.teams_for(user)).exists()


def visible_filter(user) -> Q:
    """Snapshots of ``user``'s teams, and sanitized ones shared with them (one subquery, no join
    that could repeat rows)."""
    teams = permissions.teams_for(user)
    shared = SnapshotShare.objects.filter(team__in=teams, snapshot__sanitized=True).values("snapshot_id")
    return Q(team__in=teams) | Q(pk__in=shared)


def _require_use(actor, env: Environment, doing: str) -> None:
    permissions.require_team_perm(actor, env.team, TeamPermission.USE_ENVIRONMENTS, doing=doing)


def is_team_owner(actor, team) -> bool:
    """Owners (and platform admins): managing members is the owner-only permission."""
    return permissions.has_team_perm(actor, team, TeamPermission.MANAGE_MEMBERS)


def _check_unsanitized(actor, snapshot: Snapshot, *, target_team=None, doing: str) -> None:
    """Raw data stays in its team and with its owners."""
    if snapshot.sanitized:
        return
    if target_team is not None and target_team.pk != snapshot.team_id:
        raise PermissionDenied(
            f"{snapshot.public_id} is not sanitized; only sanitized snapshots may be restored into another "
            "team's environment",
            field="snapshot",
            code="UNSANITIZED",
        )
    if not is_team_owner(actor, snapshot.team):
        raise PermissionDenied(
            f"{snapshot.public_id} is not sanitized; only owners of team '{snapshot.team.slug}' may {doing} it",
            field="snapshot",
            code="UNSANITIZED",
        )


def visible_snapshots(user) -> QuerySet[Snapshot]:
    """Live snapshots of the teams ``user`` can see (and sanitized ones shared with those teams),
    filtered in SQL."""
    return (
        Snapshot.objects.live()
        .filter(visible_filter(user))
        .select_related("team", "environment", "policy", "created_by")
    )


def snapshot_summary(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "id": snapshot.public_id,
        "environment": snapshot.environment.public_id,
        "service": snapshot.service,
        "state": snapshot.state,
        "sanitized": snapshot.sanitized,
        "policy": f"{snapshot.policy_name} v{snapshot.policy.version}" if snapshot.policy else snapshot.policy_name,
        "sha256": snapshot.sha256 or None,
        "size_bytes": snapshot.size_bytes,
        "expires_at": snapshot.expires_at.isoformat() if snapshot.expires_at else None,
    }


def _audit(action: str, *, actor, snapshot: Snapshot | None = None, team=None, **details) -> None:
    if snapshot is not None:
        record(
            action=action,
            actor=actor,
            team=team or snapshot.team,
            target_type="snapshot",
            target_id=snapshot.public_id,
            **details,
        )
    else:
        record(action=action, actor=actor, team=team, **details)


def _enqueue(operation: Operation) -> None:
    from environments.tasks import enqueue_operation

    transaction.on_commit(lambda: enqueue_operation(operation.pk))


def _new_operation(env: Environment, kind: str, actor, **params) -> Operation:
    from audit import context as audit_context

    return Operation.objects.create(
        environment=env, kind=kind, actor=actor, params=params, request_context=audit_context.current().as_dict()
    )


# --- services ----------------------------------------------------------------------------------


def database_services(env: Environment) -> list[dict[str, Any]]:
    """The environment's PostgreSQL services (by image), in spec order."""
    return [
        s for s in env.spec.get("services", []) if not s.get("removed") and image_engine(s.get("image")) == "postgres"
    ]


def resolve_service(env: Environment, service: str | None) -> dict[str, Any]:
    """The named database service, or the only one; located errors otherwise."""
    databases = database_services(env)
    if service:
        wanted = next((s for s in env.spec.get("services", []) if s["name"] == service and not s.get("removed")), None)
        if wanted is None:
            raise InvalidInput(f"{env.public_id} has no service '{service}'", field="service")
        if image_engine(wanted.get("image")) != "postgres":
            raise InvalidInput(
                f"service '{service}' of {env.public_id} is not a PostgreSQL database (image "
                f"{wanted.get('image') or 'none'}); only PostgreSQL snapshots are supported",
                field="service",
            )
        return wanted
    if not databases:
        raise InvalidInput(f"{env.public_id} has no PostgreSQL service to snapshot", field="service")
    if len(databases) > 1:
        names = ", ".join(s["name"] for s in databases)
        raise InvalidInput(f"{env.public_id} has several database services ({names}); name one", field="service")
    return databases[0]


# --- policies ----------------------------------------------------------------------------------


def _problem_text(problem: PolicyProblem) -> str:
    return problem.format("policy")


def validate_policy(source: str) -> list[PolicyProblem]:
    """Static problems of a policy's YAML (syntax, unknown keys, bad values), with line and column.

    Checks against a live schema (missing columns, NOT NULL, unique keys) happen when the capture
    Job runs, inside the snapshot's transaction, before any data is read.
    """
    _, problems = parse_policy(source or "")
    return problems


def _content_hash(policy: Policy) -> str:
    data = policy.model_dump(mode="json", by_alias=True)
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def create_policy(*, actor, team, name: str, source: str) -> SanitizationPolicy:
    """Publish a version of the team's policy ``name``; identical content returns the existing one."""
    permissions.require_team_perm(
        actor, team, TeamPermission.MANAGE_BASELINES, doing="publishing sanitization policies"
    )
    name = (name or "").strip().lower()
    if not _POLICY_NAME.match(name):
        raise InvalidInput("name must be 1-63 lowercase letters, digits or hyphens", field="name")
    policy, problems = parse_policy(source or "")
    if policy is None:
        errors = [p for p in problems if p.severity == "error"]
        raise InvalidInput("; ".join(_problem_text(p) for p in errors), field="source", code="INVALID_POLICY")
    content_hash = _content_hash(policy)
    existing = SanitizationPolicy.objects.filter(team=team, name=name, content_hash=content_hash).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        type(team).objects.select_for_update(no_key=True).filter(pk=team.pk).first()
        existing = SanitizationPolicy.objects.filter(team=team, name=name, content_hash=content_hash).first()
        if existing is not None:
            return existing
        last = SanitizationPolicy.objects.filter(team=team, name=name).order_by("-version").first()
        created = SanitizationPolicy.objects.create(
            team=team,
            name=name,
            version=(last.version + 1) if last else 1,
            source=source,
            content_hash=content_hash,
            strict=policy.strict,
            keep_unsanitized=policy.keep_unsanitized,
            created_by=actor,
        )
        record(
            action="snapshot_policy.create",
            actor=actor,
            team=team,
            target_type="sanitization_policy",
            target_id=created.public_id,
            after={
                "name": name,
                "version": created.version,
                "strict": created.strict,
                "keep_unsanitized": created.keep_unsanitized,
                "rules": len(policy.rules),
            },
        )
    return created


def parsed_policy(snapshot: Snapshot) -> Policy:
    """The policy a snapshot's capture runs with (the team's version, or the strict default)."""
    source = snapshot.policy.source if snapshot.policy else DEFAULT_POLICY_SOURCE
    policy, problems = parse_policy(source)
    if policy is None:  # versions are validated when published
        raise InvalidInput("; ".join(_problem_text(p) for p in problems), field="policy")
    return policy


def policy_salt(snapshot: Snapshot, policy: Policy) -> str:
    """The policy's own salt, else one derived from the server secret, the team and the policy name:
    deterministic for every capture under that policy (joins across snapshots keep working) and
    never guessable from the policy text."""
    if policy.salt:
        return policy.salt
    message = f"snapshot-salt:{snapshot.team_id}:{snapshot.policy_name or policy.name}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()


def policy_file(policy: Policy) -> str:
    """The policy as the capture Job reads it: the salt is left out (it travels in a Secret)."""
    import yaml

    data = policy.model_dump(mode="json", by_alias=True, exclude={"salt"})
    if not policy.keep_unsanitized:
        data.pop("keepUnsanitized", None)
    return yaml.safe_dump(data, sort_keys=False)


# --- waking ------------------------------------------------------------------------------------


def _check_wakeable(env: Environment, doing: str) -> None:
    """Captures and restores need the database running. A running environment, or one on its way
    up, is fine; a stopped one is resumed by the action (``_wake``); anything else is refused with
    what to do instead."""
    if env.state in SNAPSHOT_STATES or env.state in WAKING_STATES or env.state == EnvironmentState.STOPPED:
        return
    hint = {
        EnvironmentState.STOPPING: "try again once it has stopped (it is then resumed first)",
        EnvironmentState.FAILED: f"retry it first (microstax env retry {env.public_id})",
    }.get(env.state, "it no longer runs")
    raise Conflict(f"environment is {env.state}; {doing} needs it running: {hint}", field="environment")


def _wake(actor, env: Environment, doing: str) -> bool:
    """Resume a stopped environment for ``doing`` (as ``actor``, who may use it; audited as
    ``environment.resume`` naming what it was woken for). The capture's or restore's Operation then
    waits in the runner until the environment is ready (``Provisioner.wait_until_running``).
    True when this call resumed it."""
    from environments.actions import resume_environment

    if env.state != EnvironmentState.STOPPED:
        return False
    try:
        resume_environment(actor=actor, env=env, woken_for=doing)
    except Conflict:  # resumed (or stopped further) by someone else meanwhile
        env.refresh_from_db(fields=["state"])
        _check_wakeable(env, doing)
        return False
    return True


# --- capture -----------------------------------------------------------------------------------


def create_snapshot(*, actor, env: Environment, service: str | None = None, policy=None) -> Snapshot:
    """Capture one database service of an environment, sanitized by ``policy``.

    ``policy`` is a :class:`SanitizationPolicy` of the environment's team; without one the capture
    is strict (any PII-looking column refuses it). The capture Job runs as the environment's
    Operation; the snapshot becomes ``ready`` once its artifact has been uploaded and verified.

    A stopped environment is woken first: a developer asking for a snapshot wants the snapshot,
    and the database only answers while it runs. The resume is audited as the actor's, and the
    capture waits (bounded) for the environment to be ready; it stays up for its idle delay.
    """
    _require_use(actor, env, "taking snapshots")
    database = resolve_service(env, service)
    _check_wakeable(env, "a snapshot")
    if policy is not None and policy.team_id != env.team_id:
        raise NotFound("sanitization policy not found", field="policy")
    return _capture(actor=actor, env=env, database=database, policy=policy)


def _capture(*, actor, env: Environment, database: dict[str, Any], policy) -> Snapshot:
    """Record a snapshot and its capture Operation (waking a stopped environment first)."""
    retention = TeamPolicy.for_team(env.team).snapshot_retention_days
    storage = get_storage()
    with transaction.atomic():
        woke = _wake(actor, env, "a snapshot")
        snapshot = Snapshot.objects.create(
            team=env.team,
            environment=env,
            service=database["name"],
            engine="postgres",
            policy=policy,
            policy_name=policy.name if policy else "default",
            sanitized=not (policy is not None and policy.keep_unsanitized),
            storage_backend=storage.name,
            expires_at=timezone.now() + timedelta(days=retention) if retention else None,
            created_by=actor,
        )
        operation = _new_operation(env, OperationKind.SNAPSHOT, actor, snapshot=snapshot.public_id)
        snapshot.operation = operation
        snapshot.save(update_fields=["operation"])
        summary = snapshot_summary(snapshot)
        _audit("snapshot.create", actor=actor, snapshot=snapshot, after={**summary, **({"woke": True} if woke else {})})
        _enqueue(operation)
    return snapshot


# --- restore -----------------------------------------------------------------------------------


def _restorable(actor, snapshot: Snapshot, env: Environment) -> None:
    if snapshot.state != SnapshotState.READY:
        raise Conflict(
            f"{snapshot.public_id} is {snapshot.state}; only ready snapshots can be restored", field="snapshot"
        )
    if snapshot.expires_at is not None and snapshot.expires_at <= timezone.now():
        raise Conflict(f"{snapshot.public_id} has expired", field="snapshot")
    _check_unsanitized(actor, snapshot, target_team=env.team, doing="restore")


def _target_service(env: Environment, snapshot: Snapshot, service: str | None) -> dict[str, Any]:
    if service is None and any(s["name"] == snapshot.service for s in database_services(env)):
        service = snapshot.service
    return resolve_service(env, service)


def restore_snapshot(*, actor, snapshot: Snapshot, env: Environment, service: str | None = None) -> SnapshotRestore:
    """Load a ready snapshot into a database service of ``env`` (which must still be empty)."""
    _require_visible(actor, snapshot)
    _require_use(actor, env, "restoring snapshots")
    _restorable(actor, snapshot, env)
    database = _target_service(env, snapshot, service)
    _check_wakeable(env, "a restore")
    with transaction.atomic():
        _wake(actor, env, f"restoring {snapshot.public_id}")
        restore = SnapshotRestore.objects.create(
            snapshot=snapshot, environment=env, service=database["name"], requested_by=actor
        )
        operation = _new_operation(env, OperationKind.RESTORE, actor, snapshot=snapshot.public_id, restore=restore.pk)
        restore.operation = operation
        restore.save(update_fields=["operation"])
        _audit(
            "snapshot.restore",
            actor=actor,
            snapshot=snapshot,
            after={"environment": env.public_id, "service": database["name"], "team": env.team.slug},
        )
        _enqueue(operation)
    return restore


def resolve_blueprint_snapshot(env: Environment, section: dict[str, Any]) -> Snapshot:
    """The snapshot a blueprint's ``snapshot:`` section names: by ``id``, or the latest ready one of
    ``fromEnvironment``'s service. Raises NotFound/Conflict/PermissionDenied with a clear reason.

    With ``fromEnvironment`` and a ``policy`` (or inline ``rules``/``tables``), only a snapshot made
    under exactly that policy version will do; when there is none (ready, or already being
    captured), one is captured first, as the environment's creator — the returned snapshot is then
    not ready yet, and provisioning waits for it (``snapshots.runner``).
    """
    actor = env.created_by
    if section.get("id"):
        snapshot = Snapshot.objects.select_related("team").filter(public_id=section["id"]).first()
        if snapshot is None or not can_see(actor, snapshot):
            raise NotFound(f"the blueprint's snapshot {section['id']} was not found", field="snapshot")
        _restorable(actor, snapshot, env)
        return snapshot
    if not section.get("fromEnvironment"):
        raise InvalidInput("the blueprint's snapshot section names neither id nor fromEnvironment", field="snapshot")
    source = Environment.objects.select_related("team").filter(public_id=section["fromEnvironment"]).first()
    if source is None or not permissions.has_team_perm(actor, source.team, TeamPermission.VIEW):
        raise NotFound(f"the blueprint's environment {section['fromEnvironment']} was not found", field="snapshot")
    now = timezone.now()
    candidates = source.snapshots.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    if source.team_id != env.team_id:
        candidates = candidates.filter(sanitized=True)
    policy = blueprint_policy(env, source, section)
    if policy is None:
        ready = candidates.filter(state=SnapshotState.READY)
        snapshot = ready.filter(service=section["service"]).first() or ready.first()
        if snapshot is None:
            raise Conflict(f"{source.public_id} has no ready snapshot to restore", field="snapshot")
        _restorable(actor, snapshot, env)
        return snapshot
    database = resolve_service(source, _source_service(source, section["service"]))
    under_policy = candidates.filter(service=database["name"], policy=policy)
    snapshot = (
        under_policy.filter(state=SnapshotState.READY).first()
        # a capture already under way (another environment's, or this provisioning's before a restart)
        or under_policy.filter(state__in=[SnapshotState.PENDING, SnapshotState.CAPTURING]).first()
    )
    if snapshot is None:
        snapshot = create_snapshot(actor=actor, env=source, service=database["name"], policy=policy)
    if snapshot.state == SnapshotState.READY:
        _restorable(actor, snapshot, env)
    return snapshot


def _source_service(source: Environment, wanted: str) -> str | None:
    """The source's database service of the same name as the target's, else its only one."""
    return wanted if any(s["name"] == wanted for s in database_services(source)) else None


INLINE_POLICY_PREFIX = "bp-"


def inline_policy_source(name: str, section: dict[str, Any]) -> str:
    """A blueprint's inline ``rules``/``tables`` as policy YAML. Strict: a PII-looking column the
    rules forget refuses the capture instead of travelling unmasked."""
    import yaml

    data: dict[str, Any] = {"name": name, "strict": True}
    tables = section.get("tables") or {}
    if tables.get("include") or tables.get("exclude"):
        data["tables"] = {
            "include": list(tables.get("include") or ["*.*"]),
            "exclude": list(tables.get("exclude") or []),
        }
    if section.get("rules"):
        data["rules"] = [dict(rule) for rule in section["rules"]]
    return yaml.safe_dump(data, sort_keys=False)


def blueprint_policy(env: Environment, source: Environment, section: dict[str, Any]) -> SanitizationPolicy | None:
    """The policy version a ``fromEnvironment`` capture runs under, in the source's team.

    ``policy`` names a published team policy (its latest version). Inline ``rules``/``tables`` are
    published as a version of the team policy ``bp-<blueprint name>`` — by the environment's
    creator, who must be allowed to publish policies (maintainers and owners): sanitization stays
    governed, versioned and audited, and the snapshot's lineage names the version it used.
    """
    tables = section.get("tables") or {}
    inline = bool(section.get("rules") or tables.get("include") or tables.get("exclude"))
    if section.get("policy"):
        found = SanitizationPolicy.objects.filter(team=source.team, name=section["policy"]).order_by("-version").first()
        if found is None:
            raise NotFound(
                f"the blueprint's policy {section['policy']!r} is not a published sanitization policy of team "
                f"'{source.team.slug}'",
                field="policy",
            )
        return found
    if not inline:
        return None
    name = (INLINE_POLICY_PREFIX + env.spec.get("name", env.name))[:63].rstrip("-")
    source_yaml = inline_policy_source(name, section)
    parsed, problems = parse_policy(source_yaml)
    if parsed is None:
        errors = "; ".join(_problem_text(p) for p in problems if p.severity == "error")
        raise InvalidInput(f"the blueprint's inline sanitization rules are invalid: {errors}", field="snapshot")
    existing = SanitizationPolicy.objects.filter(
        team=source.team, name=name, content_hash=_content_hash(parsed)
    ).first()
    if existing is not None:
        return existing
    try:
        return create_policy(actor=env.created_by, team=source.team, name=name, source=source_yaml)
    except PermissionDenied as exc:
        raise PermissionDenied(
            f"the blueprint's inline sanitization rules become a version of team policy '{name}', and {exc.message}; "
            "ask a maintainer to publish them, or name a published policy in snapshot.policy",
            field="snapshot",
        ) from None


# --- replay ------------------------------------------------------------------------------------


def replay_environment(*, actor, env: Environment, snapshot: Snapshot | None = None, name: str | None = None):
    """A new environment from ``env``'s recorded blueprint (version or source), with ``snapshot``
    (default: ``env``'s latest ready one) restored into it while it is provisioned."""
    from environments.actions import create_environment

    _require_use(actor, env, "replaying environments")
    if snapshot is None:
        snapshot = env.snapshots.filter(state=SnapshotState.READY).first()
        if snapshot is None:
            raise Conflict(f"{env.public_id} has no ready snapshot to replay", field="snapshot")
    else:
        _require_visible(actor, snapshot)
    _restorable(actor, snapshot, env)
    name = name or f"{env.name[:30]}-replay-{secrets.token_hex(2)}"
    # The replay runs the same blueprint and plan, so it has the same database services as ``env``.
    database = _target_service(env, snapshot, None)
    with transaction.atomic():
        # One event, environment.replay, for the new environment (not a create and a replay).
        replay = create_environment(
            actor=actor,
            team=env.team,
            source=None if env.blueprint_version else env.source,
            blueprint_version=env.blueprint_version,
            name=name,
            plan=env.plan_name or None,
            cluster=env.cluster,
            files=env.files or None,
            audit_action="environment.replay",
            audit_details={"source": env.public_id, "snapshot": snapshot.public_id, "service": database["name"]},
        )
        SnapshotRestore.objects.create(
            snapshot=snapshot,
            environment=replay,
            service=database["name"],
            requested_by=actor,
            operation=replay.operations.first(),
        )
    return replay


# --- sharing ----------------------------------------------------------------------------------


def share_snapshot(*, actor, snapshot: Snapshot, team) -> SnapshotShare:
    """Let ``team`` see ``snapshot`` and restore it into its own environments.

    For the owning team's maintainers and owners; only sanitized, ready snapshots are shared (raw
    data never leaves its team). Sharing again with the same team returns the existing share and
    records nothing. Audited as ``snapshot.share``.
    """
    _require_visible(actor, snapshot)
    permissions.require_team_perm(actor, snapshot.team, TeamPermission.MANAGE_BASELINES, doing="sharing snapshots")
    if not snapshot.sanitized:
        raise PermissionDenied(
            f"{snapshot.public_id} is not sanitized; only sanitized snapshots are shared with other teams",
            field="snapshot",
            code="UNSANITIZED",
        )
    if snapshot.state != SnapshotState.READY:
        raise Conflict(f"{snapshot.public_id} is {snapshot.state}; only ready snapshots are shared", field="snapshot")
    if team.pk == snapshot.team_id:
        raise InvalidInput(f"{snapshot.public_id} already belongs to team '{team.slug}'", field="team")
    existing = SnapshotShare.objects.filter(snapshot=snapshot, team=team).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        share, created = SnapshotShare.objects.get_or_create(
            snapshot=snapshot, team=team, defaults={"shared_by": actor}
        )
        if created:
            _audit("snapshot.share", actor=actor, snapshot=snapshot, after={"team": team.slug, "sanitized": True})
    return share


def unshare_snapshot(*, actor, snapshot: Snapshot, team) -> bool:
    """Withdraw a share (the other team's past restores stay in the lineage). Audited as
    ``snapshot.unshare``; False (and nothing recorded) when it was not shared with ``team``."""
    _require_visible(actor, snapshot)
    permissions.require_team_perm(actor, snapshot.team, TeamPermission.MANAGE_BASELINES, doing="sharing snapshots")
    with transaction.atomic():
        deleted, _ = SnapshotShare.objects.filter(snapshot=snapshot, team=team).delete()
        if deleted:
            _audit("snapshot.unshare", actor=actor, snapshot=snapshot, before={"team": team.slug})
    return bool(deleted)


# --- delete, download, purge -------------------------------------------------------------------


def _forget_artifact(snapshot: Snapshot) -> None:
    """Remove the stored artifact after commit: a rolled-back delete must not lose the data."""
    if snapshot.storage_key:
        key = snapshot.storage_key
        transaction.on_commit(lambda: get_storage().delete(key))


def delete_snapshot(*, actor, snapshot: Snapshot) -> Snapshot:
    """Delete the artifact and mark the snapshot deleted (the row stays as lineage); owners and maintainers."""
    _require_visible(actor, snapshot)
    permissions.require_team_perm(actor, snapshot.team, TeamPermission.MANAGE_BASELINES, doing="deleting snapshots")
    return _delete(snapshot, actor=actor, action="snapshot.delete")


def _delete(snapshot: Snapshot, *, actor, action: str, reason: str = "") -> Snapshot:
    with transaction.atomic():
        locked = Snapshot.objects.select_for_update().get(pk=snapshot.pk)
        if locked.state == SnapshotState.DELETED:
            raise Conflict(f"{snapshot.public_id} is already deleted", field="snapshot")
        before = snapshot_summary(locked)
        _forget_artifact(locked)
        locked.state, locked.deleted_at, locked.upload_token_hash = SnapshotState.DELETED, timezone.now(), ""
        locked.state_reason = reason[:500]
        locked.save(update_fields=["state", "deleted_at", "upload_token_hash", "state_reason"])
        _audit(action, actor=actor, snapshot=locked, before=before, reason=reason)
    return locked


@dataclass
class SnapshotDownload:
    """An open artifact stream for a view to send (close it when done)."""

    stream: BinaryIO
    filename: str
    size: int | None
    sha256: str


def download_snapshot(*, actor, snapshot: Snapshot) -> SnapshotDownload:
    """Open a ready snapshot's artifact: sanitized ones for members who use environments,
    unsanitized ones for the owning team's owners only. Audited."""
    _require_visible(actor, snapshot)
    permissions.require_team_perm(actor, snapshot.team, TeamPermission.USE_ENVIRONMENTS, doing="downloading snapshots")
    _check_unsanitized(actor, snapshot, doing="download")
    if snapshot.state != SnapshotState.READY:
        raise Conflict(f"{snapshot.public_id} is {snapshot.state}; only ready snapshots can be downloaded")
    stream = get_storage().open(snapshot.storage_key)
    with transaction.atomic():
        _audit("snapshot.download", actor=actor, snapshot=snapshot, after={"sha256": snapshot.sha256})
    return SnapshotDownload(stream, f"{snapshot.public_id}.msxsnap", snapshot.size_bytes, snapshot.sha256)


def purge_snapshot(snapshot: Snapshot, *, reason: str) -> Snapshot:
    """The fleet sweep's delete (audited as system)."""
    return _delete(snapshot, actor=SYSTEM, action="snapshot.delete", reason=reason)


def restore_failed(restore: SnapshotRestore, reason: str) -> None:
    SnapshotRestore.objects.filter(pk=restore.pk).update(
        state=RestoreState.FAILED, state_reason=reason[:500], download_token_hash="", finished_at=timezone.now()
    )
