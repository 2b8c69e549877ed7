from __future__ import annotations

from django.db import models


class ClusterKind(models.TextChoices):
    K3S = "k3s", "k3s"
    GKE = "gke", "Google Kubernetes Engine"
    EKS = "eks", "Amazon EKS"
    AKS = "aks", "Azure AKS"
    GENERIC = "generic", "Conformant Kubernetes"
    SANDBOX = "sandbox", "Sandbox (simulated by kubesim)"


class RoutingProvider(models.TextChoices):
    TRAEFIK = "traefik", "Traefik (k3s default)"
    NGINX = "nginx", "NGINX ingress"
    GATEWAY_API = "gateway-api", "Gateway API HTTPRoute"


class ClusterHealth(models.TextChoices):
    UNKNOWN = "unknown", "Not checked yet"
    HEALTHY = "healthy", "Healthy"
    UNREACHABLE = "unreachable", "Unreachable"


class EnvironmentMode(models.TextChoices):
    ISOLATED = "isolated", "Isolated"
    BASELINE = "baseline", "Baseline"
    OVERLAY = "overlay", "Overlay"


class EnvironmentState(models.TextChoices):
    """DESIGN.md §2. ``running`` and ``error`` are accepted from clients as aliases."""

    PENDING = "pending", "Pending"
    PROVISIONING = "provisioning", "Provisioning"
    READY = "ready", "Ready"
    DEGRADED = "degraded", "Degraded"
    FAILED = "failed", "Failed"
    STOPPING = "stopping", "Stopping"
    STOPPED = "stopped", "Stopped"
    RESUMING = "resuming", "Resuming"
    DELETING = "deleting", "Deleting"
    DELETED = "deleted", "Deleted"


STATE_ALIASES = {"running": EnvironmentState.READY, "error": EnvironmentState.FAILED}

# Which state may follow which: every state change goes through this table.
TRANSITIONS: dict[str, frozenset[str]] = {
    EnvironmentState.PENDING: frozenset(
        {EnvironmentState.PROVISIONING, EnvironmentState.FAILED, EnvironmentState.DELETING}
    ),
    EnvironmentState.PROVISIONING: frozenset(
        {EnvironmentState.READY, EnvironmentState.DEGRADED, EnvironmentState.FAILED, EnvironmentState.DELETING}
    ),
    EnvironmentState.READY: frozenset(
        {EnvironmentState.PROVISIONING, EnvironmentState.DEGRADED, EnvironmentState.STOPPING, EnvironmentState.DELETING}
    ),
    EnvironmentState.DEGRADED: frozenset(
        {
            EnvironmentState.PROVISIONING,
            EnvironmentState.READY,
            EnvironmentState.FAILED,
            EnvironmentState.STOPPING,
            EnvironmentState.DELETING,
        }
    ),
    EnvironmentState.FAILED: frozenset({EnvironmentState.PROVISIONING, EnvironmentState.DELETING}),
    EnvironmentState.STOPPING: frozenset(
        {EnvironmentState.STOPPED, EnvironmentState.FAILED, EnvironmentState.DELETING}
    ),
    EnvironmentState.STOPPED: frozenset({EnvironmentState.RESUMING, EnvironmentState.DELETING}),
    EnvironmentState.RESUMING: frozenset(
        {EnvironmentState.READY, EnvironmentState.DEGRADED, EnvironmentState.FAILED, EnvironmentState.DELETING}
    ),
    EnvironmentState.DELETING: frozenset({EnvironmentState.DELETED}),
    EnvironmentState.DELETED: frozenset(),
}

LIVE_STATES = frozenset(set(EnvironmentState.values) - {EnvironmentState.DELETED})


class ServiceStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    STARTING = "starting", "Starting"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"
    INHERITED = "inherited", "Inherited from its provider"


class OperationKind(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    STOP = "stop", "Stop"
    RESUME = "resume", "Resume"
    RETRY = "retry", "Retry"
    SCALE = "scale", "Scale"
    DELETE = "delete", "Delete"
    RECONCILE = "reconcile", "Reconcile"
    SNAPSHOT = "snapshot", "Snapshot"
    RESTORE = "restore", "Restore"


class OperationState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SUPERSEDED = "superseded", "Superseded"


class StepOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "OK"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class DriftPolicy(models.TextChoices):
    """What the fleet sweep does when an environment's live objects differ from what it rendered."""

    RECORD = "record", "Record it on the environment"
    REAPPLY = "reapply", "Record it and re-apply the desired objects"


# States in which an environment's workloads run and cost compute (the rest cost storage only).
RUNNING_STATES = frozenset(
    {
        EnvironmentState.PROVISIONING,
        EnvironmentState.READY,
        EnvironmentState.DEGRADED,
        EnvironmentState.RESUMING,
        EnvironmentState.STOPPING,
    }
)
