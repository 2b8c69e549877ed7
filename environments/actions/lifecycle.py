"""Environment lifecycle: create, update, stop, resume, retry, scale, delete, TTL and idle policy.

Each action checks the team permission, validates, changes the database in one transaction
(guarded state transition, an Operation row, exactly one audit event) and enqueues the
provisioning task after commit. The Kubernetes work happens in ``environments.provisioning``.
"""

from __future__ import annotations

import copy
import re
import secrets as secrets_module
from datetime import timedelta

import yaml
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import context as audit_context
from audit.actions import record
from blueprints.actions import InvalidBlueprint
from blueprints.normalize import spec_hash
from blueprints.quantities import cpu_millicores, memory_bytes
from blueprints.spec import AUTO_GENERATED
from blueprints.validation import validate_blueprint
from environments import cost, events
from environments.actions import policies
from environments.choices import (
    EnvironmentMode,
    EnvironmentState,
    OperationKind,
    OperationState,
)
from environments.models import Cluster, Environment, Operation, ServiceInstance
from microstax.lib.errors import Conflict, InvalidInput
from microstax.lib.ids import new_public_id
from microstax.teams import permissions
from microstax.teams.choices import TeamPermission

_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")


def environment_snapshot(env: Environment) -> dict:
    return {
        "id": env.public_id,
        "name": env.name,
        "mode": env.mode,
        "state": env.state,
        "namespace": env.namespace,
        "cluster": env.cluster.name,
        "spec_hash": env.spec_hash,
        "plan": env.plan_name or None,
        "expires_at": env.expires_at.isoformat() if env.expires_at else None,
    }


def audit_environment(env: Environment, action: str, *, actor, **details) -> None:
    """The one audit event of an environment action (``details``: before, after, outcome, reason)."""
    record(action=action, actor=actor, team=env.team, target_type="environment", target_id=env.public_id, **details)


def _requested(spec: dict) -> tuple[int, int]:
    """(CPU millicores, memory MiB) requested by the spec's services, replicas included."""
    cpu = memory = 0
    for service in spec["services"]:
        if service.get("removed"):
            continue
        requests = service["resources"]["requests"]
        replicas = service["replicas"]
        cpu += cpu_millicores(requests["cpu"]) * replicas if requests.get("cpu") else 0
        memory += memory_bytes(requests["memory"]) * replicas if requests.get("memory") else 0
    return cpu, memory // (1024 * 1024)


def _check_quota(team, cpu: int, memory: int, *, excluding: Environment | None = None) -> None:
    policies.check_quota(team, cpu, memory, excluding=excluding)


def _expires_at(ttl: str | None, spec: dict, team, mode: str = EnvironmentMode.ISOLATED) -> timezone.datetime:
    """The expiry under the team's policy for ``mode``: the TTL given, else the blueprint's, else the default."""
    return policies.expiry(team, mode, ttl or spec.get("ttl"))


def _declares_idle_delay(source: str) -> bool:
    """Whether the blueprint sets ``autoShutdownDelayMinutes`` itself (else the team's default applies)."""
    try:
        data = yaml.safe_load(source)
    except yaml.YAMLError:
        return True
    return isinstance(data, dict) and "autoShutdownDelayMinutes" in data


def _generate_secrets(spec: dict, existing: dict[str, str]) -> dict[str, str]:
    """Values for ``auto-generated`` secrets: made once, kept across updates.

    Secrets of the same name share one value across the environment's services, so a database's
    generated password can be handed to the services that connect to it.
    """
    values = dict(existing)
    by_name = {key.split("/", 1)[1]: value for key, value in existing.items()}
    for service in spec["services"]:
        for secret in service.get("secrets") or []:
            key = f"{service['name']}/{secret['name']}"
            if secret["value"] == AUTO_GENERATED and key not in values:
                values[key] = by_name.setdefault(secret["name"], secrets_module.token_urlsafe(24))
    return values


MAX_FILES_BYTES = 2 * 1024 * 1024


def _clean_files(files: dict[str, str] | None, spec: dict) -> dict[str, str]:
    """The referenced files the blueprint needs (seed scripts, OpenAPI documents), by path.

    Files the blueprint does not reference are dropped; the total is bounded so a control-plane row
    never holds a data dump (snapshots are the way to bring data).
    """
    from environments.render import required_files

    if not files:
        return {}
    wanted = set(required_files(spec))
    kept = {path: text for path, text in files.items() if path in wanted}
    if any(not isinstance(text, str) for text in kept.values()):
        raise InvalidInput("file contents must be text", field="files")
    if sum(len(text.encode()) for text in kept.values()) > MAX_FILES_BYTES:
        raise InvalidInput("referenced files may total at most 2 MiB; use a snapshot for data", field="files")
    return kept


def _resolve_cluster(cluster: Cluster | None) -> Cluster:
    if cluster is not None:
        return cluster
    default = Cluster.objects.filter(is_default=True).first()
    if default is None:
        raise InvalidInput("no cluster given and no default cluster is registered", field="cluster")
    return default


def _validated_spec(source: str, plan: str | None) -> dict:
    result = validate_blueprint(source or "", plan=plan)
    if not result.valid:
        raise InvalidBlueprint(result.problems)
    return result.normalized


def _enqueue(operation: Operation) -> None:
    from environments.tasks import enqueue_operation

    transaction.on_commit(lambda: enqueue_operation(operation.pk))


def _new_operation(env: Environment, kind: str, actor, **params) -> Operation:
    return Operation.objects.create(
        environment=env, kind=kind, actor=actor, params=params, request_context=audit_context.current().as_dict()
    )


def _sync_service_rows(env: Environment) -> None:
    """One ServiceInstance per service of the spec; rows of services that left are removed."""
    wanted = {s["name"]: s for s in env.spec["services"] if not s.get("removed")}
    env.services.exclude(name__in=wanted).delete()
    existing = set(env.services.values_list("name", flat=True))
    ServiceInstance.objects.bulk_create(
        ServiceInstance(environment=env, name=name, provided_by=env, desired_replicas=service["replicas"])
        for name, service in wanted.items()
        if name not in existing
    )
    for name, service in wanted.items():
        env.services.filter(name=name).exclude(desired_replicas=service["replicas"]).update(
            desired_replicas=service["replicas"]
        )


def create_environment(
    *,
    actor,
    team,
    source: str | None = None,
    blueprint_version=None,
    name: str | None = None,
    plan: str | None = None,
    ttl: str | None = None,
    cluster: Cluster | None = None,
    mode: str | None = None,
    files: dict[str, str] | None = None,
    audit_action: str = "environment.create",
    audit_details: dict | None = None,
) -> Environment:
    """Record a new environment and enqueue its provisioning.

    ``mode`` overrides the blueprint's ``routing.mode`` (``createBaseline`` makes any stack a baseline).
    ``audit_action`` names the one event it records (a replay records ``environment.replay``, not a
    create and a replay), with ``audit_details`` added to its ``after``.
    """
    permissions.require_team_perm(actor, team, TeamPermission.USE_ENVIRONMENTS, doing="creating environments")
    if blueprint_version is not None:
        if blueprint_version.blueprint.team_id != team.pk:
            raise InvalidInput("the blueprint version belongs to another team", field="blueprintVersion")
        source = blueprint_version.source
    if not source:
        raise InvalidInput("give either blueprint YAML or a blueprint version", field="yaml")
    spec = _validated_spec(source, plan)
    mode = mode or spec["routing"]["mode"]
    if mode == EnvironmentMode.BASELINE:
        permissions.require_team_perm(actor, team, TeamPermission.MANAGE_BASELINES, doing="creating baselines")
    if mode == EnvironmentMode.OVERLAY:
        raise InvalidInput(
            "this blueprint is an overlay (routing.mode: overlay); create it with createOverlay on top of its base",
            field="yaml",
            code="UNSUPPORTED",
        )
    name = (name or spec["name"]).strip().lower()
    if not _NAME.match(name):
        raise InvalidInput("name must be 1-40 lowercase letters, digits or hyphens", field="name")
    cluster = _resolve_cluster(cluster)
    expires_at = _expires_at(ttl, spec, team, mode)
    cpu, memory = _requested(spec)
    idle_delay = spec["autoShutdownDelayMinutes"] if _declares_idle_delay(source) else policies.default_idle_delay(team)
    policies.check_idle_delay(team, idle_delay, field="yaml")
    public_id = new_public_id("env")
    env = Environment(
        public_id=public_id,
        team=team,
        name=name,
        mode=mode,
        blueprint_version=blueprint_version,
        source=source,
        files=_clean_files(files, spec),
        spec=spec,
        spec_hash=spec_hash(spec),
        plan_name=plan or "",
        cluster=cluster,
        namespace=f"env-{name[:40]}-{public_id[-6:]}",
        routing_key=spec["routing"].get("overlayId") or "",
        expires_at=expires_at,
        auto_shutdown_enabled=spec["autoShutdownEnabled"],
        auto_shutdown_delay_minutes=idle_delay,
        requested_cpu_millicores=cpu,
        requested_memory_mib=memory,
        requested_storage_mib=cost.storage_mib(spec["services"]),
        created_by=actor,
    )
    env.set_generated_secrets(_generate_secrets(spec, {}))
    try:
        with transaction.atomic():
            # Lock the team row: concurrent creates of one team are counted against the quota in turn.
            # NO KEY: a plain FOR UPDATE also blocks the key-share locks of foreign-key checks, so a
            # task holding the audit chain head and inserting a row of this team deadlocks with us.
            type(team).objects.select_for_update(no_key=True).filter(pk=team.pk).first()
            _check_quota(team, cpu, memory)
            env.save()
            _sync_service_rows(env)
            operation = _new_operation(env, OperationKind.CREATE, actor)
            audit_environment(
                env, audit_action, actor=actor, after={**environment_snapshot(env), **(audit_details or {})}
            )
            _enqueue(operation)
    except IntegrityError:
        raise Conflict(f"team '{team.slug}' already has a live environment named '{name}'", field="name") from None
    return env


def _operate(env: Environment, actor, *, kind: str, to: str, action: str, reason: str = "", **params) -> Operation:
    """Guarded transition + Operation + audit event + enqueue, in one transaction."""
    with transaction.atomic():
        before = environment_snapshot(env)
        if not env.transition(to, reason=reason):
            env.refresh_from_db(fields=["state"])
            raise Conflict(f"environment is {env.state}; it cannot go to {to} from there", field="state")
        Operation.objects.filter(environment=env, state=OperationState.QUEUED).update(
            state=OperationState.SUPERSEDED, finished_at=timezone.now()
        )
        operation = _new_operation(env, kind, actor, **params)
        audit_environment(
            env,
            action,
            actor=actor,
            before=before,
            after={**environment_snapshot(env), **params},
        )
        _enqueue(operation)
        # Subscribers see the new state now, not at their next safety poll.
        transaction.on_commit(lambda: events.publish(env.public_id, "state", state=to, reason=reason))
    return operation


SYSTEM = None  # the actor of fleet policies (TTL expiry, idle shutdown): audited as "system"


def _require_use(actor, env: Environment) -> None:
    """Users need the team's environment permission. ``SYSTEM`` (None) is only ever passed by the
    control plane's own policies — every interface resolves a signed-in user or refuses first."""
    if actor is SYSTEM:
        return
    permissions.require_team_perm(actor, env.team, TeamPermission.USE_ENVIRONMENTS, doing="operating environments")


def update_environment(
    *,
    actor,
    env: Environment,
    source: str | None = None,
    blueprint_version=None,
    plan: str | None = None,
    files: dict[str, str] | None = None,
) -> Operation:
    """Apply a new blueprint: the provisioner diffs normalized specs and touches only what changed.

    An overlay is re-planned against its chain (conflicts refuse the update); overlays below the
    updated environment are re-planned too, and flagged when their plan moved.
    """
    from environments.actions import sparse

    _require_use(actor, env)
    if blueprint_version is not None:
        if blueprint_version.blueprint.team_id != env.team_id:
            raise InvalidInput("the blueprint version belongs to another team", field="blueprintVersion")
        source = blueprint_version.source
    difference_plan = None
    if env.mode == EnvironmentMode.OVERLAY:
        spec, overlay_plan = sparse.plan_overlay(
            actor=actor,
            base=env.parent,
            source=source or "",
            name=env.name,
            environment_id=env.public_id,
            wake=False,
        )
        if overlay_plan.conflicts:
            raise sparse.OverlayConflict(overlay_plan.conflicts)
        difference_plan = overlay_plan.to_dict()
        cpu = overlay_plan.saving["overlay"]["cpu_millicores"]
        memory = overlay_plan.saving["overlay"]["memory_mib"]
        secrets_spec = overlay_plan.effective_spec
        local = set(overlay_plan.local)
        running = [s for s in secrets_spec["services"] if s["name"] in local]
    else:
        spec = _validated_spec(source or "", plan if plan is not None else (env.plan_name or None))
        compatible = {env.mode} | ({EnvironmentMode.ISOLATED} if env.mode == EnvironmentMode.BASELINE else set())
        if spec["routing"]["mode"] not in compatible:
            raise InvalidInput(
                f"an update cannot change the mode ({env.mode} → {spec['routing']['mode']})", field="yaml"
            )
        cpu, memory = _requested(spec)
        secrets_spec = spec
        running = spec["services"]
    _check_quota(env.team, cpu, memory, excluding=env)
    with transaction.atomic():
        previous_hash = env.spec_hash
        env.source, env.spec, env.spec_hash = source, spec, spec_hash(spec)
        if files is not None:
            env.files = _clean_files(files, secrets_spec)
        env.blueprint_version = blueprint_version
        env.requested_cpu_millicores, env.requested_memory_mib = cpu, memory
        env.requested_storage_mib = cost.storage_mib(running)
        env.set_generated_secrets(_generate_secrets(secrets_spec, env.generated_secrets()))
        fields = [
            "requested_storage_mib",
            "files",
            "source",
            "spec",
            "spec_hash",
            "blueprint_version",
            "requested_cpu_millicores",
            "requested_memory_mib",
            "secrets_encrypted",
        ]
        if difference_plan is not None:
            env.difference_plan, env.plan_outdated = difference_plan, False
            fields += ["difference_plan", "plan_outdated"]
            sparse.sync_overlay_rows(env, overlay_plan)
        else:
            _sync_service_rows(env)
        env.save(update_fields=fields)
        operation = _operate(
            env,
            actor,
            kind=OperationKind.UPDATE,
            to=EnvironmentState.PROVISIONING,
            action="environment.update",
            previous_spec_hash=previous_hash,
        )
        sparse.flag_outdated_overlays(env)
        return operation


def stop_environment(*, actor, env: Environment) -> Operation:
    """Scale every service to zero; volumes and data stay."""
    _require_use(actor, env)
    return _operate(env, actor, kind=OperationKind.STOP, to=EnvironmentState.STOPPING, action="environment.stop")


def resume_environment(*, actor, env: Environment, woken_for: str = "") -> Operation:
    """Bring a stopped environment back. ``woken_for`` names the operation that needed it running
    (a snapshot, an overlay on it): recorded on the Operation and in the audit event."""
    _require_use(actor, env)
    operation = _operate(
        env,
        actor,
        kind=OperationKind.RESUME,
        to=EnvironmentState.RESUMING,
        action="environment.resume",
        **({"woken_for": woken_for} if woken_for else {}),
    )
    # A fresh idle period: an environment stopped for being idle would otherwise be stopped again by
    # the next sweep, its idle deadline long past.
    touch_activity(env)
    return operation


def retry_environment(*, actor, env: Environment) -> Operation:
    """Re-run provisioning of a failed or degraded environment; it converges from wherever it stopped."""
    _require_use(actor, env)
    if env.state not in (EnvironmentState.FAILED, EnvironmentState.DEGRADED):
        raise Conflict(f"only failed or degraded environments are retried; this one is {env.state}", field="state")
    return _operate(env, actor, kind=OperationKind.RETRY, to=EnvironmentState.PROVISIONING, action="environment.retry")


def scale_service(*, actor, env: Environment, service: str, replicas: int) -> Operation:
    _require_use(actor, env)
    if not 0 <= replicas <= 50:
        raise InvalidInput("replicas must be between 0 and 50", field="replicas")
    overlay = env.mode == EnvironmentMode.OVERLAY
    if overlay and service not in (env.difference_plan or {}).get("local", []):
        provider = (env.difference_plan or {}).get("inherited", {}).get(service)
        raise InvalidInput(
            f"'{service}' is inherited from {provider}; scale it there"
            if provider
            else f"environment has no service '{service}'",
            field="service",
        )
    # An overlay runs its plan's effective spec (promoted services are not in its own delta).
    plan = copy.deepcopy(env.difference_plan) if overlay else None
    spec = plan["effective_spec"] if overlay else copy.deepcopy(env.spec)
    target = next((s for s in spec["services"] if s["name"] == service and not s.get("removed")), None)
    if target is None:
        raise InvalidInput(f"environment has no service '{service}'", field="service")
    target["replicas"] = replicas
    local = [s for s in spec["services"] if not overlay or s["name"] in plan["local"]]
    cpu, memory = _requested({"services": local})
    _check_quota(env.team, cpu, memory, excluding=env)
    with transaction.atomic():
        if overlay:
            env.difference_plan = plan
            env.services.filter(name=service).update(desired_replicas=replicas)
        else:
            env.spec, env.spec_hash = spec, spec_hash(spec)
            _sync_service_rows(env)
        env.requested_cpu_millicores, env.requested_memory_mib = cpu, memory
        env.save(
            update_fields=["spec", "spec_hash", "difference_plan", "requested_cpu_millicores", "requested_memory_mib"]
        )
        return _operate(
            env,
            actor,
            kind=OperationKind.SCALE,
            to=EnvironmentState.PROVISIONING,
            action="environment.scale",
            service=service,
            replicas=replicas,
        )


def delete_environment(*, actor, env: Environment, force: bool = False) -> Operation:
    """Delete the namespace (waiting through Terminating); the record stays as history.

    An environment that live overlays derive from is only deleted with ``force``; then its
    overlays are deleted first, leaves before their parents.
    """
    _require_use(actor, env)
    dependants = _live_descendants(env)
    if dependants and not force:
        names = ", ".join(sorted(d.name for d in dependants))
        raise Conflict(
            f"{len(dependants)} live overlay(s) derive from this environment ({names}); delete them first or force",
            field="force",
            code="HAS_DEPENDANTS",
        )
    if env.state == EnvironmentState.DELETING:
        # A delete that did not finish (a namespace stuck Terminating, a cluster that was down) is
        # tried again as it is: the state already says deleting.
        with transaction.atomic():
            if Operation.objects.filter(
                environment=env, kind=OperationKind.DELETE, state__in=[OperationState.QUEUED, OperationState.RUNNING]
            ).exists():
                raise Conflict("a deletion of this environment is already under way", field="state")
            operation = _new_operation(env, OperationKind.DELETE, actor)
            audit_environment(
                env,
                "environment.delete",
                actor=actor,
                after={**environment_snapshot(env), "retry": True},
            )
            _enqueue(operation)
        return operation
    with transaction.atomic():
        for dependant in dependants:  # leaves first
            if dependant.state not in (EnvironmentState.DELETING, EnvironmentState.DELETED):
                _operate(
                    dependant,
                    actor,
                    kind=OperationKind.DELETE,
                    to=EnvironmentState.DELETING,
                    action="environment.delete",
                    reason=f"its base {env.public_id} is being deleted",
                )
        return _operate(
            env, actor, kind=OperationKind.DELETE, to=EnvironmentState.DELETING, action="environment.delete"
        )


def _live_descendants(env: Environment) -> list[Environment]:
    """Live environments derived from ``env`` at any depth, deepest first."""
    found: list[tuple[int, Environment]] = []
    frontier, depth = [env], 0
    while frontier:
        depth += 1
        children = list(Environment.objects.live().filter(parent__in=frontier).select_related("team"))
        found += [(depth, child) for child in children]
        frontier = children
    return [child for _, child in sorted(found, key=lambda item: -item[0])]


def reconcile_environment(*, actor, env: Environment, reapply: bool = False, reason: str = "") -> Operation:
    """Re-apply the desired state: repairs drift, and writes nothing when nothing drifted.

    ``reapply`` writes every object even when its spec-hash matches, undoing hand edits that left the
    hash annotation in place (the fleet sweep's drift policy). ``actor`` None is the system (the fleet
    sweep); the state does not change while it runs.
    """
    if actor is not None:
        _require_use(actor, env)
    if env.state not in (EnvironmentState.READY, EnvironmentState.DEGRADED):
        raise Conflict(f"only ready or degraded environments are reconciled; this one is {env.state}", field="state")
    with transaction.atomic():
        operation = _new_operation(env, OperationKind.RECONCILE, actor, **({"reapply": True} if reapply else {}))
        audit_environment(
            env,
            "environment.reconcile",
            actor=actor,
            after={"spec_hash": env.spec_hash, **({"reapply": True} if reapply else {})},
            **({"reason": reason} if reason else {}),
        )
        _enqueue(operation)
    return operation


def extend_ttl(*, actor, env: Environment, ttl: str) -> Environment:
    """Set the expiry to ``ttl`` from now."""
    _require_use(actor, env)
    if not env.is_live:
        raise Conflict("a deleted environment has no TTL", field="state")
    if not ttl:
        raise InvalidInput("give the TTL to set, e.g. 48h", field="ttl")
    expires_at = _expires_at(ttl, {}, env.team, env.mode)
    with transaction.atomic():
        before = environment_snapshot(env)
        env.expires_at = expires_at
        env.save(update_fields=["expires_at"])
        audit_environment(
            env,
            "environment.ttl",
            actor=actor,
            before=before,
            after=environment_snapshot(env),
        )
    return env


def set_idle_policy(*, actor, env: Environment, enabled: bool, delay_minutes: int | None = None) -> Environment:
    _require_use(actor, env)
    delay = env.auto_shutdown_delay_minutes if delay_minutes is None else delay_minutes
    policies.check_idle_delay(env.team, delay)
    with transaction.atomic():
        before = {"enabled": env.auto_shutdown_enabled, "delay_minutes": env.auto_shutdown_delay_minutes}
        env.auto_shutdown_enabled, env.auto_shutdown_delay_minutes = enabled, delay
        env.save(update_fields=["auto_shutdown_enabled", "auto_shutdown_delay_minutes"])
        audit_environment(
            env,
            "environment.idle_policy",
            actor=actor,
            before=before,
            after={"enabled": enabled, "delay_minutes": delay},
        )
    return env


def not_running(env: Environment, doing: str) -> str | None:
    """Why ``doing`` (e.g. "read its logs") cannot happen on ``env`` now, naming the command that
    wakes it; None when its pods may run. Used where waking would surprise (reading logs of a stopped
    environment shows nothing of its past: its pods are gone)."""
    if env.state == EnvironmentState.STOPPED:
        return (
            f"{env.public_id} is stopped: its services have no pods; resume it first "
            f"(microstax env resume {env.public_id}) to {doing}"
        )
    if env.state in (EnvironmentState.DELETING, EnvironmentState.DELETED):
        return f"{env.public_id} is {env.state}: there is nothing left to {doing}"
    return None


def touch_activity(env: Environment) -> None:
    """Someone used the environment: push back idle shutdown. At most one write a minute."""
    now = timezone.now()
    if now - env.last_activity_at >= timedelta(minutes=1):
        Environment.objects.filter(pk=env.pk).update(last_activity_at=now, idle_at=env.idle_deadline(now))
        env.last_activity_at, env.idle_at = now, env.idle_deadline(now)
