"""Clusters, environments, their services and the operations performed on them."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone

from environments.choices import (
    RUNNING_STATES,
    TRANSITIONS,
    ClusterHealth,
    ClusterKind,
    DriftPolicy,
    EnvironmentMode,
    EnvironmentState,
    OperationKind,
    OperationState,
    RoutingProvider,
    ServiceStatus,
    StepOutcome,
)
from environments.tracing import new_trace_id
from microstax.lib.crypto import decrypt_json, encrypt_json
from microstax.lib.ids import PublicIdModel


class Cluster(PublicIdModel):
    """A Kubernetes cluster environments run on.

    Credentials (kubeconfig content and context, or the in-cluster service account) are encrypted
    at rest and never leave the server: no API type, log line or audit event carries them.
    """

    PUBLIC_ID_PREFIX = "cl"

    name = models.SlugField(max_length=63, unique=True)
    kind = models.CharField(max_length=20, choices=ClusterKind.choices, default=ClusterKind.K3S)
    api_url = models.URLField(max_length=300, blank=True)
    credentials_encrypted = models.TextField(blank=True, editable=False)
    in_cluster = models.BooleanField(default=False, help_text="Use the pod's service account")
    ingress_domain = models.CharField(max_length=200, blank=True, help_text="Base domain of environment hosts")
    routing_provider = models.CharField(max_length=20, choices=RoutingProvider.choices, default=RoutingProvider.TRAEFIK)
    storage_class = models.CharField(max_length=100, blank=True, help_text="Empty: the cluster's default")
    is_default = models.BooleanField(default=False)
    server_version = models.CharField(max_length=50, blank=True)
    health = models.CharField(max_length=20, choices=ClusterHealth.choices, default=ClusterHealth.UNKNOWN)
    health_detail = models.CharField(max_length=300, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_cluster"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_simulated(self) -> bool:
        return self.kind == ClusterKind.SANDBOX

    def set_credentials(self, *, kubeconfig: str = "", context: str = "") -> None:
        self.credentials_encrypted = encrypt_json({"kubeconfig": kubeconfig, "context": context})

    def credentials(self) -> dict:
        if not self.credentials_encrypted:
            return {"kubeconfig": "", "context": ""}
        return decrypt_json(self.credentials_encrypted)


class EnvironmentQuerySet(models.QuerySet):
    def live(self) -> EnvironmentQuerySet:
        return self.exclude(state=EnvironmentState.DELETED)


class Environment(PublicIdModel):
    """One environment: a namespace on a cluster running (part of) a blueprint.

    ``spec`` is the normalized blueprint the environment runs (the unit every diff compares);
    ``blueprint_version`` records where it came from when it came from a published version. The
    record is kept after deletion as history (state ``deleted``).
    """

    PUBLIC_ID_PREFIX = "env"

    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="environments")
    name = models.CharField(max_length=40)
    mode = models.CharField(max_length=20, choices=EnvironmentMode.choices, default=EnvironmentMode.ISOLATED)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    blueprint_version = models.ForeignKey(
        "blueprints.BlueprintVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="environments"
    )
    source = models.TextField(help_text="The blueprint YAML this environment was created or last updated from")
    files = models.JSONField(
        default=dict, blank=True, help_text="Files the blueprint references (seed scripts, OpenAPI documents), by path"
    )
    spec = models.JSONField(help_text="The normalized blueprint (plan applied)")
    spec_hash = models.CharField(max_length=64)
    plan_name = models.CharField(max_length=63, blank=True)
    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="environments")
    namespace = models.CharField(max_length=63, unique=True)
    state = models.CharField(
        max_length=20, choices=EnvironmentState.choices, default=EnvironmentState.PENDING, db_index=True
    )
    state_reason = models.CharField(max_length=500, blank=True)
    state_changed_at = models.DateTimeField(default=timezone.now)
    routing_key = models.CharField(max_length=63, blank=True, help_text="overlayId: the header value routing here")
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    auto_shutdown_enabled = models.BooleanField(default=True)
    auto_shutdown_delay_minutes = models.PositiveIntegerField(default=30)
    last_activity_at = models.DateTimeField(default=timezone.now)
    idle_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="When idle shutdown is due: last activity + delay, if enabled"
    )
    running_seconds = models.FloatField(default=0, help_text="Time spent in running states before the current one")
    stopped_seconds = models.FloatField(default=0, help_text="Time spent stopped or failed before the current state")
    drift = models.JSONField(
        null=True, blank=True, help_text="Objects that differed from the desired ones at the last check"
    )
    drift_checked_at = models.DateTimeField(null=True, blank=True)
    difference_plan = models.JSONField(null=True, blank=True, help_text="The resolved difference graph")
    plan_outdated = models.BooleanField(default=False, help_text="A provider changed since this overlay was planned")
    requested_cpu_millicores = models.PositiveIntegerField(default=0, help_text="Sum of CPU requests, for quotas")
    requested_memory_mib = models.PositiveIntegerField(default=0, help_text="Sum of memory requests, for quotas")
    requested_storage_mib = models.PositiveIntegerField(
        default=0, help_text="Sum of the volume claims it runs itself, for cost estimates"
    )
    secrets_encrypted = models.TextField(blank=True, editable=False, help_text="Generated secret values")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = EnvironmentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "name"],
                condition=~models.Q(state="deleted"),
                name="unique_live_environment_name_per_team",
            ),
        ]
        indexes = [models.Index(fields=["team", "state"], name="env_team_state")]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        if update_fields is None or {"auto_shutdown_enabled", "auto_shutdown_delay_minutes", "last_activity_at"} & set(
            update_fields
        ):
            self.idle_at = self.idle_deadline()
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "idle_at"}
        super().save(*args, **kwargs)

    def idle_deadline(self, last_activity_at=None):
        """When idle shutdown is due after activity at ``last_activity_at`` (None: never)."""
        if not self.auto_shutdown_enabled:
            return None
        return (last_activity_at or self.last_activity_at) + timedelta(minutes=self.auto_shutdown_delay_minutes)

    @property
    def is_live(self) -> bool:
        return self.state != EnvironmentState.DELETED

    def can_transition(self, to: str) -> bool:
        return to in TRANSITIONS[self.state]

    def transition(self, to: str, *, reason: str = "", expected: str | None = None) -> bool:
        """Move to ``to`` if allowed from the current state, as a conditional UPDATE.

        Two workers racing for the same change cannot both win: the row is locked and the UPDATE
        only matches while it is still in a state from which ``to`` is allowed (or exactly
        ``expected``).
        """
        allowed_from = [s for s, nexts in TRANSITIONS.items() if to in nexts]
        if expected is not None:
            allowed_from = [expected] if expected in allowed_from else []
        with transaction.atomic():
            # The time spent in the state being left goes to its cost bucket (running or stopped),
            # measured from the row as it is now, not from this possibly stale object.
            current = (
                Environment.objects.select_for_update()
                .filter(pk=self.pk, state__in=allowed_from)
                .values_list("state", "state_changed_at")
                .first()
            )
            if current is None:
                return False
            now = timezone.now()
            elapsed = max(0.0, (now - current[1]).total_seconds())
            bucket = "running_seconds" if current[0] in RUNNING_STATES else "stopped_seconds"
            changed = Environment.objects.filter(pk=self.pk, state=current[0]).update(
                state=to,
                state_reason=reason[:500],
                state_changed_at=now,
                deleted_at=now if to == EnvironmentState.DELETED else None,
                **{bucket: F(bucket) + elapsed},
            )
        if changed:
            self.state, self.state_reason, self.state_changed_at = to, reason[:500], now
            setattr(self, bucket, getattr(self, bucket) + elapsed)
        return bool(changed)

    def generated_secrets(self) -> dict[str, str]:
        return decrypt_json(self.secrets_encrypted) if self.secrets_encrypted else {}

    def set_generated_secrets(self, values: dict[str, str]) -> None:
        self.secrets_encrypted = encrypt_json(values)


class ServiceInstance(models.Model):
    """One service of an environment: who provides it, how many replicas are up, why not."""

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="services")
    name = models.CharField(max_length=63)
    provided_by = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="provided_services")
    desired_replicas = models.PositiveIntegerField(default=1)
    ready_replicas = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=20, choices=ServiceStatus.choices, default=ServiceStatus.PENDING)
    reason = models.CharField(max_length=500, blank=True)
    endpoints = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["environment", "name"]
        constraints = [models.UniqueConstraint(fields=["environment", "name"], name="unique_service_per_env")]

    def __str__(self) -> str:
        return f"{self.environment.name}/{self.name}"


class Operation(PublicIdModel):
    """One requested action on an environment and its progress; its steps are the provisioning trace."""

    PUBLIC_ID_PREFIX = "op"

    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="operations")
    kind = models.CharField(max_length=20, choices=OperationKind.choices)
    state = models.CharField(
        max_length=20, choices=OperationState.choices, default=OperationState.QUEUED, db_index=True
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    params = models.JSONField(default=dict, blank=True)
    request_context = models.JSONField(default=dict, blank=True, help_text="Request id etc. for the task's audit")
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    claimed_by = models.CharField(max_length=100, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    trace_id = models.CharField(max_length=32, default=new_trace_id, help_text="OpenTelemetry trace id")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.environment.public_id} ({self.state})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()


class OperationStep(models.Model):
    """A step of an operation: a span of the provisioning trace."""

    operation = models.ForeignKey(Operation, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    outcome = models.CharField(max_length=20, choices=StepOutcome.choices, default=StepOutcome.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["operation", "position"]
        constraints = [models.UniqueConstraint(fields=["operation", "position"], name="unique_step_position")]

    def __str__(self) -> str:
        return f"{self.position}. {self.name} ({self.outcome})"


class TeamPolicy(models.Model):
    """A team's limits and defaults for environments. Teams without a row get the defaults."""

    team = models.OneToOneField("teams.Team", on_delete=models.CASCADE, related_name="environment_policy")
    max_environments = models.PositiveIntegerField(default=10, help_text="Live environments at once")
    max_cpu_millicores = models.PositiveIntegerField(default=16000, help_text="Sum of CPU requests, millicores")
    max_memory_mib = models.PositiveIntegerField(default=32768, help_text="Sum of memory requests, MiB")
    default_ttl_hours = models.PositiveIntegerField(null=True, blank=True, help_text="TTL when none is given")
    max_pods_per_environment = models.PositiveIntegerField(default=100, help_text="ResourceQuota pods per namespace")
    overlay_ttl_hours = models.PositiveIntegerField(default=24, help_text="TTL of overlays when none is given")
    baseline_ttl_hours = models.PositiveIntegerField(null=True, blank=True, help_text="Baseline TTL by default")
    max_ttl_hours_isolated = models.PositiveIntegerField(default=90 * 24, help_text="Longest isolated TTL")
    max_ttl_hours_baseline = models.PositiveIntegerField(default=90 * 24, help_text="Longest TTL of baselines")
    max_ttl_hours_overlay = models.PositiveIntegerField(default=7 * 24, help_text="Longest TTL of overlays")
    idle_delay_minutes = models.PositiveIntegerField(default=30, help_text="Idle shutdown delay when none is given")
    snapshot_retention_days = models.PositiveIntegerField(default=14, help_text="Snapshot lifetime")
    drift_policy = models.CharField(max_length=20, choices=DriftPolicy.choices, default=DriftPolicy.RECORD)

    def __str__(self) -> str:
        return f"policy of {self.team}"

    @classmethod
    def for_team(cls, team) -> TeamPolicy:
        return cls.objects.filter(team=team).first() or cls(team=team)

    def namespace_quota(self) -> dict:
        """What one environment's namespace may use at most: the ResourceQuota the renderer writes."""
        return {
            "requests_cpu": f"{self.max_cpu_millicores}m",
            "requests_memory": f"{self.max_memory_mib}Mi",
            "pods": self.max_pods_per_environment,
        }
