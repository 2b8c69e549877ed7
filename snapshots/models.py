"""Snapshots of a service's database, the sanitization policies applied to them, and their restores.

A Snapshot row exists from the moment one is requested; its artifact reaches storage only through
the capture Job's authenticated upload, and the row says where it is (``storage_key``), what it is
(``sha256``, ``size_bytes``, ``row_counts``) and how it was made (``sanitized``, the policy version).
Every restore is a SnapshotRestore row: together they are the snapshot's lineage.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from microstax.lib.ids import PublicIdModel


class SnapshotState(models.TextChoices):
    PENDING = "pending", "Pending"
    CAPTURING = "capturing", "Capturing"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    DELETED = "deleted", "Deleted"


class RestoreState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class SanitizationPolicy(PublicIdModel):
    """One version of a team's named sanitization policy. Versions are immutable.

    ``source`` is the YAML the agent reads (DESIGN §2); publishing the same content again returns
    the existing version, a changed one becomes the next version.
    """

    PUBLIC_ID_PREFIX = "pol"

    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="sanitization_policies")
    name = models.SlugField(max_length=63)
    version = models.PositiveIntegerField()
    source = models.TextField(help_text="The policy YAML")
    content_hash = models.CharField(max_length=64)
    strict = models.BooleanField(default=False)
    keep_unsanitized = models.BooleanField(
        default=False, help_text="Also keep the raw artifact, readable by the team's owners only"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["team", "name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name", "version"], name="unique_policy_version"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class SnapshotQuerySet(models.QuerySet):
    def live(self) -> SnapshotQuerySet:
        return self.exclude(state=SnapshotState.DELETED)


class Snapshot(PublicIdModel):
    """A captured (and, unless the policy keeps it raw, sanitized) copy of one service's database."""

    PUBLIC_ID_PREFIX = "snap"

    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="snapshots")
    environment = models.ForeignKey(
        "environments.Environment", on_delete=models.PROTECT, related_name="snapshots", help_text="Source"
    )
    service = models.CharField(max_length=63)
    engine = models.CharField(max_length=20, default="postgres")
    state = models.CharField(max_length=20, choices=SnapshotState.choices, default=SnapshotState.PENDING, db_index=True)
    state_reason = models.CharField(max_length=500, blank=True)
    policy = models.ForeignKey(
        SanitizationPolicy, null=True, blank=True, on_delete=models.PROTECT, related_name="snapshots"
    )
    policy_name = models.CharField(max_length=63, blank=True)
    policy_version = models.CharField(max_length=80, blank=True, help_text="As recorded in the artifact")
    sanitized = models.BooleanField(default=True)
    storage_backend = models.CharField(max_length=20, blank=True)
    storage_key = models.CharField(max_length=300, blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    row_counts = models.JSONField(default=dict, blank=True)
    upload_token_hash = models.CharField(max_length=64, blank=True, editable=False)
    upload_token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    operation = models.ForeignKey(
        "environments.Operation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    completed_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    objects = SnapshotQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["team", "state"], name="snapshot_team_state")]

    def __str__(self) -> str:
        return f"{self.public_id} of {self.service}"


class SnapshotRestore(models.Model):
    """One restore of a snapshot into an environment's service: a line of the snapshot's lineage."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.PROTECT, related_name="restores")
    environment = models.ForeignKey("environments.Environment", on_delete=models.PROTECT, related_name="restores")
    service = models.CharField(max_length=63)
    state = models.CharField(max_length=20, choices=RestoreState.choices, default=RestoreState.PENDING)
    state_reason = models.CharField(max_length=500, blank=True)
    download_token_hash = models.CharField(max_length=64, blank=True, editable=False)
    download_token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    operation = models.ForeignKey(
        "environments.Operation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.snapshot.public_id} → {self.environment.public_id}/{self.service}"


class SnapshotShare(models.Model):
    """A sanitized snapshot shared by its team's maintainers with another team, which then sees it
    and may restore it into its own environments (DESIGN §6: only sanitized snapshots leave their
    team). Removing the row withdraws the share; past restores stay in the lineage."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="shares")
    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="shared_snapshots")
    shared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["snapshot", "team"]
        constraints = [models.UniqueConstraint(fields=["snapshot", "team"], name="unique_snapshot_share")]
        indexes = [models.Index(fields=["team", "snapshot"], name="snapshot_share_team")]

    def __str__(self) -> str:
        return f"{self.snapshot.public_id} → {self.team.slug}"
