"""The append-only, hash-chained audit trail."""

from __future__ import annotations

import hashlib
import json

from django.conf import settings
from django.db import models
from django.utils import timezone

from audit.choices import ActorKind, Outcome

GENESIS_HASH = "0" * 64


class AppendOnlyError(Exception):
    """Raised on any attempt to change or delete an audit event."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("audit events cannot be updated")

    def delete(self):
        raise AppendOnlyError("audit events cannot be deleted")

    _raw_delete = delete


class AuditEvent(models.Model):
    """One recorded action. Rows are immutable and chained: ``hash = sha256(prev_hash + canonical)``
    and ``signature = Ed25519(signing key, hash)`` with the key named by ``key_id``, so editing,
    deleting or reordering rows is detected by ``manage.py audit_verify``. ``sequence`` is assigned
    from the locked chain head, so it has no gaps: a missing number is a deleted row.

    Foreign keys use PROTECT: a user or team that appears in the trail cannot be hard-deleted
    (deactivate instead), because the trail must keep pointing at them.
    """

    sequence = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor_name = models.CharField(max_length=150)
    actor_kind = models.CharField(max_length=20, choices=ActorKind.choices)
    token_name = models.CharField(max_length=100, blank=True)
    team = models.ForeignKey("teams.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="audit_events")
    team_slug = models.CharField(max_length=50, blank=True)
    action = models.CharField(max_length=80, db_index=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.SUCCESS)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=80, blank=True, db_index=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    reason = models.TextField(blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, unique=True, editable=False)
    key_id = models.CharField(max_length=16, default="", editable=False, help_text="The signing key (audit.signing)")
    signature = models.CharField(max_length=128, editable=False, help_text="Ed25519 over the hash, hex")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["sequence"]
        permissions = [("view_all_events", "Can read every audit event (compliance reviewer)")]
        indexes = [models.Index(fields=["team", "sequence"], name="audit_team_seq")]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action} by {self.actor_name}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit events cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit events cannot be deleted")

    def canonical(self) -> bytes:
        """The event's content, serialised deterministically; what the hash covers."""
        data = {
            "created_at": self.created_at.isoformat(timespec="microseconds"),
            "actor_id": self.actor_id,
            "actor_name": self.actor_name,
            "actor_kind": self.actor_kind,
            "token_name": self.token_name,
            "team_id": self.team_id,
            "team_slug": self.team_slug,
            "action": self.action,
            "outcome": self.outcome,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "request_id": self.request_id,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "reason": self.reason,
            "before": self.before,
            "after": self.after,
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()

    def compute_hash(self) -> str:
        return hashlib.sha256(self.prev_hash.encode() + self.canonical()).hexdigest()

    def signed_message(self) -> bytes:
        """What the signature covers: the hash, which covers the content and the link."""
        return self.hash.encode()


class CheckpointKind(models.TextChoices):
    DAILY = "daily", "Daily"
    PRUNE = "prune", "Pruned prefix"


class AuditCheckpoint(models.Model):
    """A signed statement that the chain, up to event ``last_sequence``, ended in ``head_hash`` and
    held ``count`` events since the previous checkpoint (``first_sequence`` … ``last_sequence``).

    Daily checkpoints pin each day's end, so a verifier can start from one instead of the genesis;
    a *prune* checkpoint covers the prefix that ``audit_prune`` exported and deleted, and is where
    verification of what remains starts. Checkpoints are as immutable as events.
    """

    kind = models.CharField(max_length=10, choices=CheckpointKind.choices, default=CheckpointKind.DAILY)
    day = models.DateField(help_text="The UTC day it closes (daily), or the prune cut-off date")
    first_sequence = models.BigIntegerField()
    last_sequence = models.BigIntegerField(db_index=True)
    head_hash = models.CharField(max_length=64)
    count = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    key_id = models.CharField(max_length=16)
    signature = models.CharField(max_length=128)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["last_sequence", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["day"], condition=models.Q(kind="daily"), name="audit_one_daily_checkpoint_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} checkpoint {self.day} at #{self.last_sequence}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("audit checkpoints cannot be updated")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("audit checkpoints cannot be deleted")

    def signed_message(self) -> bytes:
        data = {
            "kind": self.kind,
            "day": self.day.isoformat(),
            "first_sequence": self.first_sequence,
            "last_sequence": self.last_sequence,
            "head_hash": self.head_hash,
            "count": self.count,
            "created_at": self.created_at.isoformat(timespec="microseconds"),
            "key_id": self.key_id,
        }
        return b"microstax-audit-checkpoint:" + json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


class AuditChainHead(models.Model):
    """A single row locked while appending, so concurrent writers extend the chain one at a time."""

    last_hash = models.CharField(max_length=64, default=GENESIS_HASH)
    last_sequence = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"chain head at #{self.last_sequence}"
