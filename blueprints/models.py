"""Blueprints and their immutable versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from microstax.lib.ids import PublicIdModel


class Blueprint(PublicIdModel):
    """A team's named blueprint; its content lives in immutable versions."""

    PUBLIC_ID_PREFIX = "bp"

    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, related_name="blueprints")
    name = models.CharField(max_length=63)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["team", "name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="unique_blueprint_name_per_team")]

    def __str__(self) -> str:
        return f"{self.team.slug}/{self.name}"


class BlueprintVersionQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ValueError("blueprint versions are immutable")


class BlueprintVersion(PublicIdModel):
    """One immutable version: the YAML as submitted, its normalized spec and that spec's sha256.

    The hash of the normalized spec is the version's identity: submitting content that normalizes
    identically returns the existing version instead of creating a new one.
    """

    PUBLIC_ID_PREFIX = "bpv"

    blueprint = models.ForeignKey(Blueprint, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    source = models.TextField(help_text="The YAML exactly as submitted")
    normalized = models.JSONField(help_text="The canonical normalized spec")
    content_hash = models.CharField(max_length=64, help_text="sha256 of the canonical normalized spec")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = BlueprintVersionQuerySet.as_manager()

    class Meta:
        ordering = ["blueprint", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["blueprint", "number"], name="unique_blueprint_version_number"),
            models.UniqueConstraint(fields=["blueprint", "content_hash"], name="unique_blueprint_version_content"),
        ]

    def __str__(self) -> str:
        return f"{self.blueprint} v{self.number}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("blueprint versions are immutable; publish a new version instead")
        super().save(*args, **kwargs)
