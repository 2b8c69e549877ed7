"""Sparse environments: promoting baselines, planning and creating overlays on a chain of providers.

The planner (``environments.planner``) is pure; this module reads the chain from the database,
asks it for the difference graph and refuses conflicting overlays before anything is written.
"""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from blueprints.actions import InvalidBlueprint
from blueprints.normalize import spec_hash
from blueprints.validation import validate_blueprint
from environments import cost
from environments.actions import policies
from environments.actions.lifecycle import (
    _declares_idle_delay,
    _enqueue,
    _generate_secrets,
    _new_operation,
    _require_use,
    audit_environment,
    environment_snapshot,
)
from environments.choices import (
    EnvironmentMode,
    EnvironmentState,
    OperationKind,
    ServiceStatus,
)
from environments.models import Environment, ServiceInstance
from microstax.lib.errors import Conflict, InvalidInput
from microstax.lib.ids import new_public_id
from microstax.teams import permissions
from microstax.teams.choices import TeamPermission

_PINNED = re.compile(r"(@sha256:[0-9a-f]{64}$)|(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$)")


class OverlayConflict(InvalidInput):
    """The overlay cannot be created as planned; ``conflicts`` is the report."""

    code = "OVERLAY_CONFLICT"

    def __init__(self, conflicts: list) -> None:
        summary = "; ".join(f"{c.code}: {c.message}" for c in conflicts)
        super().__init__(f"the overlay conflicts with its base: {summary}", field="yaml")
        self.conflicts = conflicts


def _unpinned_images(spec: dict) -> list[str]:
    out = []
    for service in spec["services"]:
        image = service.get("image") or ""
        last = image.rsplit("/", 1)[-1]
        if not service.get("removed") and image and (not _PINNED.search(last) or last.endswith(":latest")):
            out.append(f"{service['name']} ({image})")
    return out


def promote_environment(*, actor, env: Environment) -> Environment:
    """Turn a ready isolated environment into a baseline that overlays can derive from."""
    permissions.require_team_perm(actor, env.team, TeamPermission.MANAGE_BASELINES, doing="promoting baselines")
    if env.mode != EnvironmentMode.ISOLATED:
        raise Conflict(f"only isolated environments are promoted; this one is already {env.mode}", field="id")
    if env.state != EnvironmentState.READY:
        raise Conflict(f"only ready environments are promoted; this one is {env.state}", field="id", code="NOT_READY")
    unpinned = _unpinned_images(env.spec)
    if unpinned:
        raise InvalidInput(
            "a baseline must run pinned images (a tag other than latest, or a digest); not pinned: "
            + ", ".join(unpinned),
            field="id",
            code="UNPINNED_IMAGES",
        )
    with transaction.atomic():
        before = environment_snapshot(env)
        updated = Environment.objects.filter(
            pk=env.pk, mode=EnvironmentMode.ISOLATED, state=EnvironmentState.READY
        ).update(mode=EnvironmentMode.BASELINE)
        if not updated:
            raise Conflict("the environment changed while promoting it; try again", field="id")
        env.mode = EnvironmentMode.BASELINE
        audit_environment(
            env,
            "environment.promote",
            actor=actor,
            before=before,
            after=environment_snapshot(env),
        )
    return env


def base_named_in(source: str) -> str:
    """The ``routing.baselineId`` an overlay blueprint names, for callers that give no base."""
    result = validate_blueprint(source or "", base_given=True)
    if result.spec is None:
        raise InvalidBlueprint(result.problems)
    base = result.spec.routing.baseline_id if result.spec.routing is not None else None
    if not base:
        raise InvalidInput("give a base, or set routing.baselineId in the blueprint", field="base")
    return base


def chain_of(base: Environment) -> list[Environment]:
    """``base`` and its providers up to the baseline, root (baseline) first."""
    chain, current, seen = [], base, set()
    while current is not None:
        if current.pk in seen:
            raise Conflict("the environment chain has a cycle", field="base", code="OVERLAY_CONFLICT")
        seen.add(current.pk)
        chain.append(current)
        current = current.parent
    return list(reversed(chain))


# A stopped provider is woken by createOverlay (and one resuming is waited for): planning sees it
# as the ready environment it is about to be.
WAKEABLE = (EnvironmentState.STOPPED, EnvironmentState.RESUMING)


def _layer(env: Environment, *, wake: bool = False):
    from environments.planner import Layer

    return Layer(
        environment_id=env.public_id,
        name=env.name,
        mode=env.mode,
        spec=env.spec,
        state=EnvironmentState.READY if wake and env.state in WAKEABLE else env.state,
        header_name=env.spec["routing"]["headerName"],
        routing_key=env.routing_key,
    )


def plan_overlay(
    *,
    actor,
    base: Environment,
    source: str,
    name: str | None = None,
    environment_id: str | None = None,
    wake: bool = True,
):
    """The difference graph of an overlay of ``base``: a dry run, nothing is written.

    With ``wake`` (what ``create_overlay`` does) stopped or resuming providers are planned as ready:
    creating the overlay resumes them first. Updates of an existing overlay pass ``wake=False``.
    """
    permissions.require_team_perm(actor, base.team, TeamPermission.VIEW, doing="planning overlays")
    if base.mode not in (EnvironmentMode.BASELINE, EnvironmentMode.OVERLAY):
        raise InvalidInput(
            f"'{base.name}' is {base.mode}: overlays derive from a baseline or another overlay",
            field="base",
            code="OVERLAY_CONFLICT",
        )
    chain = chain_of(base)
    result = validate_blueprint(source or "", base_given=True, known_upstream_services=_effective_services(chain))
    if not result.valid:
        raise InvalidBlueprint(result.problems)
    spec = result.normalized
    spec["routing"]["mode"] = EnvironmentMode.OVERLAY
    overlay_name = (name or spec["name"]).strip().lower()
    return spec, plan_on_chain(chain, spec, name=overlay_name, environment_id=environment_id, wake=wake)


def plan_on_chain(
    chain: list[Environment], spec: dict, *, name: str, environment_id: str | None = None, wake: bool = False
):
    """Plan an overlay spec on top of a chain read from the database (root-first)."""
    from environments.planner import Layer
    from environments.planner import plan_overlay as plan

    base = chain[-1]
    key = spec["routing"].get("overlayId") or name
    siblings = Environment.objects.live().filter(parent=base).exclude(public_id=environment_id or "")
    overlay = Layer(
        environment_id=environment_id or "(new overlay)",
        name=name,
        mode=EnvironmentMode.OVERLAY,
        spec=spec,
        state=EnvironmentState.PENDING,
        header_name=spec["routing"]["headerName"],
        routing_key=key,
    )
    return plan(
        [_layer(env, wake=wake) for env in chain],
        overlay,
        sibling_routing_keys=siblings.values_list("routing_key", flat=True),
    )


def sync_overlay_rows(env: Environment, plan) -> None:
    """One ServiceInstance per effective service: local ones run here, the rest name their provider."""
    live = [service for service in plan.services if service.status != "removed"]
    providers = {e.public_id: e for e in Environment.objects.filter(public_id__in={s.provider for s in live})}
    env.services.exclude(name__in=[s.name for s in live]).delete()
    existing = {row.name: row for row in env.services.all()}
    local = set(plan.local)
    for service in live:
        provider = env if service.name in local else providers[service.provider]
        replicas = (service.spec or {}).get("replicas", 1)
        status = ServiceStatus.PENDING if service.name in local else ServiceStatus.INHERITED
        row = existing.get(service.name)
        if row is None:
            ServiceInstance.objects.create(
                environment=env, name=service.name, provided_by=provider, desired_replicas=replicas, status=status
            )
        elif row.provided_by_id != provider.pk or row.desired_replicas != replicas:
            ServiceInstance.objects.filter(pk=row.pk).update(
                provided_by=provider, desired_replicas=replicas, status=status
            )


def replan(env: Environment):
    """The plan an existing overlay would get now, against its chain as it is."""
    return plan_on_chain(chain_of(env.parent), env.spec, name=env.name, environment_id=env.public_id)


def flag_outdated_overlays(base: Environment) -> list[Environment]:
    """After ``base`` changed, re-plan every live overlay below it and flag those whose plan moved.

    Overlays keep running what they were provisioned with; an update (or retry) adopts the new plan.
    """
    from environments.actions.lifecycle import _live_descendants

    flagged = []
    for overlay in reversed(_live_descendants(base)):  # parents before children
        if not overlay.difference_plan:
            continue
        fresh = replan(overlay).to_dict()
        outdated = _plan_digest(fresh) != _plan_digest(overlay.difference_plan)
        if outdated != overlay.plan_outdated:
            Environment.objects.filter(pk=overlay.pk).update(plan_outdated=outdated)
            overlay.plan_outdated = outdated
        if outdated:
            flagged.append(overlay)
    return flagged


def _plan_digest(plan: dict) -> tuple:
    return (
        tuple(plan["local"]),
        tuple(sorted(plan["inherited"].items())),
        tuple((s["name"], s["status"]) for s in plan["services"]),
        spec_hash(plan["effective_spec"]),
    )


def plan_isolated(*, source: str):
    """The plan of a stand-alone environment: every service is added, nothing inherited."""
    from environments.planner import Layer
    from environments.planner import plan_overlay as plan

    result = validate_blueprint(source or "")
    if not result.valid:
        raise InvalidBlueprint(result.problems)
    spec = result.normalized
    empty = {**spec, "services": []}
    root = Layer(environment_id="(nothing)", name="(nothing)", mode=EnvironmentMode.BASELINE, spec=empty)
    layer = Layer(
        environment_id="(new environment)",
        name=spec["name"],
        mode=EnvironmentMode.OVERLAY,
        spec=spec,
        state=EnvironmentState.PENDING,
        header_name=spec["routing"]["headerName"],
        routing_key=spec["name"],
    )
    return plan([root], layer)


def _effective_services(chain: list[Environment]) -> set[str]:
    from environments.planner import effective_spec

    effective, _ = effective_spec([_layer(env) for env in chain])
    return {s["name"] for s in effective["services"]}


def create_overlay(
    *, actor, base: Environment, source: str, name: str | None = None, ttl: str | None = None
) -> Environment:
    """Record an overlay of ``base`` that runs only what it changes, and enqueue its provisioning."""
    _require_use(actor, base)
    public_id = new_public_id("env")
    spec, plan = plan_overlay(actor=actor, base=base, source=source, name=name, environment_id=public_id)
    # Providers that are stopped are resumed below (as the actor, who may use them: same team); the
    # overlay's provisioning waits for every provider not yet running (Provisioner.wait_until_running).
    asleep = [env for env in chain_of(base) if env.state in WAKEABLE]
    if plan.conflicts:
        raise OverlayConflict(plan.conflicts)
    overlay_name = (name or spec["name"]).strip().lower()
    if not re.match(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$", overlay_name):
        raise InvalidInput("name must be 1-40 lowercase letters, digits or hyphens", field="name")
    local = set(plan.local)
    cpu = plan.saving["overlay"]["cpu_millicores"]
    memory = plan.saving["overlay"]["memory_mib"]
    expires_at = policies.expiry(base.team, EnvironmentMode.OVERLAY, ttl or spec.get("ttl"))
    running = [s for s in plan.effective_spec["services"] if s["name"] in local]
    idle_delay = (
        spec["autoShutdownDelayMinutes"] if _declares_idle_delay(source) else policies.default_idle_delay(base.team)
    )
    policies.check_idle_delay(base.team, idle_delay, field="yaml")
    env = Environment(
        public_id=public_id,
        team=base.team,
        name=overlay_name,
        mode=EnvironmentMode.OVERLAY,
        parent=base,
        source=source,
        spec=spec,
        spec_hash=spec_hash(spec),
        cluster=base.cluster,
        namespace=f"env-{overlay_name}-{public_id[-6:]}",
        routing_key=spec["routing"].get("overlayId") or overlay_name,
        expires_at=expires_at,
        auto_shutdown_enabled=spec["autoShutdownEnabled"],
        auto_shutdown_delay_minutes=idle_delay,
        difference_plan=plan.to_dict(),
        requested_cpu_millicores=cpu,
        requested_memory_mib=memory,
        requested_storage_mib=cost.storage_mib(running),
        created_by=actor,
    )
    env.set_generated_secrets(_generate_secrets(plan.effective_spec, {}))
    try:
        with transaction.atomic():
            # NO KEY, as in create_environment: foreign-key checks of other writers must not wait on it.
            type(base.team).objects.select_for_update(no_key=True).filter(pk=base.team.pk).first()
            from environments.actions.lifecycle import _check_quota

            _check_quota(base.team, cpu, memory)
            env.save()
            sync_overlay_rows(env, plan)
            woken = _wake_providers(actor, asleep, overlay=env)
            params = {"waits_for": [p.public_id for p in asleep]} if asleep else {}
            operation = _new_operation(env, OperationKind.CREATE, actor, **params)
            audit_environment(
                env,
                "environment.overlay.create",
                actor=actor,
                after={
                    **environment_snapshot(env),
                    "base": base.public_id,
                    "local": sorted(local),
                    **({"woke": woken} if woken else {}),
                },
            )
            _enqueue(operation)
    except IntegrityError:
        raise Conflict(
            f"team '{base.team.slug}' already has a live environment named '{overlay_name}'", field="name"
        ) from None
    return env


def _wake_providers(actor, asleep: list[Environment], *, overlay: Environment) -> list[str]:
    """Resume the stopped providers of a new overlay, root first; their resume Operations are
    enqueued before the overlay's own. Returns the ids of those this call resumed (one resuming
    already, or resumed meanwhile by someone else, is only waited for)."""
    from environments.actions.lifecycle import resume_environment

    woken = []
    for provider in asleep:
        if provider.state != EnvironmentState.STOPPED:
            continue
        try:
            resume_environment(actor=actor, env=provider, woken_for=f"overlay {overlay.public_id}")
        except Conflict:
            provider.refresh_from_db(fields=["state"])
            if provider.state not in (EnvironmentState.RESUMING, EnvironmentState.READY):
                raise Conflict(
                    f"the provider {provider.name} ({provider.public_id}) is {provider.state}; it could not be "
                    "resumed for the overlay",
                    field="base",
                    code="OVERLAY_CONFLICT",
                ) from None
        else:
            woken.append(provider.public_id)
    return woken
