"""Carrying out an Operation on the cluster: the provisioning task's body.

The task takes an operation id, claims it with a conditional UPDATE (so two workers never run it
together, and a crashed worker's operation is taken over once its heartbeat is stale), restores
the request context of whoever asked (audit attribution), and runs the steps. Every step is
idempotent — server-side apply skips unchanged objects — so running an operation again converges
instead of duplicating anything.
"""

from __future__ import annotations

import copy
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit import context as audit_context
from environments import events, tracing
from environments.actions.clusters import cluster_config
from environments.actions.lifecycle import audit_environment
from environments.choices import (
    EnvironmentMode,
    EnvironmentState,
    OperationKind,
    OperationState,
    ServiceStatus,
    StepOutcome,
)
from environments.models import Environment, Operation, OperationStep, ServiceInstance, TeamPolicy
from environments.render import (
    ProviderRef,
    QuotaPolicy,
    RenderContext,
    RenderError,
    render_environment,
    render_overlay,
    render_routing,
)
from environments.render.model import RenderedEnvironment, Wave
from microstax import kube

log = logging.getLogger(__name__)

WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
WAVE_TIMEOUT = 300.0
# Waiting for an environment woken for an operation (resume takes about one wave).
WAKE_TIMEOUT = WAVE_TIMEOUT
WAKE_POLL_SECONDS = 1.0
UP_STATES = frozenset({EnvironmentState.READY, EnvironmentState.DEGRADED})
# On its way up: an operation may wait for these.
WAKING_STATES = frozenset({EnvironmentState.PENDING, EnvironmentState.PROVISIONING, EnvironmentState.RESUMING})
_sleep = time.sleep  # tests replace it
SKIPPED = "skipped: not queued, or running elsewhere"
NAMESPACE_DELETE_TIMEOUT = 300.0


class OperationFailed(Exception):
    """A step could not complete; ``reason`` is shown on the environment and the operation."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def stale_before(now: timezone.datetime | None = None) -> timezone.datetime:
    """Heartbeats older than this belong to a worker that is gone: no task outlives its timeout."""
    return (now or timezone.now()) - timedelta(seconds=settings.Q_CLUSTER["timeout"] + 30)


def claim(operation_id: int) -> Operation | None:
    """Take the operation if it is queued, or running under a worker that stopped heart-beating."""
    now = timezone.now()
    claimed = (
        Operation.objects.filter(pk=operation_id)
        .filter(Q(state=OperationState.QUEUED) | Q(state=OperationState.RUNNING, heartbeat_at__lt=stale_before()))
        .update(
            state=OperationState.RUNNING,
            claimed_by=WORKER_ID,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            started_at=Coalesce(F("started_at"), now),
        )
    )
    if not claimed:
        return None
    return Operation.objects.select_related("environment__cluster", "environment__team", "actor").get(pk=operation_id)


def run_operation(operation_id: int) -> str:
    operation = claim(operation_id)
    if operation is None:
        return SKIPPED
    context = operation.request_context or {"request_id": audit_context.new_request_id()}
    with audit_context.bound(context):
        return Provisioner(operation).run()


class Provisioner:
    def __init__(self, operation: Operation) -> None:
        self.operation = operation
        self.env: Environment = operation.environment
        self.cluster = cluster_config(self.env.cluster)
        self._position = operation.steps.count()

    @classmethod
    def for_environment(
        cls, env: Environment, cluster: kube.ClusterConfig | None = None, policy: TeamPolicy | None = None
    ) -> Provisioner:
        """A provisioner that only renders the desired objects (drift checks): no operation, no steps."""
        self = cls.__new__(cls)
        self.operation, self.env, self._position = None, env, 0  # type: ignore[assignment]
        self.cluster = cluster or cluster_config(env.cluster)
        self._policy = policy
        return self

    # -- bookkeeping ----------------------------------------------------------------------------

    @contextmanager
    def step(self, name: str) -> Iterator[dict]:
        """One span of the trace. Its details dict is filled by the block."""
        self._position += 1
        step = OperationStep.objects.create(operation=self.operation, position=self._position, name=name)
        Operation.objects.filter(pk=self.operation.pk).update(heartbeat_at=timezone.now())
        events.publish(self.env.public_id, "step.started", step=name)
        details: dict = {}
        try:
            yield details
        except Exception as exc:
            step.outcome, step.details = StepOutcome.FAILED, {**details, "error": _reason(exc)}
            raise
        else:
            step.outcome, step.details = StepOutcome.OK, details
        finally:
            step.finished_at = timezone.now()
            step.save(update_fields=["outcome", "details", "finished_at"])
            events.publish(self.env.public_id, "step.finished", step=name, outcome=step.outcome)

    def wait_until_running(self, envs: list[Environment], *, needed_by: str, timeout: float) -> None:
        """Wait, bounded, for environments on their way up (woken for this operation) to be ready.

        A capture in a stopped environment and an overlay on a stopped base resume it first; their
        own operations then wait here rather than fail. An environment that is neither up nor coming
        up (stopped again, failed, deleting) fails the wait at once, as does the deadline; the
        heartbeat is kept, so the wait is not taken for a dead worker.
        """
        pending = [env for env in envs if env.state not in UP_STATES]
        if not pending:
            return
        names = ", ".join(env.public_id for env in pending)
        with self.step(f"wait for {names} to be ready") as details:
            started = time.monotonic()
            while True:
                states = dict(
                    Environment.objects.filter(pk__in=[env.pk for env in pending]).values_list("public_id", "state")
                )
                waiting = {pid: state for pid, state in states.items() if state not in UP_STATES}
                details.update(seconds=round(time.monotonic() - started, 3), states=states)
                if not waiting:
                    return
                hopeless = {pid: state for pid, state in waiting.items() if state not in WAKING_STATES}
                if hopeless:
                    said = ", ".join(f"{pid} is {state}" for pid, state in sorted(hopeless.items()))
                    raise OperationFailed(f"{said}, not ready; {needed_by} needs it running")
                if time.monotonic() - started >= timeout:
                    said = ", ".join(f"{pid} is still {state}" for pid, state in sorted(waiting.items()))
                    raise OperationFailed(f"{said} after {int(timeout)} s; {needed_by} needs it running")
                # A resume no worker has claimed yet is run here (the claim is a conditional update, so
                # never twice): with one worker, or this one, the two operations cannot wait on each other.
                queued = Operation.objects.filter(
                    environment__public_id__in=list(waiting), kind=OperationKind.RESUME, state=OperationState.QUEUED
                ).values_list("pk", flat=True)
                ran = False
                for operation_id in list(queued):
                    ran = run_operation(operation_id) != SKIPPED or ran
                if not ran:
                    Operation.objects.filter(pk=self.operation.pk).update(heartbeat_at=timezone.now())
                    _sleep(WAKE_POLL_SECONDS)

    def _set_state(self, to: str, reason: str = "") -> None:
        if self.env.transition(to, reason=reason):
            events.publish(self.env.public_id, "state", state=to, reason=reason)

    # -- entry ----------------------------------------------------------------------------------

    def run(self) -> str:
        kind = self.operation.kind
        if kind in (OperationKind.SNAPSHOT, OperationKind.RESTORE):
            from snapshots import runner  # capture/restore Jobs: they never change the environment's state

            return runner.run(self)
        try:
            if kind == OperationKind.DELETE:
                self.delete()
            elif kind == OperationKind.STOP:
                self.converge(stopped=True)
            else:
                if self.env.state in (EnvironmentState.PENDING, EnvironmentState.FAILED):
                    self._set_state(EnvironmentState.PROVISIONING)
                self.converge(stopped=False)
        except (OperationFailed, kube.KubeError) as exc:
            self.fail(_reason(exc))
            return f"failed: {_reason(exc)}"
        self.finish(OperationState.SUCCEEDED)
        if self.env.mode == EnvironmentMode.OVERLAY and kind in (
            OperationKind.CREATE,
            OperationKind.UPDATE,
            OperationKind.RETRY,
            OperationKind.DELETE,
        ):
            self.reroute_baseline()
        return "succeeded"

    def reroute_baseline(self) -> None:
        """Let the chain's baseline add or drop the routers that send this overlay's key to it."""
        from environments.actions import reconcile_environment
        from environments.actions.lifecycle import SYSTEM
        from environments.actions.sparse import chain_of

        root = chain_of(self.env)[0]
        root.refresh_from_db()
        if root.mode == EnvironmentMode.BASELINE and root.state in (EnvironmentState.READY, EnvironmentState.DEGRADED):
            reconcile_environment(actor=SYSTEM, env=root)

    def finish(self, state: str, error: str = "") -> None:
        now = timezone.now()
        Operation.objects.filter(pk=self.operation.pk).update(
            state=state, error=error[:2000], finished_at=now, heartbeat_at=now
        )
        self.operation.state, self.operation.error, self.operation.finished_at = state, error[:2000], now
        # After commit: the spans must describe what was stored, and a slow collector must not hold locks.
        transaction.on_commit(lambda: tracing.export(self.operation))

    def fail(self, reason: str) -> None:
        log.info("operation %s failed: %s", self.operation.public_id, reason)
        with transaction.atomic():
            self.finish(OperationState.FAILED, reason)
            if getattr(self, "provisioning_restore", None) is not None:
                from snapshots.actions import restore_failed

                restore_failed(self.provisioning_restore, reason)
            if self.operation.kind == OperationKind.DELETE:
                # Stays `deleting` with the reason; deleting it again retries (see delete_environment).
                Environment.objects.filter(pk=self.env.pk).update(state_reason=reason[:500])
            else:
                any_ready = self.env.services.filter(status=ServiceStatus.READY).exists()
                to = EnvironmentState.DEGRADED if any_ready else EnvironmentState.FAILED
                if not self.env.transition(to, reason=reason):
                    self.env.transition(EnvironmentState.FAILED, reason=reason)
            audit_environment(
                self.env,
                f"environment.{self.operation.kind}.failed",
                actor=self.operation.actor,
                outcome="failure",
                reason=reason[:2000],
            )
        events.publish(self.env.public_id, "state", state=self.env.state, reason=reason)

    # -- converge: create, update, scale, resume, retry, stop ------------------------------------

    def render(self, *, stopped: bool):
        if self.env.mode == EnvironmentMode.OVERLAY:
            return self.render_overlay(stopped=stopped)
        spec = copy.deepcopy(self.env.spec)
        if stopped:
            for service in spec["services"]:
                service["replicas"] = 0
        context = self.context(stopped=stopped)
        rendered = render_environment(spec, context)
        if self.env.mode == EnvironmentMode.BASELINE:
            routes = self.baseline_routes(spec)
            if routes:
                rendered = _with_routing(
                    rendered, render_routing(spec, context, routes, header_name=spec["routing"]["headerName"])
                )
        return rendered

    def baseline_routes(self, spec: dict) -> dict[str, dict[str, ProviderRef]]:
        """For each baseline service some live overlay runs itself: routing key → nearest provider."""
        from environments.actions.lifecycle import _live_descendants

        overlays = [
            o
            for o in _live_descendants(self.env)
            if o.difference_plan and o.state not in (EnvironmentState.DELETING, EnvironmentState.DELETED)
        ]
        by_id = {o.public_id: o for o in overlays}
        baseline_services = {s["name"] for s in spec["services"] if not s.get("removed")}
        routes: dict[str, dict[str, ProviderRef]] = {}
        for overlay in overlays:
            plan = overlay.difference_plan
            providers = {name: overlay for name in plan["local"]}
            providers.update({name: by_id[pid] for name, pid in plan["inherited"].items() if pid in by_id})
            for name, provider in providers.items():
                if name in baseline_services:
                    routes.setdefault(name, {})[overlay.routing_key] = ProviderRef(
                        environment_id=provider.public_id,
                        namespace=provider.namespace,
                        routing_key=provider.routing_key or None,
                    )
        return routes

    def context(self, *, stopped: bool = False) -> RenderContext:
        """The render context; a stopped environment's routes go to the wake page."""
        from environments.wake import wake_target

        cluster = self.env.cluster
        return RenderContext(
            environment_id=self.env.public_id,
            environment_slug=self.env.name,
            namespace=self.env.namespace,
            team_slug=self.env.team.slug,
            ingress_domain=cluster.ingress_domain,
            routing_provider=cluster.routing_provider,
            storage_class=cluster.storage_class,
            secret_values=self.env.generated_secrets(),
            quota=QuotaPolicy(**self.policy().namespace_quota()),
            files=self.files(),
            wake=wake_target(self.env) if stopped else None,
            snapshot_restore=getattr(self, "snapshot_transfer", None),
        )

    def policy(self) -> TeamPolicy:
        # A drift check hands in its batch's policies (read in one query); a provisioning run reads it.
        return getattr(self, "_policy", None) or TeamPolicy.for_team(self.env.team)

    def files(self) -> dict[str, str]:
        """Referenced files: an overlay also sees its providers' (a promoted service's seed script)."""
        from environments.actions.sparse import chain_of

        files: dict[str, str] = {}
        for env in chain_of(self.env):
            files.update(env.files or {})
        return files

    def render_overlay(self, *, stopped: bool):
        """Only the overlay's local services, plus bridges to the providers of everything else."""
        plan = self.env.difference_plan
        spec = copy.deepcopy(plan["effective_spec"])
        if stopped:
            for service in spec["services"]:
                service["replicas"] = 0
        providers = {e.public_id: e for e in Environment.objects.filter(public_id__in=set(plan["inherited"].values()))}
        inherited = {
            name: ProviderRef(
                environment_id=provider_id,
                namespace=providers[provider_id].namespace,
                routing_key=providers[provider_id].routing_key or None,
            )
            for name, provider_id in plan["inherited"].items()
        }
        from environments.actions.sparse import chain_of

        root = chain_of(self.env)[0]
        return render_overlay(
            spec,
            self.context(stopped=stopped),
            local=plan["local"],
            inherited=inherited,
            baseline_namespace=root.namespace,
        )

    def converge(self, *, stopped: bool) -> None:
        waits_for = self.operation.params.get("waits_for") if not stopped else None
        if waits_for:
            # An overlay created on stopped providers: they were resumed with it; wait until they run.
            providers = list(Environment.objects.filter(public_id__in=waits_for).order_by("pk"))
            self.wait_until_running(providers, needed_by=f"the overlay {self.env.public_id}", timeout=WAKE_TIMEOUT)
        with self.step("namespace") as details:
            # Read only: the foundation wave applies the Namespace itself (one write, not two).
            live = kube.get_namespace(self.cluster, self.env.namespace)
            details.update(namespace=self.env.namespace, existed=live is not None)
            if live is not None and (live.get("metadata") or {}).get("deletionTimestamp"):
                raise OperationFailed(f"namespace {self.env.namespace} is still terminating; retry once it is gone")
        if not stopped and self.operation.kind in (OperationKind.CREATE, OperationKind.RETRY):
            from snapshots.runner import needs_provisioning_restore, prepare_provisioning_restore

            if needs_provisioning_restore(self.env):
                # A blueprint `snapshot:` section or a replay: its restore Job joins the seed wave.
                self.snapshot_transfer = prepare_provisioning_restore(self)
        with self.step("render") as details:
            try:
                rendered = self.render(stopped=stopped)
            except RenderError as exc:
                raise OperationFailed(f"the blueprint cannot be rendered for this cluster: {exc}") from None
            details.update(objects=len(rendered.objects), waves=[w.name for w in rendered.waves])
            if rendered.warnings:
                details["warnings"] = rendered.warnings
        owners = _owners(rendered)
        for wave in rendered.waves:
            with self.step(f"apply {wave.name}") as details:
                report = kube.apply(
                    self.cluster,
                    wave.objects,
                    environment_id=self.env.public_id,
                    team_slug=self.env.team.slug,
                    # a drift repair rewrites objects whose hash still matches (a hand-made kubectl edit)
                    skip_unchanged=not self.operation.params.get("reapply"),
                )
                details.update(
                    created=len(report.created), updated=len(report.updated), unchanged=len(report.unchanged)
                )
                if wave.wait:
                    readiness = kube.wait_ready(self.cluster, report.objects, WAVE_TIMEOUT, fail_fast=True)
                    details["seconds"] = round(readiness.elapsed, 3)
                    self.record_services(readiness, owners, stopped=stopped)
                    if not readiness.ready:
                        raise OperationFailed(_not_ready(readiness, owners))
        provider_objects = getattr(rendered, "provider_objects", None) or {}
        if provider_objects:
            with self.step("admit in providers") as details:
                for namespace, objects in sorted(provider_objects.items()):
                    report = kube.apply(
                        self.cluster, objects, environment_id=self.env.public_id, team_slug=self.env.team.slug
                    )
                    details[namespace] = {
                        "created": len(report.created),
                        "updated": len(report.updated),
                        "unchanged": len(report.unchanged),
                    }
        with self.step("prune") as details:
            pruned = kube.prune(self.cluster, self.env.namespace, rendered.objects, environment_id=self.env.public_id)
            details["deleted"] = [str(ref) for ref in pruned.deleted]
        with self.step("endpoints") as details:
            for name, urls in rendered.endpoints.items():
                ServiceInstance.objects.filter(environment=self.env, name=name).update(endpoints=list(urls))
            details["endpoints"] = rendered.endpoints
        if getattr(self, "snapshot_transfer", None) is not None:
            from snapshots.runner import conclude_provisioning_restore

            conclude_provisioning_restore(self)
        self._set_state(EnvironmentState.STOPPED if stopped else EnvironmentState.READY)

    def record_services(self, readiness, owners: dict, *, stopped: bool) -> None:
        """Per-service status and reason from the readiness of the objects the service owns."""
        by_service: dict[str, list] = {}
        for item in readiness.objects:
            service = owners.get((item.ref.kind, item.ref.name))
            if service is not None:
                by_service.setdefault(service, []).append(item)
        now = timezone.now()
        # Inherited services keep their status: their bridge being ready says nothing about them.
        rows = ServiceInstance.objects.filter(environment=self.env, provided_by=self.env)
        settled: list[str] = []
        with transaction.atomic():  # one commit, and one UPDATE for all the settled services
            for service, items in by_service.items():
                failed = [i for i in items if i.state == kube.State.FAILED]
                pending = [i for i in items if i.state == kube.State.PENDING]
                if failed or pending:
                    worst = (failed or pending)[0]
                    status = ServiceStatus.FAILED if failed else ServiceStatus.STARTING
                    rows.filter(name=service).update(
                        status=status, reason=_object_reason(worst), ready_replicas=0, updated_at=now
                    )
                else:
                    settled.append(service)
            if settled and stopped:
                rows.filter(name__in=settled).update(
                    status=ServiceStatus.STOPPED, reason="", ready_replicas=0, updated_at=now
                )
            elif settled:
                rows.filter(name__in=settled).update(
                    status=ServiceStatus.READY, reason="", ready_replicas=F("desired_replicas"), updated_at=now
                )

    # -- delete ---------------------------------------------------------------------------------

    def delete(self) -> None:
        if self.env.mode == EnvironmentMode.OVERLAY and self.env.difference_plan:
            # What the overlay placed in its providers' namespaces does not go with its own namespace.
            namespaces = set(
                Environment.objects.filter(
                    public_id__in=set(self.env.difference_plan["inherited"].values())
                ).values_list("namespace", flat=True)
            )
            with self.step("withdraw from providers") as details:
                for namespace in sorted(namespaces):
                    pruned = kube.prune(self.cluster, namespace, [], environment_id=self.env.public_id)
                    details[namespace] = [str(ref) for ref in pruned.deleted]
        with self.step("delete namespace") as details:
            state = kube.delete_namespace(self.cluster, self.env.namespace)
            details["phase"] = state.phase
        with self.step("wait until the namespace is gone") as details:
            state = kube.wait_namespace_gone(self.cluster, self.env.namespace, NAMESPACE_DELETE_TIMEOUT)
            details["phase"] = state.phase
            if not state.gone:
                blocking = ", ".join(state.blocking) or "unknown"
                raise OperationFailed(f"namespace {self.env.namespace} is still {state.phase} (waiting on: {blocking})")
        self.env.services.update(status=ServiceStatus.STOPPED, ready_replicas=0, endpoints=[])
        self._set_state(EnvironmentState.DELETED)


def _with_routing(rendered: RenderedEnvironment, routing: RenderedEnvironment) -> RenderedEnvironment:
    """The baseline's objects with its routing: taken-over Services replace their plain versions,
    so each object is applied once, and the routing waves come after the baseline's own."""
    replaced = {(o["kind"], o["metadata"]["name"]) for o in routing.objects}
    waves = [
        Wave(w.name, [o for o in w.objects if (o["kind"], o["metadata"]["name"]) not in replaced], w.wait)
        for w in rendered.waves
    ]
    waves += routing.waves
    return RenderedEnvironment(
        objects=[o for w in waves for o in w.objects],
        waves=[w for w in waves if w.objects],
        endpoints=rendered.endpoints,
        services=rendered.services,
        warnings=[*rendered.warnings, *routing.warnings],
    )


def _owners(rendered) -> dict[tuple[str, str], str]:
    owners = {}
    for service, refs in rendered.services.items():
        for ref in refs:
            owners[(ref.kind, ref.name)] = service
    return owners


def _object_reason(item) -> str:
    text = str(item.reason)
    return f"{text}: {item.message}" if item.message else text


def _not_ready(readiness, owners: dict) -> str:
    problems = readiness.failed or readiness.pending
    parts = []
    for item in problems[:5]:
        service = owners.get((item.ref.kind, item.ref.name))
        where = f"service {service}" if service else str(item.ref)
        parts.append(f"{where}: {_object_reason(item)}")
    prefix = "timed out: " if readiness.timed_out else ""
    return prefix + "; ".join(parts)


def _reason(exc: Exception) -> str:
    return getattr(exc, "reason", None) if isinstance(exc, OperationFailed) else str(exc) or type(exc).__name__
